"""Offline replay of the page (``LLMModelOutage``) over noise alone, at the issue's scale: 10 single-region targets x 30
days per background failure rate, in a few minutes instead of the hours bench/alert_quality.py would need for it
(that month, on real Prometheus, stays the judge: docs/ALERTING.md).

    python bench/page_replay.py                                    # 0.5-3 %, 10 targets x 30 days each
    python bench/page_replay.py --levels 0.015,0.03 --bursts-per-day 8 --burst-ratio 1   # a harsher noise model

What it evaluates, as detector.yml and alerts.yml do:
- the hard branch on the gauges as a 15 s scrape sees them: at least 4 outage-like failures in a row spanning 20 s,
  at least 2 and at least half of them server errors, or spanning 75 s;
- the partial branch every 15 s: the log-likelihood ratio for 20 % against the target's baseline over the last 1 and
  2 minutes (a window with at least 4 failures), above 12 nats; not again within 15 minutes of the last firing;
- the hysteresis: firing stays while the last 90 seconds' LLR is above 0 or a run of 4+ was seen within 45 s.
Every probe comes from bench/alertsim/model.py (the bench's noise and the exporter's scheduling) and the evidence from
healthboard.evidence.Evidence; the baseline is the run's evidence failure rate, clamped to 2-5 %.
"""

from __future__ import annotations

import argparse
import bisect
import math
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from elevated_replay import Curve, baseline, counts  # noqa: E402  (first: it puts exporter/ on the path)
from alertsim import model  # noqa: E402
from healthboard.evidence import ANY_RUN_SECONDS, HARD_RUN_FAILURES, HARD_RUN_SECONDS, HARD_RUN_SERVER_ERRORS, Evidence  # noqa: E402
from healthboard.record import ErrorType  # noqa: E402

SCRAPE, STEP, P1, THRESHOLD, HOLD, STAY = 15.0, 15.0, 0.20, 12.0, 900.0, 90.0


def observe(run: model.Run, seconds: float) -> tuple[Curve, list[float], list[float]]:
    """The evidence curve, the scrape times that saw a hard run, and the times a run of 4+ was current."""
    evidence, consecutive = Evidence(), 0
    times, probes, failures, states, runs = [], [], [], [], []
    for p in run.probes:
        done = p.t + p.latency
        evidence.add(done, p.ok, ErrorType(p.error_type) if p.error_type else None)
        consecutive = 0 if p.ok else consecutive + 1 if p.error_type in model.OUTAGE_TYPES else 0
        server = evidence.run_server_errors
        hard = consecutive >= HARD_RUN_FAILURES and (
            (evidence.run_seconds >= HARD_RUN_SECONDS and server >= HARD_RUN_SERVER_ERRORS and 2 * server >= consecutive)
            or evidence.run_seconds >= ANY_RUN_SECONDS)
        times.append(done)
        probes.append(evidence.probes)
        failures.append(evidence.failures)
        states.append(hard)
        if consecutive >= HARD_RUN_FAILURES:
            runs.append(done)
    seen, scrape = [], 7.3
    while scrape < seconds:
        i = bisect.bisect_right(times, scrape) - 1
        if i >= 0 and states[i]:
            seen.append(scrape)
        scrape += SCRAPE
    return (times, probes, failures), seen, runs


def recent(times: list[float], t: float, within: float) -> bool:
    i = bisect.bisect_right(times, t)
    return i > 0 and times[i - 1] > t - within


def pages(run: model.Run, seconds: float) -> tuple[list[tuple[float, str]], float]:
    c, hard, runs = observe(run, seconds)
    p0 = baseline(c, seconds)
    a, b = math.log(P1 / p0), math.log((1 - p0) / (1 - P1))

    def llr(t: float, window: float) -> tuple[float, int]:
        (n1, f1), (n0, f0) = counts(c, t), counts(c, t - window)
        return (f1 - f0) * a - (n1 - n0 - f1 + f0) * b, f1 - f0

    out, firing, last, t, top = [], False, -math.inf, 7200.0, -math.inf
    while t < seconds:
        partial = max((value for value, failed in (llr(t, 60.0), llr(t, 120.0)) if failed >= 4), default=-math.inf)
        top = max(top, partial)
        is_hard = recent(hard, t, STEP)
        if firing:
            if llr(t, STAY)[0] > 0 or recent(runs, t, 45.0) or is_hard:
                last = t
            else:
                firing = False
        elif is_hard or (partial > THRESHOLD and t - last > HOLD):
            firing, last = True, t
            out.append((t, "hard" if is_hard else f"partial {partial:.1f} nats"))
        t += STEP
    return out, top


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="0.005,0.01,0.015,0.02,0.03", help="background failure rates")
    parser.add_argument("--targets", type=int, default=10)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hard-outage", action="store_true", help="add a 15-minute hard outage to each target (a check that the replay pages)")
    for field in ("bursts_per_day", "burst_ratio", "blips_per_day", "slow_share", "tail_ratio"):
        parser.add_argument("--" + field.replace("_", "-"), type=float, default=getattr(model.Params, field))
    args = parser.parse_args(argv)
    print(f"LLMModelOutage over noise, one region, {args.targets} targets x {args.days:g} days per level (seed {args.seed})")
    print("| background failures | pages | highest partial evidence, nats | first pages |")
    print("|---|---|---|---|")
    for level in (float(x) for x in args.levels.split(",")):
        params = model.Params(days=args.days, seed=args.seed, regions=("default",), noise_fail=level,
                              bursts_per_day=args.bursts_per_day, burst_ratio=args.burst_ratio, blips_per_day=args.blips_per_day,
                              slow_share=args.slow_share, tail_ratio=args.tail_ratio)
        params.targets = tuple(model.Target(f"p{i}", f"m{i}") for i in range(args.targets))
        found, top = [], -math.inf
        for target in params.targets:
            incidents = [model.Incident("hard_outage", target.provider, target.model, None, params.seconds / 2,
                                        params.seconds / 2 + 900, ("",))] if args.hard_outage else []
            run = model.simulate(params, target, "default", incidents, random.Random(f"{args.seed}/{target.key}"))
            times, best = pages(run, params.seconds)
            found += [(target.key, t, why) for t, why in times]
            top = max(top, best)
        first = "; ".join(f"{key} at {t / 86400:.2f} d ({why})" for key, t, why in found[:3]) or "-"
        strongest = f"{top:.1f}" if top > -math.inf else "no window with 4 failures"
        print(f"| {level:.1%} | {len(found)} | {strongest} | {first} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
