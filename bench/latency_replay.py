"""Offline replay of the latency test (``target:llm_latency_llr:slow``, LLMModelLatencyHigh): how soon a p95 rising to
about 8 s is alerted, and what the re-checks it takes cost over everyday latency, for values of the exporter's
``slow_threshold`` (the answer latency that makes a target suspicious and re-checked). Seconds instead of the
hour bench/alert_quality.py needs; that month stays the judge (docs/ALERTING.md).

    python bench/latency_replay.py                      # the shipped default (3 s) against S2's own 5 s
    python bench/latency_replay.py --slow 2.5 --slow 3 --slow-share 0.01   # heavier everyday spikes
    python bench/latency_replay.py --latency-median 1.5  # a model slow by nature (its usual latency raises its threshold)

Every probe comes from bench/alertsim/model.py (the bench's noise and latency model, the exporter's scheduling
and its Suspicion policy); the test is computed from the latency counts directly, every 15 s, as the rule
computes it from the histogram's increase() over 5 and 10 minutes (no Prometheus). The slow baseline p0 is each
run's share of answers over 5 s before the incident, clamped to 1-3 % as the rule clamps it.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from elevated_replay import START, STEP, Curve, counts  # noqa: E402  (first: it puts exporter/ on the path)
from alertsim import model  # noqa: E402

LENGTH = 1200.0  # the bench's latency incident: 20 minutes
BOUND = 5.0  # the rule's le="5.0" bucket (S2)


def curve(run: model.Run) -> Curve:
    """Latency evidence as the histogram holds it: successes and timeouts, and those slower than BOUND."""
    times, answers, slow = [], [], []
    n = k = 0
    for probe in run.probes:
        if probe.ok or probe.error_type == "timeout":
            n += 1
            k += not (probe.ok and probe.latency <= BOUND)
        times.append(probe.t + probe.latency)  # in the histogram once the answer is in
        answers.append(n)
        slow.append(k)
    return times, answers, slow


def llr(c: Curve, t: float, p0: float, args: argparse.Namespace) -> float:
    a, b = math.log(args.p1 / p0), math.log((1 - p0) / (1 - args.p1))
    best = -math.inf
    n_now, k_now = counts(c, t)
    for seconds in (300.0, 600.0):
        n_then, k_then = counts(c, t - seconds)
        n, k = n_now - n_then, k_now - k_then
        if k >= args.min_slow:
            best = max(best, k * a - (n - k) * b)
    return best


def slow_p0(c: Curve, until: float) -> float:
    n, k = counts(c, until)
    return min(max(k / max(n, 1), 0.01), 0.03)


def detection(args: argparse.Namespace, slow: float) -> list[float | None]:
    times: list[float | None] = []
    for seed in range(args.incidents):
        params = model.Params(days=(START + LENGTH + 600) / 86400, seed=seed, regions=("default",), slow=slow,
                              slow_share=args.slow_share, latency_median=args.latency_median)
        target = params.targets[seed % len(params.targets)]
        incident = model.Incident("latency_p95_8s", target.provider, target.model, None, START, START + LENGTH, ("",))
        c = curve(model.simulate(params, target, "default", [incident], random.Random(f"{seed}/default")))
        p0 = slow_p0(c, START)
        t, found = START, None
        while t < START + LENGTH:
            if llr(c, t, p0, args) > args.threshold:
                found = t - START
                break
            t += STEP
        times.append(found)
    return times


def noise(args: argparse.Namespace, slow: float) -> tuple[int, float]:
    """False latency alerts (rising edges, 5 minutes apart) over everyday latency alone, and probes sent per
    scheduled probe."""
    params = model.Params(days=args.days, seed=args.seed, regions=("default",), slow=slow, slow_share=args.slow_share,
                          latency_median=args.latency_median)
    edges, sent, scheduled = 0, 0, 0
    for target in params.targets[: args.targets]:
        run = model.simulate(params, target, "default", [], random.Random(f"{args.seed}/{target.key}"))
        sent += len(run.probes)
        scheduled += sum(p.scheduled for p in run.probes)
        c = curve(run)
        p0 = slow_p0(c, params.seconds)
        t, firing_until = 3600.0, -1.0
        while t < params.seconds:
            if llr(c, t, p0, args) > args.threshold:
                edges += t > firing_until
                firing_until = t + 300
            t += STEP
    return edges, sent / max(scheduled, 1) - 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slow", type=float, action="append", help="slow_threshold, seconds, repeatable (default 5 and 3)")
    parser.add_argument("--incidents", type=int, default=200, help="seeded latency incidents, one region")
    parser.add_argument("--budget", type=float, default=300.0, help="alert budget, seconds (the issue's 5 minutes)")
    parser.add_argument("--p1", type=float, default=0.15)
    parser.add_argument("--threshold", type=float, default=9.0)
    parser.add_argument("--min-slow", type=int, default=3, help="answers over 5 s a window needs")
    parser.add_argument("--slow-share", type=float, default=model.Params.slow_share, help="everyday 5-30 s spikes")
    parser.add_argument("--latency-median", type=float, default=model.Params.latency_median,
                        help="everyday answer time, seconds (a large or reasoning model: 1.5-2)")
    parser.add_argument("--days", type=float, default=30.0, help="noise days per target")
    parser.add_argument("--targets", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    print(f"p1 {args.p1:g}, threshold {args.threshold:g} nats, everyday median {args.latency_median:g} s, spikes {args.slow_share:.1%}")
    print("| slow_threshold | median s | 90th s | worst s | later than budget | false alerts / target-days | extra probes |")
    print("|---|---|---|---|---|---|---|")
    for slow in args.slow or [5.0, 3.0]:
        times = detection(args, slow)
        ranked = sorted(math.inf if x is None else x for x in times)
        found = [x for x in ranked if x < math.inf]
        late = sum(1 for x in ranked if x > args.budget) / len(ranked)
        edges, extra = noise(args, slow)
        median = statistics.median(found) if found else math.nan
        print(f"| {slow:g} s | {median:.0f} | {ranked[int(0.9 * (len(ranked) - 1))]:.0f} | {ranked[-1]:.0f} | {late:.1%} | "
              f"{edges} / {args.targets * args.days:g} | {extra:+.1%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
