"""The people's pages, timed: the monthly report against a PostgreSQL holding 30 days x 20 targets of checks at a
30 s interval (1.7 M rows, 1 % failures, stream checks on some), and /status server time with 100 targets and 90
days of history: in memory (status_page.memory_days: 90), and in Postgres (status_page.history_dsn: the archive
loader reads the sink in the background; the page renders from what it loaded).

    python bench/status_report.py [--days 30] [--targets 20] [--status-targets 100] [--dsn postgresql://…]

Targets (issue 15): the report in at most 2 s, /status in at most 50 ms. Prints the figures; no assertion.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import statistics
import sys
import time
from pathlib import Path

import asyncpg

from healthboard import report
from healthboard.events import TargetAdded
from healthboard.history import HOUR, LATENCY_BOUNDS, HistoryBook, Hour
from healthboard.sink.migrate import migrate
from healthboard.web import status as pages

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: the repository root, for devtools
from devtools.postgres import External, Postgres, new_database_name  # noqa: E402

FILL = """
INSERT INTO llm_checks (id, ts, provider, model, region, check_name, instance, ok, http_status, error_type, latency_ms,
                        input_tokens, output_tokens, scheduled, ttft_ms, tokens_per_s)
SELECT gen_random_uuid(), $1::timestamptz + i * interval '30 seconds', 'p' || (t % 6), 'model-' || t, 'seoul',
       CASE WHEN t % 4 = 0 THEN 'stream' ELSE 'chat' END, 'bench', random() > 0.01,
       200, NULL, (150 + 400 * random() ^ 3)::int, 8, 1, true,
       CASE WHEN t % 4 = 0 THEN (120 + 200 * random())::int END, CASE WHEN t % 4 = 0 THEN 30 + 20 * random() END
FROM generate_series(0, $2 - 1) AS t, generate_series(0, $3 - 1) AS i
"""


async def report_timing(admin_dsn: str, server, days: int, targets: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    name = new_database_name()
    conn = await asyncpg.connect(admin_dsn)
    await conn.execute(f"CREATE DATABASE {name}")
    await conn.close()
    dsn = server.dsn("postgres", name)
    await migrate(dsn, {})
    conn = await asyncpg.connect(dsn)
    try:
        month, first = "2026-09", dt.datetime(2026, 9, 1, tzinfo=dt.timezone.utc)  # 30 days: the whole month
        t0 = time.perf_counter()
        await conn.execute(FILL, first, targets, days * 2880)
        await conn.execute("UPDATE llm_checks SET error_type = '5xx', http_status = 500 WHERE NOT ok")
        await conn.execute("VACUUM ANALYZE llm_checks")
        fill_s = time.perf_counter() - t0
        rows = await conn.fetchval("SELECT count(*) FROM llm_checks")
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            pool = await report.connect(dsn)  # as `healthboard report` does: connecting is part of its time
            try:
                built = await report.build(pool, month)
            finally:
                await pool.close()
            report.render(built, "html")
            times.append(time.perf_counter() - t0)
        return {"rows": rows, "fill_s": fill_s, "report_median_s": statistics.median(times), "report_max_s": max(times)}
    finally:
        await conn.close()
        admin = await asyncpg.connect(admin_dsn)
        await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        await admin.close()


ARCHIVE_FILL = """
INSERT INTO llm_checks (id, ts, provider, model, region, check_name, instance, ok, http_status, error_type, latency_ms, scheduled)
SELECT gen_random_uuid(), to_timestamp($1::float8) + i * interval '300 seconds', 'p' || (t / 10), 'm' || (t / 10) || '-' || (t % 10),
       'default', 'chat', 'bench', random() > 0.01, 200, NULL, (150 + 400 * random() ^ 3)::int, true
