"""Detection quality of the project's alert rules over a simulated month: detection time, misses, false
alarms, reset time — judged the way the SRE workbook judges alerting, with real Prometheus tooling.

    python bench/alert_quality.py                      # the full month: 5 models x 2 regions x 30 days
    python bench/alert_quality.py --days 2 --quick     # a small run (what `make test` asserts on)

Prints a Markdown table and writes JSON next to it (--out). Random-seeded and reproducible (--seed).
The noise model and its parameters are in bench/alertsim/model.py and are flags here.
"""

from __future__ import annotations

import argparse
import collections
import asyncio
import dataclasses
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: the repository root, for bench.*

from bench.alertsim.evaluate import BlockFiles, Firing, Routing, backfill, evaluate, load_rules, notify  # noqa: E402
from bench.alertsim.model import Incident, Params, incident_plan, scrape_times, series_lines, simulate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z: the simulated month starts here
GRACE = 600.0  # a notification up to 10 minutes after an incident ends still belongs to it
SELF_ALERTS = {"HealthboardExporterDown", "HealthboardProbesStalled", "HealthboardConfigReloadFailed",
               "HealthboardSchedulerLagHigh", "HealthboardSinkWriteErrors"}


def write_openmetrics(params: Params, incidents: list[Incident], folder: Path) -> tuple[int, list[Path], dict[str, int]]:
    lines = 0
    probes = {"scheduled": 0, "recheck": 0}
    out = BlockFiles(folder, EPOCH)
    for region_index, region in enumerate(params.regions):
        instance = f"exporter-{region}:9464"
        times = scrape_times(params, region_index)
        down = [(i.start, i.end) for i in incidents if i.kind == "exporter_down" and i.region == region]
        for target in params.targets:
            run = simulate(params, target, region, incidents, random.Random(f"{params.seed}/{target.key}/{region}"))
            for probe in run.probes:
                probes["scheduled" if probe.scheduled else "recheck"] += 1
            for _, family in series_lines(params, run, times, down, instance):
                out.write("\n".join(_shift(line) for line in family))
                lines += len(family)
            out.flush()
        up = [f'up{{job="llm-healthboard",instance="{instance}",region="{region}"}} {0 if any(a <= s < b for a, b in down) else 1} {EPOCH + s:.3f}' for s in times]
        start = [f'healthboard_start_time_seconds{{job="llm-healthboard",instance="{instance}"}} {EPOCH - 3600:.0f} {EPOCH + s:.3f}'
                 for s in times if not any(a <= s < b for a, b in down)]
        out.write("\n".join(up + start) + "\n")
        lines += len(up) + len(start)
    # official status (the status poller, in the first region's exporter): operational, except that the
    # provider acknowledges hard outages 5 minutes in; the status_mismatch incident stays "operational"
    times = scrape_times(params, 0)
    for provider in sorted({t.provider for t in params.targets}):
        acknowledged = [(i.start + 300, i.end) for i in incidents if i.provider == provider and i.kind in ("hard_outage", "region_down")]
        rows = [f'llm_provider_official_status{{job="llm-healthboard",instance="exporter-{params.regions[0]}:9464",provider="{provider}",component="API"}} '
                f'{3 if any(a <= s < b for a, b in acknowledged) else 0} {EPOCH + s:.3f}' for s in times]
        out.write("\n".join(rows) + "\n")
        lines += len(rows)
    return lines, out.close(), probes


def _shift(line: str) -> str:
    body, ts = line.rsplit(" ", 1)
    if body.startswith("llm_probe_last_run_timestamp_seconds"):
        name, value = body.rsplit(" ", 1)
        body = f"{name} {EPOCH + float(value) if float(value) else 0:.3f}"
    return f"{body} {EPOCH + float(ts):.3f}"


