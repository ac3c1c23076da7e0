"""Judging the project's real rule files on the simulated month with real Prometheus tooling:
`promtool tsdb create-blocks-from openmetrics` backfills the series, a real `prometheus` serves them, and
each alert expression is evaluated as a range query at its group's evaluation interval. Recording rules are
inlined into the alert expressions (textually, as `(expr)`), which gives the same value at the same
timestamp as the recorded series. `for:` is applied exactly; the notification time adds the `group_wait`
of the route the alert takes in alertmanager/alertmanager.yml, and inhibition rules are applied."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import re
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from healthboard.durations import parse_duration
from healthboard.demo.stack import Binary, find_binary, free_port

MAX_POINTS = 10_000


@dataclasses.dataclass
class AlertRule:
    name: str
    expr: str
    for_: float
    step: float
    labels: dict[str, str]
    keep: float = 0.0  # keep_firing_for
    stay: str | None = None  # hysteresis: keeps it firing (the `X and on (...) ALERTS{itself, firing}` term)
    quiet: str | None = None  # starts it only if it has not fired within quiet_for (the `X unless ... [D]` term)
    quiet_for: float = 0.0
    needs: frozenset[str] = frozenset()  # alerts whose ALERTS series this expression reads


#: Self-references the bench evaluates exactly, as terms of a top-level `or` (hysteresis on the alert's own
#: ALERTS series, as Prometheus documents it): `X unless on (...) max_over_time(ALERTS{<itself>, firing}[D])`
#: (X may start the alert only if it has not fired within D), and `X and on (...) ALERTS{<itself>, firing}`
#: (X keeps it firing). Other terms start it whenever they hold.
QUIET = re.compile(r'^(?P<expr>.+?)\s+unless\s+on\s*\([^)]*\)\s*max_over_time\(ALERTS\{alertname="(?P<name>\w+)",\s*alertstate="firing"\}\[(?P<window>\w+)\]\)$', re.DOTALL)
STAY = re.compile(r'^(?P<expr>.+?)\s+and\s+on\s*\([^)]*\)\s*ALERTS\{alertname="(?P<name>\w+)",\s*alertstate="firing"\}$', re.DOTALL)


def top_level_terms(expr: str) -> list[str]:
    """The operands of a top-level `or` chain, outer parentheses removed."""
    terms, depth, start, i = [], 0, 0, 0
    while i < len(expr):
        c = expr[i]
        depth += c in "([{"
        depth -= c in ")]}"
        if depth == 0 and re.match(r"\sor\s", expr[i:i + 4]):
            terms.append(expr[start:i])
            start = i + 4
            i += 4
            continue
        i += 1
    terms.append(expr[start:])
    out = []
    for term in (t.strip() for t in terms):
        while term.startswith("(") and term.endswith(")") and _balanced(term[1:-1]):
            term = term[1:-1].strip()
        out.append(term)
    return out


def _balanced(text: str) -> bool:
    depth = 0
    for c in text:
        depth += c in "([{"
        depth -= c in ")]}"
        if depth < 0:
            return False
    return depth == 0


ALERTS_OF = re.compile(r'ALERTS\{alertname="(\w+)"')


@dataclasses.dataclass
class Firing:
    alert: str
    labels: dict[str, str]
    start: float  # when it fired (after for:)
    end: float  # when it resolved
    notified: float | None = None  # start + group_wait, unless inhibited
    inhibited: bool = False
    receiver: str = ""


@dataclasses.dataclass
class Recording:
    name: str
    expr: str  # with every recorded name it reads inlined, except materialised ones
    step: float


#: Recording rules evaluated once over the whole period and written back as series, instead of being inlined:
#: the detector's baselines read a day of samples (hourly rates, then a quantile of them), and inlined into an alert evaluated every 2 s they would be
#: re-read at every step. Their real evaluation interval is kept, except the baselines' 5 minutes, recorded
#: every 4 so that Prometheus's 5-minute lookback never misses a sample.
MATERIALISE = {
    "target:llm_probe_evidence_failures:ratio_1h": 240.0, "target:llm_probe_slow:ratio_1h": 240.0,
    "target:llm_probe_evidence_baseline:ratio": 240.0, "target:llm_probe_slow_baseline:ratio": 240.0,
    "target:llm_probe_evidence_p0:ratio": None, "target:llm_probe_slow_p0:ratio": None,
    "target:llm_availability_llr:partial_window": None, "target:llm_probe_evidence_failures:partial_window": None,
    "target:llm_availability_llr:stay": None,
    "target:llm_availability_llr:partial": None, "provider_model_check:llm_availability_llr:partial": None, "target:llm_availability_llr:elevated_window": None, "target:llm_probe_evidence_failures:elevated_window": None, "target:llm_availability_llr:elevated": None, "provider_model_check:llm_availability_llr:elevated": None, "target:llm_latency_llr:slow": None,
}


def load_rules(rules_dir: Path, default_interval: float) -> tuple[list[AlertRule], list[list[Recording]]]:
    """The alert rules with recorded names inlined, and the materialised recordings in passes: each pass reads only
    raw series and recordings of earlier passes."""
    recorded: dict[str, str] = {}
    steps: dict[str, float] = {}
    alerts: list[AlertRule] = []
    for path in sorted(rules_dir.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            step = parse_duration(group.get("interval", default_interval))
            for rule in group["rules"]:
                if "record" in rule:
                    if rule["record"] in recorded:  # several rules may record one name (overrides): or them
                        recorded[rule["record"]] = f"({recorded[rule['record']]}) or ({rule['expr']})"
                    else:
                        recorded[rule["record"]] = rule["expr"]
                    steps[rule["record"]] = step
                else:
                    expr, stay, quiet, quiet_for = rule["expr"].strip(), None, None, 0.0
                    if f'ALERTS{{alertname="{rule["alert"]}"' in expr:
                        plain = []
                        for term in top_level_terms(expr):
                            q, k = QUIET.match(term), STAY.match(term)
                            if q and q["name"] == rule["alert"] and quiet is None:
                                quiet, quiet_for = q["expr"], parse_duration(q["window"])
                            elif k and k["name"] == rule["alert"] and stay is None:
                                stay = k["expr"]
                            else:
                                plain.append(term)
                        expr = " or ".join(f"({t})" for t in plain) if plain else "vector(0) == 1"
                    needs = frozenset(ALERTS_OF.findall(expr))
                    if rule["alert"] in needs or any(t and ALERTS_OF.search(t) for t in (stay, quiet)):
                        raise ValueError(f"{rule['alert']}: the bench evaluates a self-reference only as terms of a top-level "
                                         f"`or`: {QUIET.pattern} or {STAY.pattern}")
                    alerts.append(AlertRule(rule["alert"], expr, parse_duration(rule.get("for", 0)), step, rule.get("labels", {}),
                                            parse_duration(rule.get("keep_firing_for", 0)), stay, quiet, quiet_for, needs))
    materialised = {n for n in MATERIALISE if n in recorded}
    names = sorted(recorded, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w:])(" + "|".join(re.escape(n) for n in names) + r")(?![\w:])(\[\w+\])?")

    def inline(m: re.Match[str]) -> str:
        if m.group(1) in materialised:
            return m.group(0)
        # a range over a recorded series becomes a subquery at the default evaluation interval
        return f"({recorded[m.group(1)]})" + (f"[{m.group(2)[1:-1]}:{int(default_interval)}s]" if m.group(2) else "")

    def expand(expr: str) -> str:
        for _ in range(10):
            expanded = pattern.sub(inline, expr)
            if expanded == expr:
                break
            expr = expanded
        return expr

    for alert in alerts:
        alert.expr = expand(alert.expr)
        alert.stay = expand(alert.stay) if alert.stay else None
        alert.quiet = expand(alert.quiet) if alert.quiet else None
    recordings = {n: Recording(n, expand(recorded[n]), MATERIALISE[n] or steps[n]) for n in materialised}
    passes: list[list[Recording]] = []
    done: set[str] = set()
    while len(done) < len(recordings):
        ready = [r for n, r in recordings.items() if n not in done
                 and not any(re.search(rf"(?<![\w:]){re.escape(m)}(?![\w:])", r.expr) for m in materialised - done - {n})]
        if not ready:
            raise ValueError("materialised recording rules depend on each other in a cycle")
        passes.append(sorted(ready, key=lambda r: r.name))
        done |= {r.name for r in ready}
    return alerts, passes


BLOCK = 7200.0  # promtool's block duration; one input file per block keeps its backfill linear


class BlockFiles:
    """OpenMetrics input split by 2-hour block (promtool re-parses its whole input once per block)."""

    def __init__(self, folder: Path, epoch: float) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.epoch = epoch
        self.buckets: dict[int, list[str]] = {}

    def write(self, text: str) -> None:
        for line in text.splitlines():
            if line:
                self.buckets.setdefault(int((float(line.rsplit(" ", 1)[1]) - self.epoch) // BLOCK), []).append(line)

    def flush(self) -> None:
        for k, lines in self.buckets.items():
            with (self.folder / f"block-{k:05d}.om").open("a") as out:
                out.write("\n".join(lines) + "\n")
        self.buckets.clear()

    def close(self) -> list[Path]:
        self.flush()
        files = sorted(self.folder.glob("block-*.om"))
        for path in files:
            with path.open("a") as out:
                out.write("# EOF\n")
        return files


def backfill(files: list[Path], tsdb: Path) -> float:
    """promtool tsdb create-blocks-from openmetrics, one input file per 2-hour block, two at a time."""
    from concurrent.futures import ThreadPoolExecutor

    started = time.monotonic()
    promtool = find_binary(("promtool",))
    if promtool is None:
        raise FileNotFoundError("promtool is needed: apt-get install prometheus")

    def one(path: Path) -> None:
        result = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", "-q", str(path), str(tsdb)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"backfill of {path.name} failed: {result.stderr[-2000:]}")
        path.unlink()

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(one, files))
    return time.monotonic() - started


async def query_range(session: aiohttp.ClientSession, url: str, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    chunk = MAX_POINTS * step
    t = start
    while t < end:
        stop = min(end, t + chunk - step)
        async with session.post(url + "/api/v1/query_range", data={"query": expr, "start": t, "end": stop, "step": step}) as response:
            body = await response.json()
        if body.get("status") != "success":
            raise RuntimeError(f"query failed: {body.get('error')} for {expr[:200]}")
        for series in body["data"]["result"]:
            key = json.dumps(series["metric"], sort_keys=True)
            entry = out.setdefault(key, {"metric": series["metric"], "times": [], "values": []})
            entry["times"] += [float(ts) for ts, _ in series["values"]]
            entry["values"] += [value for _, value in series["values"]]
        t = stop + step
    return list(out.values())


def firings(rule: AlertRule, series: list[dict[str, Any]]) -> list[Firing]:
    """Apply for: and keep_firing_for exactly on the evaluation timeline of each label set: a run of true
    evaluations fires once it has lasted ``for``; a firing alert stays firing through gaps shorter than
    ``keep`` (a pending one does not) and resolves ``keep`` after its last true evaluation."""
    out = []
    gap = rule.step * 1.01
    for s in series:
        labels = {**{k: v for k, v in s["metric"].items() if k != "__name__"}, **rule.labels}
        runs: list[list[float]] = []  # [start, last] of each run of consecutive true evaluations
        for t in sorted(s["times"]):
            if runs and t - runs[-1][1] <= gap:
                runs[-1][1] = t
            else:
                runs.append([t, t])
        firing: Firing | None = None
        for start, last in runs:
            if firing is not None and start <= firing.end:  # true again before keep_firing_for ran out
                firing.end = last + rule.step + rule.keep
                continue
            if start + rule.for_ <= last:
                firing = Firing(rule.name, labels, start + rule.for_, last + rule.step + rule.keep)
                out.append(firing)
            else:
                firing = None
    return out


def hysteresis_firings(rule: AlertRule, on: list[dict[str, Any]], quiet: list[dict[str, Any]], stay: list[dict[str, Any]]) -> list[Firing]:
    """The alert on the evaluation timeline of each label set, evaluation by evaluation, as Prometheus would with
    its own ALERTS series: it starts when ``on`` holds, or ``quiet`` holds and it has not fired within
    ``quiet_for``; while firing, ``on`` or ``stay`` keeps it (the quiet term is empty then: it has fired
    within ``quiet_for``); it resolves keep_firing_for after the last such evaluation. (``for`` is taken as 0: the form is for alerts that fire at once.)"""
    def label_key(metric: dict[str, str]) -> str:
        return json.dumps({k: v for k, v in metric.items() if k != "__name__"}, sort_keys=True)

    def times_by_key(series: list[dict[str, Any]]) -> dict[str, set[float]]:
        out: dict[str, set[float]] = {}
        for s in series:
            out.setdefault(label_key(s["metric"]), set()).update(s["times"])
        return out

    on_t, quiet_t, stay_t = times_by_key(on), times_by_key(quiet), times_by_key(stay)
    out: list[Firing] = []
    for key in sorted(set(on_t) | set(quiet_t)):
        labels = {**json.loads(key), **rule.labels}
        starts, quiets, stays = on_t.get(key, set()), quiet_t.get(key, set()), stay_t.get(key, set())
        firing: Firing | None = None
        last_end = float("-inf")  # when the previous firing of this label set ended
        for t in sorted(starts | quiets | stays):
            active = firing is not None and t <= firing.end
            if not active and firing is not None:
                last_end, firing = firing.end, None
            holds = t in starts or (t in quiets and t - last_end > rule.quiet_for and not active)
            if active and (t in starts or t in stays):  # the quiet term is empty while it fires (it fired recently)
                firing.end = t + rule.step + rule.keep  # type: ignore[union-attr]
            elif holds:
                firing = Firing(rule.name, labels, t, t + rule.step + rule.keep)
                out.append(firing)
    return out


def alerts_series(firings_of: list[Firing], step: float, start: float, lookback: float = 300.0) -> str:
    """The ALERTS series Prometheus writes for these firings (1 at every evaluation while firing), as OpenMetrics.
    Prometheus marks the series stale when the alert resolves; a backfill can't write staleness markers, so 0 is
    written for the lookback period after each firing instead (the rules compare ALERTS with `== 1`)."""
    lines = []
    by_labels: dict[str, list[Firing]] = {}
    for firing in firings_of:
        labels = {**firing.labels, "alertname": firing.alert, "alertstate": "firing"}
        by_labels.setdefault("ALERTS{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}", []).append(firing)
    for head, group in by_labels.items():
        group.sort(key=lambda f: f.start)
        for i, firing in enumerate(group):
            k = math.ceil((firing.start - start) / step)
            while start + k * step < firing.end:
                lines.append(f"{head} 1 {start + k * step:.3f}")
                k += 1
            stale_until = min(firing.end + lookback, group[i + 1].start if i + 1 < len(group) else float("inf"))
            while start + k * step < stale_until:
                lines.append(f"{head} 0 {start + k * step:.3f}")
                k += 1
    return "\n".join(lines)


class Routing:
    """The parts of alertmanager.yml that decide when and whether a firing alert notifies."""

    def __init__(self, path: Path) -> None:
        self.config = yaml.safe_load(path.read_text())

    @staticmethod
    def _matches(matchers: Iterable[str], labels: dict[str, str]) -> bool:
        for matcher in matchers:
            m = re.match(r'(\w+)\s*(=~|!~|!=|=)\s*"?(.*?)"?$', matcher)
            assert m, matcher
            name, op, value = m.groups()
            actual = labels.get(name, "")
            ok = {"=": actual == value, "!=": actual != value,
                  "=~": re.fullmatch(value, actual) is not None, "!~": re.fullmatch(value, actual) is None}[op]
            if not ok:
                return False
        return True

    def route(self, labels: dict[str, str]) -> tuple[str, float, tuple[str, ...]]:
        """(receiver, group_wait, group_by) of the first matching route, with inheritance."""
        node = self.config["route"]
        receiver, wait, group_by = node["receiver"], parse_duration(node.get("group_wait", "30s")), tuple(node.get("group_by", ()))
        while True:
            for child in node.get("routes", []):
                if self._matches(child.get("matchers", []), labels):
                    node = child
                    receiver = child.get("receiver", receiver)
                    wait = parse_duration(child["group_wait"]) if "group_wait" in child else wait
                    group_by = tuple(child.get("group_by", group_by))
                    break
            else:
                return receiver, wait, group_by

    def inhibited(self, target: Firing, active: list[Firing]) -> bool:
        for rule in self.config.get("inhibit_rules", []):
            if not self._matches(rule.get("target_matchers", []), target.labels):
                continue
            for source in active:
                if source is target or not self._matches(rule.get("source_matchers", []), source.labels):
                    continue
                if all(source.labels.get(label, "") == target.labels.get(label, "") for label in rule.get("equal", [])):
                    return True
        return False


def notify(all_firings: list[Firing], routing: Routing) -> None:
    """Set receiver, inhibition and notification time (fire + group_wait of the route) of every firing."""
    for firing in all_firings:
        firing.receiver, wait, _ = routing.route(firing.labels)
        moment = firing.start + wait
        active = [f for f in all_firings if f.start <= moment < f.end]
        firing.inhibited = routing.inhibited(firing, active)
        firing.notified = None if firing.inhibited or moment >= firing.end else moment


def _server(prometheus: str, tsdb: Path, workdir: Path) -> tuple[Binary, str]:
    port = free_port()
    config = workdir / "prometheus.yml"
    config.write_text("global: {evaluation_interval: 15s}\n")
    server = Binary(prometheus, [f"--config.file={config}", f"--storage.tsdb.path={tsdb}", f"--web.listen-address=127.0.0.1:{port}",
                                 "--storage.tsdb.retention.time=100y", "--query.max-samples=200000000", "--query.timeout=10m"],
                    f"http://127.0.0.1:{port}/-/ready", workdir / "prometheus.log")
    return server, f"http://127.0.0.1:{port}"


def _labels(metric: dict[str, str], name: str) -> str:
    pairs = ",".join(f'{k}="{v}"' for k, v in sorted(metric.items()) if k != "__name__")
    return f"{name}{{{pairs}}}"


async def record(prometheus: str, tsdb: Path, passes: list[list[Recording]], start: float, end: float, workdir: Path) -> None:
    """Evaluate each pass of recordings over the period and backfill the results, so later passes and the alerts
    read them as series (a new Prometheus per pass: it loads the new blocks at start)."""
    for number, recordings in enumerate(passes):
        server, url = _server(prometheus, tsdb, workdir)
        await server.start(timeout=120)
        files = BlockFiles(workdir / f"recorded-{number}", start)
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=900)) as session:
                for recording in recordings:
                    # merged by the labels written: like Prometheus's own recording, the name the expression's
                    # branches carried (e.g. the two sides of an `or`) is replaced by the rule's
                    merged: dict[str, dict[float, str]] = {}
                    for series in await query_range(session, url, recording.expr, start, end, recording.step):
                        merged.setdefault(_labels(series["metric"], recording.name), {}).update(zip(series["times"], series["values"]))
                    for head, points in merged.items():
                        files.write("\n".join(f"{head} {points[ts]} {ts:.3f}" for ts in sorted(points)))
                    files.flush()
        finally:
            await server.stop()
        backfill(files.close(), tsdb)


async def evaluate(tsdb: Path, rules: list[AlertRule], start: float, end: float, workdir: Path,
                   passes: list[list[Recording]] | None = None) -> tuple[list[Firing], float]:
    prometheus = find_binary(("prometheus",))
    if prometheus is None:
        raise FileNotFoundError("prometheus is needed: apt-get install prometheus")
    started = time.monotonic()
    await record(prometheus, tsdb, passes or [], start, end, workdir)
    out: list[Firing] = []
    todo = [r for r in rules if r.name != "Watchdog"]
    number = 0
    while todo:
        # alerts whose ALERTS dependencies are all known; their ALERTS series are backfilled before the next round
        known = {f.alert for f in out} | {r.name for r in rules if r not in todo}
        ready = [r for r in todo if r.needs <= known]
        if not ready:
            raise ValueError(f"alerts read each other's ALERTS in a cycle: {[r.name for r in todo]}")
        server, url = _server(prometheus, tsdb, workdir)
        await server.start(timeout=120)
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=900)) as session:
                semaphore = asyncio.Semaphore(2)

                async def one(rule: AlertRule) -> list[Firing]:
                    async with semaphore:
                        series = await query_range(session, url, rule.expr, start, end, rule.step)
                        if rule.stay is None and rule.quiet is None:
                            return firings(rule, series)
                        quiet = await query_range(session, url, rule.quiet, start, end, rule.step) if rule.quiet else []
                        stay = await query_range(session, url, rule.stay, start, end, rule.step) if rule.stay else []
                        return hysteresis_firings(rule, series, quiet, stay)

                for result in await asyncio.gather(*(one(r) for r in ready)):
                    out += result
        finally:
            await server.stop()
        todo = [r for r in todo if r not in ready]
        wanted = {name for r in todo for name in r.needs}
        if wanted:
            files = BlockFiles(workdir / f"alerts-{number}", start)
            for rule in ready:
                if rule.name in wanted:
                    files.write(alerts_series([f for f in out if f.alert == rule.name], rule.step, start))
            backfill(files.close(), tsdb)
        number += 1
    return out, time.monotonic() - started