FROM generate_series(0, $2 - 1) AS t, generate_series(0, $3 - 1) AS i
"""


async def status_from_postgres(admin_dsn: str, server, n_targets: int, days: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """/status with the history in Postgres: 100 targets x 90 days (at a 5-minute interval: 2.6 M rows), loaded by
    the archive loader as the exporter does, then rendered from memory."""
    from healthboard.archive import ArchiveLoader
    from healthboard.secrets import Secret

    name = new_database_name()
    conn = await asyncpg.connect(admin_dsn)
    await conn.execute(f"CREATE DATABASE {name}")
    await conn.close()
    dsn = server.dsn("postgres", name)
    await migrate(dsn, {})
    conn = await asyncpg.connect(dsn)
    try:
        today = int(time.time() // 86400)
        await conn.execute(ARCHIVE_FILL, float((today - days + 1) * 86400), n_targets, days * 288)
        await conn.execute("VACUUM ANALYZE llm_checks")
        book, health = filled_book(n_targets, 0)
        loader = ArchiveLoader(Secret(dsn), book, "default", days)
        t0 = time.perf_counter()
        await loader.load()
        load_s = time.perf_counter() - t0
        return {"load_s": load_s, "rows": await conn.fetchval("SELECT count(*) FROM llm_checks"), **_render_times(book, health, days)}
    finally:
        await conn.close()
        admin = await asyncpg.connect(admin_dsn)
        await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        await admin.close()


def filled_book(n_targets: int, days: int) -> tuple[HistoryBook, list[dict]]:
    from healthboard.config import parse_config
    from healthboard.plan import build_plan

    providers = "\n".join(
        f"  - name: p{p}\n    kind: openai\n    base_url: http://127.0.0.1:9/v1\n    api_key: sk-bench-0123456789\n"
        f"    models: [{', '.join(f'm{p}-{m}' for m in range(n_targets // 10))}]" for p in range(10))
    plan = build_plan(parse_config(f"providers:\n{providers}\n", "bench", {}), {})
    rng = random.Random(1)
    book = HistoryBook(days)
    now_hour = int(time.time() // HOUR)
    rows = []
    for target in plan.targets:
        book(TargetAdded(target))
        entry = book.targets[target.id]
        for index in range(now_hour - days * 24 + 1, now_hour + 1) if days else ():
            hour = Hour(requests=120, failures=rng.choice((0, 0, 0, 1, 2)))
            hour.latency = [rng.randrange(5, 30) for _ in LATENCY_BOUNDS]
            entry.hours[index] = hour
        entry.fold(now_hour // 24 - 1)  # as the book does: hourly detail for today and yesterday only
        rows.append({"id": target.id, "provider": target.provider, "model": target.model, "region": target.region,
                     "check": target.check, "status": "healthy", "reason": "120 of 120 probes ok in 300s"})
    return book, rows


def status_render(n_targets: int, days: int) -> dict[str, float]:
    book, health = filled_book(n_targets, days)
    return _render_times(book, health, days)


def _render_times(book: HistoryBook, health: list[dict], days: int) -> dict[str, float]:
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        rows = pages.build_rows(health, book, {}, days)
        html = pages.render_status(title="bench", rows=rows, incidents=pages.incident_rows(book, False), public=False,
                                   show_models=True, refresh=30, history_note="", days=days, maintenance=[])
        times.append(time.perf_counter() - t0)
    return {"targets": len(health), "days": days, "median_ms": statistics.median(times) * 1000,
            "max_ms": max(times) * 1000, "html_kb": len(html) / 1024}


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30, choices=range(1, 31), metavar="1-30")
    parser.add_argument("--targets", type=int, default=20)
    parser.add_argument("--status-targets", type=int, default=100)
    parser.add_argument("--dsn", help="admin postgresql:// URL of an existing server (default: start a local one)")
    args = parser.parse_args()
    status = status_render(args.status_targets, 90)
    print(f"/status: {status['targets']} targets x {status['days']} days of hourly history: "
          f"median {status['median_ms']:.1f} ms, worst {status['max_ms']:.1f} ms of 20 renders ({status['html_kb']:.0f} KiB of HTML); target <= 50 ms")
    server = External(args.dsn) if args.dsn else Postgres()
    try:
        archived = await status_from_postgres(server.dsn(), server, args.status_targets, 90)
        timing = await report_timing(server.dsn(), server, args.days, args.targets)
    finally:
        server.close()
    print(f"/status with the history in Postgres: {archived['rows']:,} checks ({archived['targets']} targets x 90 days at 5 min), "
          f"first load {archived['load_s']:.1f} s in the background; render median {archived['median_ms']:.1f} ms, "
          f"worst {archived['max_ms']:.1f} ms of 20; target <= 50 ms")
    print(f"report: {timing['rows']:,} checks ({args.days} days x {args.targets} targets at 30 s), filled in {timing['fill_s']:.0f} s; "
          f"healthboard report median {timing['report_median_s']:.2f} s, worst {timing['report_max_s']:.2f} s of 3; target <= 2 s")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