def belongs(firing: Firing, incident: Incident) -> bool:
    labels = firing.labels
    if not (incident.start + EPOCH <= firing.start <= incident.end + EPOCH + GRACE):
        return False
    if incident.kind == "exporter_down":
        return labels.get("region") == incident.region or firing.alert in SELF_ALERTS
    if labels.get("provider") and labels["provider"] != incident.provider:
        return False
    if labels.get("model") and incident.model and labels["model"] != incident.model:
        return False
    if labels.get("region") and incident.region and labels["region"] != incident.region:
        return False
    return bool(labels.get("provider"))


def judge(params: Params, incidents: list[Incident], firings: list[Firing]) -> dict:
    notified = [f for f in firings if f.notified is not None]
    rows, attributed = [], set()
    for incident in incidents:
        mine = [f for f in notified if belongs(f, incident)]
        attributed |= {id(f) for f in mine}
        expected = set(incident.expect[0].split("|"))
        hits = sorted((f for f in mine if f.alert in expected), key=lambda f: f.notified or 0)
        pages = [f for f in mine if f.receiver == "oncall"]
        wrong = sorted({f.alert for f in mine if f.alert not in expected})
        related = [f for f in firings if belongs(f, incident)]
        reset = max((f.end for f in related), default=None)
        rows.append({
            "kind": incident.kind, "target": f"{incident.provider}/{incident.model or '*'}" + (f"@{incident.region}" if incident.region else ""),
            "start": incident.start, "minutes": (incident.end - incident.start) / 60,
            "detected": bool(hits), "by": hits[0].alert if hits else None, "receiver": hits[0].receiver if hits else None,
            "detection_s": (hits[0].notified - EPOCH - incident.start) if hits else None,
            # the detecting alert's last firing for this incident resolves (it may flap during low-rate incidents)
            "reset_s": (max(f.end for f in mine if f.alert == hits[0].alert) - EPOCH - incident.end) if hits else None,
            "all_clear_s": (reset - EPOCH - incident.end) if reset is not None else None,  # every related alert resolved
            "other_alerts": wrong, "paged": bool(pages),
            # more than one page for one incident: a flap inside it, or a re-page on its tail after it ended
            "pages": len(pages),
            "firings": [{"alert": f.alert, "from_start_s": round(f.start - EPOCH - incident.start), "to_end_s": round(f.end - EPOCH - incident.end),
                         "notified": f.notified is not None} for f in related],
        })
    false_alarms: dict[str, int] = {}
    details = []
    for f in notified:
        if id(f) not in attributed:
            false_alarms[f.alert] = false_alarms.get(f.alert, 0) + 1
            details.append({"alert": f.alert, "labels": f.labels, "at_s": f.start - EPOCH, "for_s": f.end - f.start, "receiver": f.receiver})
    return {"incidents": rows, "false_alarms": false_alarms, "false_alarm_details": details}


def summarise(kind_rows: list[dict]) -> tuple[str, str]:
    times = [r["detection_s"] for r in kind_rows if r["detection_s"] is not None]
    if not times:
        return "missed", "-"
    return f"{statistics.median(times):.0f}", f"{max(times):.0f}"


