"""Offline replay of the 10 % test (``provider_model_check:llm_availability_llr:elevated``): how often a 10 % outage of an hour is
still undetected after 15 minutes, and how many false alerts the same test raises over noise, for variants of the
test and of the re-check policy. Seconds instead of the hour bench/alert_quality.py needs, so a variant can be
judged before the full month and noise sweep are run on it (they remain the judge: docs/ALERTING.md).

    python bench/elevated_replay.py                          # the shipped test: pooled per window, or a region alone; 5m-30m, 8 nats
    python bench/elevated_replay.py --combine min --window 600 --window 1200 --window 1800   # the test before 2026-12-03
    python bench/elevated_replay.py --hold 240               # fast re-checks held 4 minutes after a second failure

The replay has no post-incident tail and no Prometheus holdback after a page (LLMModelOutage): false alerts
right after an outage are the month's to find (bench/alert_quality.py found them; docs/ALERTING.md).

Every probe comes from bench/alertsim/model.py (the bench's noise and the exporter's scheduling), the evidence
from healthboard.evidence.Evidence; the log-likelihood ratio is computed from those counters directly, every
15 s, as the rule computes it from increase() (no Prometheus: no scrape alignment, no extrapolation). The
baseline p0 is each run's mean evidence failure rate before the incident, clamped to 2-5 % as the rule clamps it.
"""

from __future__ import annotations

import argparse
import bisect
import math
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "exporter"))

from alertsim import model  # noqa: E402
from healthboard.evidence import Evidence, Suspicion  # noqa: E402
from healthboard.record import ErrorType  # noqa: E402

Curve = tuple[list[float], list[int], list[int]]  # probe start times, evidence probes and failures after each
START, HOUR, STEP = 7200.0, 3600.0, 15.0


class HeldSuspicion(Suspicion):
    """The exporter's policy, plus: after a second suspicious outcome, the fast cadence for ``hold`` seconds after
    the latest one (the trial variant --hold judges; not the exporter's)."""

    hold = 0.0
    hold_count = 2
    hold_fast = True

    def observe(self, ts: float, suspicious: bool) -> None:
        self._times = [t for t in self._times if t > ts - max(self.window, self.hold)]
        if suspicious:
            self._times.append(ts)

    def next_recheck(self, now: float) -> float | None:
        if self.recheck <= 0 or not self._times:
            return None
        live = sum(1 for t in self._times if t > now - self.window)
        held = len(self._times) >= self.hold_count and now < self._times[-1] + self.hold
        if now >= self._times[-1] + self.window and not held:
            return None
        fast = live >= 2 or (held and self.hold_fast)
        return now + (self.fast if fast and self.fast > 0 else self.recheck)


def curve(run: model.Run) -> Curve:
    evidence, times, probes, failures = Evidence(), [], [], []
    for probe in run.probes:
        evidence.add(probe.t + probe.latency, probe.ok, ErrorType(probe.error_type) if probe.error_type else None)
        times.append(probe.t)
        probes.append(evidence.probes)
        failures.append(evidence.failures)
    return times, probes, failures


def counts(c: Curve, t: float) -> tuple[int, int]:
    i = bisect.bisect_right(c[0], t) - 1
    return (c[1][i], c[2][i]) if i >= 0 else (0, 0)


def baseline(c: Curve, until: float) -> float:
    n, f = counts(c, until)
    return min(max(f / max(n, 1), 0.02), 0.05)


def llr(c: Curve, t: float, p0: float, args: argparse.Namespace) -> float:
    a, b = math.log(args.p1 / p0), math.log((1 - p0) / (1 - args.p1))
    best = -math.inf
    n_now, f_now = counts(c, t)
    for seconds, min_failures in args.window:
        n_then, f_then = counts(c, t - seconds)
        n, f = n_now - n_then, f_now - f_then
        if f >= min_failures:
            best = max(best, f * a - (n - f) * b)
    return best


def pooled_by_window(curves: list[Curve], p0s: list[float], t: float, args: argparse.Namespace) -> float:
    """Per window: the regions' evidence added up, while every region has --region-failures failures and more than
    --floor nats of its own in that window and the regions together have the window's minimum."""
    best = -math.inf
    for seconds, min_failures in args.window:
        total_f, total, ok = 0, 0.0, True
        for c, p0 in zip(curves, p0s):
            a, b = math.log(args.p1 / p0), math.log((1 - p0) / (1 - args.p1))
            (n_now, f_now), (n_then, f_then) = counts(c, t), counts(c, t - seconds)
            n, f = n_now - n_then, f_now - f_then
            value = f * a - (n - f) * b
            ok = ok and f >= args.region_failures and value > args.floor
            total_f, total = total_f + f, total + value
        if ok and total_f >= min_failures:
            best = max(best, total)
    return best


def fires(curves: list[Curve], p0s: list[float], t: float, args: argparse.Namespace) -> bool:
    if args.combine == "pooled" and len(curves) > 1:
        return pooled_by_window(curves, p0s, t, args) > args.threshold
    values = [llr(c, t, p0, args) for c, p0 in zip(curves, p0s)]
    if args.combine == "either":  # pooled, or each region with a window's minimum passes alone
        present = [v for v in values if v > -math.inf]
        if present and min(present) > args.threshold:
            return True
        return len(curves) > 1 and pooled_by_window(curves, p0s, t, args) > args.threshold
    if args.combine == "present":  # the rule before 2026-12-03 as Prometheus ran it: regions without a window's minimum had no series
        present = [v for v in values if v > -math.inf]
        return bool(present) and min(present) > args.threshold
    if args.combine == "sum" and len(values) > 1:
        return min(values) > args.floor and sum(values) > args.threshold
    return min(values) > args.threshold


