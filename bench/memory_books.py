"""Steady-state memory of the exporter at N targets, which a 20-second run of bench/probe_engine.py can't show.

The exporter is built from a config of N chat targets (as `healthboard serve` builds it, without starting it),
and its consumers (metrics, health book, recent-checks ring, history book, transition log) are fed probes
directly, without probing: one probe an hour for the given hours (the status page's hourly history fills; it
keeps today's and yesterday's hours), then the last 15 minutes of probes at the 30 s interval (the health
book's window fills). RSS (VmRSS of this process) is printed after each stage. The records are successes at
420 ms; failures would add per-error-type series, nothing per hour.

    python bench/memory_books.py                      # 5,000 targets, 47 hours
    python bench/memory_books.py --targets 100 --hours 2     # what make test runs
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "exporter"))

from healthboard.app.exporter import Exporter, plan_or_fail  # noqa: E402
from healthboard.config import load_config  # noqa: E402
from healthboard.events import Probed, TargetAdded  # noqa: E402
from healthboard.evidence import Progress  # noqa: E402
from healthboard.prober.engine import ProbeEngine  # noqa: E402
from healthboard.record import CheckRecord  # noqa: E402


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def measure(targets: int, hours: int, recent: int) -> list[tuple[str, float]]:
    models = "\n".join(f"      - m{i}" for i in range(targets))
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "config.yml"
        path.write_text(f"interval: 30s\nrecent_checks: {recent}\nproviders:\n  - name: sim\n    kind: openai\n"
                        f"    base_url: http://127.0.0.1:9/v1\n    api_key: sk-bench-0123456789abcdef\n    models:\n{models}\n")
        config = load_config(path)
        plan = plan_or_fail(config, str(path))
    figures = [("config and plan", rss_mb())]
    exporter = Exporter(str(path), config, plan, ProbeEngine(config.max_body_bytes))
    consumers = [c for c in exporter.scheduler.consumers if c is not exporter.status]
    for target in plan.targets:
        for consumer in consumers:
            consumer(TargetAdded(target))
    gc.collect()
    figures.append(("exporter built", rss_mb()))
    progress = Progress(0, 0, 1, 1, 0, 0, 0.0, 0)

    def feed(ts: float) -> None:
        for target in plan.targets:
            record = CheckRecord(ts=ts, provider=target.provider, model=target.model, region=target.region, check=target.check,
                                 ok=True, http_status=200, error_type=None, latency_ms=420.0)
            event = Probed(record, progress, 30.0, 0.001)
            for consumer in consumers:
                consumer(event)

    now = time.time()
    for hour in range(hours, 0, -1):  # oldest first, as they would have come
        feed(now - 900 - 3600 * hour)
    gc.collect()
    figures.append((f"{hours} hours of history (a probe an hour)", rss_mb()))
    for k in range(30):
        feed(now - 900 + 30 * k)
    gc.collect()
    figures.append(("and the last 15 minutes' probes", rss_mb()))
    await exporter.engine.close()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", type=int, default=5000)
    parser.add_argument("--hours", type=int, default=47, help="hours of history (the book keeps today's and yesterday's)")
    parser.add_argument("--recent", type=int, default=1000, help="recent_checks (the ring's size; 1000 is the default)")
    args = parser.parse_args(argv)
    figures = asyncio.run(measure(args.targets, args.hours, args.recent))
    print(f"### Exporter memory at {args.targets} targets (RSS of this process)\n")
    print("| stage | RSS MB | per target KB (over the imports) |\n|---|---|---|")
    base = figures[0][1]
    for stage, value in figures:
        print(f"| {stage} | {value:.1f} | {(value - base) * 1024 / args.targets:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