def report(params: Params, result: dict, timings: dict, cost: float | None) -> str:
    out = [f"### Alert quality: {len(params.targets)} models x {len(params.regions)} regions, {params.days:g} days, seed {params.seed}", ""]
    out.append("| incident | n | detected | by (first notification) | receiver | detection median s | worst s | reset s | all clear s | extra pages | other alerts |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|")
    kinds: dict[str, list[dict]] = {}
    for row in result["incidents"]:
        kinds.setdefault(row["kind"], []).append(row)
    for kind, rows in kinds.items():
        median, worst = summarise(rows)
        resets = [r["reset_s"] for r in rows if r["reset_s"] is not None]
        clears = [r["all_clear_s"] for r in rows if r["all_clear_s"] is not None]
        clear = f"{statistics.median(clears):.0f}" if clears else "-"
        by = ", ".join(sorted({r["by"] for r in rows if r["by"]})) or "-"
        receivers = ", ".join(sorted({r["receiver"] for r in rows if r["receiver"]})) or "-"
        others = ", ".join(sorted({a for r in rows for a in r["other_alerts"]})) or "-"
        reset = f"{statistics.median(resets):.0f}" if resets else "-"
        extra = sum(max(0, r["pages"] - 1) for r in rows)
        out.append(f"| {kind} | {len(rows)} | {sum(r['detected'] for r in rows)}/{len(rows)} | {by} | {receivers} | {median} | {worst} | "
                   f"{reset} | {clear} | {extra} | {others} |")
    out.append("")
    scale = 30 / params.days
    pages = sorted(d["alert"] for d in result["false_alarm_details"] if d["receiver"] == "oncall")
    others = sorted(d["alert"] for d in result["false_alarm_details"] if d["receiver"] != "oncall")
    out.append(f"False pages over the baseline noise: **{len(pages)}** in {params.days:g} days ({len(pages) * scale:.1f} per 30 days)"
               + (": " + ", ".join(pages) if pages else ""))
    out.append(f"Other false alerts (Slack or ticket): {len(others)} ({len(others) * scale:.1f} per 30 days)" + (": " + ", ".join(others) if others else ""))
    out.append(f"Extra probes from adaptive sampling: +{result['extra_probe_share']:.0%} of scheduled probes")
    if cost is not None:
        out.append(f"Monthly probe cost of the default three targets at 30 s (exporter price table): ${cost:.2f}")
    out.append(f"Timings: generate {timings['generate']:.0f}s, backfill {timings['backfill']:.0f}s, evaluate {timings['evaluate']:.0f}s "
               f"({timings['samples'] / 1e6:.1f} M samples)")
    return "\n".join(out)


def default_cost() -> float:
    from healthboard.config import parse_config
    from healthboard.app.run import packaged
    from healthboard.plan import build_plan

    env = {"OPENAI_API_KEY": "x" * 10, "ANTHROPIC_API_KEY": "x" * 10, "GEMINI_API_KEY": "x" * 10}
    return build_plan(parse_config(packaged("default.yml"), "default", env), env).monthly_cost_usd


async def run(params: Params, quick: bool, out: Path | None, workdir: Path, rules_dir: Path | None = None,
              with_incidents: bool = True) -> dict:
    rng = random.Random(params.seed)
    incidents = incident_plan(params, rng, full=not quick) if with_incidents else []
    started = time.monotonic()
    samples, files, probes = write_openmetrics(params, incidents, workdir / "openmetrics")
    timings = {"generate": time.monotonic() - started, "samples": samples}
    tsdb = workdir / "tsdb"
    timings["backfill"] = backfill(files, tsdb)
    rules, passes = load_rules(rules_dir or ROOT / "prometheus" / "rules", 15.0)
    firings, timings["evaluate"] = await evaluate(tsdb, rules, EPOCH, EPOCH + params.seconds, workdir, passes)
    notify(firings, Routing(ROOT / "alertmanager" / "alertmanager.yml"))
    result = judge(params, incidents, firings)
    result["extra_probe_share"] = probes["recheck"] / max(1, probes["scheduled"])
    result["params"] = {k: v if not isinstance(v, tuple) else [str(x) for x in v] for k, v in dataclasses.asdict(params).items()}
    result["timings"] = timings
    result["monthly_cost_usd"] = default_cost()
    result["report"] = report(params, result, timings, result["monthly_cost_usd"])
    if out:
        out.write_text(json.dumps(result, indent=2, default=str))
    return result


def parse_args(argv: list[str] | None = None) -> tuple[Params, bool, Path | None]:
    params, quick, out, _, _ = parse_all(argv)
    return params, quick, out


NOISE_FLAGS = ("interval", "recheck", "timeout", "scrape", "noise_fail", "blips_per_day", "latency_median", "latency_sigma",
               "slow_share", "bursts_per_day", "burst_ratio", "ratelimit_per_day", "diurnal", "tail_minutes", "tail_ratio")