def simulate(params: model.Params, target: model.Target, incidents: list[model.Incident], seed: str) -> list[Curve]:
    return [curve(model.simulate(params, target, region, incidents, random.Random(f"{seed}/{region}"))) for region in params.regions]


def detection(args: argparse.Namespace, regions: tuple[str, ...]) -> tuple[list[float | None], float]:
    times: list[float | None] = []
    for seed in range(args.incidents):
        params = model.Params(days=(START + HOUR) / 86400, seed=seed, regions=regions, noise_fail=args.noise)
        target = params.targets[seed % len(params.targets)]
        incident = model.Incident("partial_10", target.provider, target.model, None, START, START + HOUR, ("",))
        incident.ratio = args.ratio  # type: ignore[attr-defined]  # read by model.simulate, as incident_plan sets it
        curves = simulate(params, target, [incident], f"{seed}")
        p0s = [baseline(c, START) for c in curves]
        t, found = START, None
        while t < START + HOUR:
            if fires(curves, p0s, t, args):
                found = t - START
                break
            t += STEP
        times.append(found)
    late = sum(1 for x in times if x is None or x > args.budget) / len(times)
    return times, late


def false_alerts(args: argparse.Namespace, noise: float, regions: tuple[str, ...]) -> tuple[int, float, float]:
    """Rising edges of the test over noise alone (an edge within keep_firing_for's 5 minutes of the last is the
    same alert), the target-days replayed, and the probes sent per scheduled probe."""
    params = model.Params(days=args.days, seed=args.seed, regions=regions, noise_fail=noise)
    edges, sent, scheduled = 0, 0, 0
    for target in params.targets[: args.targets]:
        runs = [model.simulate(params, target, region, [], random.Random(f"{args.seed}/{target.key}/{region}")) for region in regions]
        sent += sum(len(r.probes) for r in runs)
        scheduled += sum(sum(p.scheduled for p in r.probes) for r in runs)
        curves = [curve(r) for r in runs]
        p0s = [baseline(c, params.seconds) for c in curves]
        t, firing_until = 3600.0, -1.0
        while t < params.seconds:
            if fires(curves, p0s, t, args):
                edges += t > firing_until
                firing_until = t + 300
            t += STEP
    return edges, args.targets * args.days, sent / max(scheduled, 1) - 1


def window(text: str) -> tuple[float, int]:
    seconds, _, minimum = text.partition(":")
    return float(seconds), int(minimum or 6)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=60, help="seeded 10 %% incidents per region set")
    parser.add_argument("--ratio", type=float, default=0.10)
    parser.add_argument("--noise", type=float, default=0.015, help="background failures during the incidents")
    parser.add_argument("--budget", type=float, default=900.0, help="detection budget, seconds (the issue's 15 minutes)")
    parser.add_argument("--p1", type=float, default=0.10)
    parser.add_argument("--threshold", type=float, default=8.0)
    parser.add_argument("--window", type=window, action="append", help="SECONDS[:MIN_FAILURES], repeatable (default the rule's 300 at 5, and 600, 1200, 1800 at 6)")
    parser.add_argument("--combine", choices=("pooled", "min", "present", "either", "sum"), default="either",
                        help="regions: either (the rule): pooled, or each region with a window's minimum of failures passing alone; pooled: per window while each has --region-failures and --floor there; min: "
                             "every region passes on its own; present: every region that has a window's minimum of failures passes (the rule before 2026-12-03, as Prometheus ran it: the others had no series); sum: each region's best window added up while each is above --floor")
    parser.add_argument("--floor", type=float, default=2.0)
    parser.add_argument("--region-failures", type=int, default=2)
    parser.add_argument("--hold", type=float, default=0.0, help="trial re-check policy: fast cadence this long after a second failure")
    parser.add_argument("--hold-count", type=int, default=2, help="suspicious outcomes within --hold that start it")
    parser.add_argument("--hold-cadence", choices=("fast", "recheck"), default="fast")
    parser.add_argument("--noise-levels", default="0.015,0.03")
    parser.add_argument("--noise-region-sets", type=int, choices=(1, 2), default=2, help="1: noise replayed with one region only; 2: also with two")
    parser.add_argument("--days", type=float, default=30.0, help="noise days per target")
    parser.add_argument("--targets", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    args.window = args.window or [(300.0, 5), (600.0, 6), (1200.0, 6), (1800.0, 6)]
    if args.hold > 0:
        HeldSuspicion.hold = args.hold
        HeldSuspicion.hold_count = args.hold_count
        HeldSuspicion.hold_fast = args.hold_cadence == "fast"
        model.Suspicion = HeldSuspicion  # model.simulate builds its policy from this name
    print(f"p1 {args.p1:g}, threshold {args.threshold:g} nats, windows {args.window}, regions {args.combine}, hold {args.hold:g} s")
    for regions in (("default",), ("seoul", "virginia")):
        times, late = detection(args, regions)
        found = [x for x in times if x is not None]
        median = statistics.median(found) if found else float("nan")
        print(f"{len(regions)} region(s): {late:.0%} of {len(times)} incidents later than {args.budget:g} s (or missed), median {median:.0f} s")
    for level in (float(x) for x in args.noise_levels.split(",")):
        for regions in (("default",), ("seoul", "virginia"))[: args.noise_region_sets]:
            edges, target_days, extra = false_alerts(args, level, regions)
            print(f"noise {level:.1%}, {len(regions)} region(s): {edges} false alerts in {target_days:g} model-days, extra probes {extra:+.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