def parse_all(argv: list[str] | None = None) -> tuple[Params, bool, Path | None, Path | None, list[float]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = Params()
    parser.add_argument("--days", type=float, default=defaults.days)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--quick", action="store_true", help="fewer targets and incidents (the make test run)")
    parser.add_argument("--regions", default=",".join(defaults.regions), help="comma-separated exporter regions (one: a single-region deployment)")
    parser.add_argument("--noise-levels", default="",
                        help="comma-separated background failure rates: instead of the incident run, one month of noise only at each, "
                             "and a table of false pages per 30 days")
    for field in NOISE_FLAGS:
        parser.add_argument("--" + field.replace("_", "-"), type=float, default=getattr(defaults, field))
    parser.add_argument("--partials", type=int, default=defaults.partials,
                        help="repeat the 50 %% and 30 %% partial incidents this many times (detection times with more than two samples)")
    parser.add_argument("--hards", type=int, default=defaults.hards, help="repeat the hard outages this many times")
    parser.add_argument("--latencies", type=int, default=defaults.latencies, help="repeat the latency incidents this many times")
    parser.add_argument("--out", type=Path, default=Path("bench/out/alert_quality.json"))
    parser.add_argument("--rules", type=Path, help="rules folder to judge instead of prometheus/rules (trade-off runs)")
    args = parser.parse_args(argv)
    params = Params(days=args.days, seed=args.seed, regions=tuple(r for r in args.regions.split(",") if r),
                    partials=args.partials, hards=args.hards, latencies=args.latencies, **{f: getattr(args, f) for f in NOISE_FLAGS})
    if args.quick:
        params.targets = params.targets[:3]
    levels = [float(x) for x in args.noise_levels.split(",") if x]
    return params, args.quick, args.out, args.rules, levels


def _counted(alerts: Iterable[str]) -> str:
    counts = collections.Counter(alerts)
    return " (" + ", ".join(f"{name} {n}" for name, n in sorted(counts.items())) + ")" if counts else ""


def sweep(params: Params, levels: list[float], rules: Path | None, out: Path | None) -> str:
    """A month of noise only at each background failure rate: false pages and other false alerts per 30 days."""
    rows = ["| background failures | false pages / 30 days | other false alerts / 30 days | extra probes (adaptive) |", "|---|---|---|---|"]
    results = {}
    for level in levels:
        with tempfile.TemporaryDirectory(prefix="alert-quality-") as tmp:
            result = asyncio.run(run(dataclasses.replace(params, noise_fail=level), False, None, Path(tmp), rules, with_incidents=False))
        scale = 30 / params.days
        pages = [d for d in result["false_alarm_details"] if d["receiver"] == "oncall"]
        others = sorted(d["alert"] for d in result["false_alarm_details"] if d["receiver"] != "oncall")
        rows.append(f"| {level:.1%} | {len(pages) * scale:.1f}{_counted(p['alert'] for p in pages)} | {len(others) * scale:.1f}{_counted(others)}"
                    f" | +{result['extra_probe_share']:.0%} |")
        results[level] = result
        print(rows[-1], flush=True)
    if out:
        out.write_text(json.dumps({str(k): v for k, v in results.items()}, indent=2, default=str))
    targets = len(params.targets) * len(params.regions)
    return (f"### False pages over noise: {targets} targets ({len(params.targets)} models x {len(params.regions)} regions), "
            f"{params.days:g} days each, seed {params.seed}\n\n" + "\n".join(rows))


def main(argv: list[str] | None = None) -> int:
    params, quick, out, rules, levels = parse_all(argv)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
    if levels:
        print(sweep(params, levels, rules, out))
        return 0
    with tempfile.TemporaryDirectory(prefix="alert-quality-") as tmp:
        result = asyncio.run(run(params, quick, out, Path(tmp), rules))
    print(result["report"])
    if out:
        print(f"\n(JSON: {out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
