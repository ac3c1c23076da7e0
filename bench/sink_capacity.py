"""Sink capacity: bytes per llm_checks row including indexes, and how many targets probed every 30 s fit
30 days into Supabase's free 500 MB. Starts its own PostgreSQL 15 (or uses --dsn, an admin URL), applies
the migrations to a scratch database, writes realistic rows through the sink's own INSERT, and measures.

    python bench/sink_capacity.py [--rows 300000] [--dsn postgresql://…]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from pathlib import Path

import asyncpg

from healthboard.record import CheckRecord, ErrorType
from healthboard.sink.migrate import migrate
from healthboard.sink.postgres import INSERT, _columns, to_row

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: the repository root, for devtools
from devtools.postgres import External, Postgres, new_database_name  # noqa: E402

FREE_TIER_BYTES = 500 * 1000 * 1000
ERRORS = [(ErrorType.SERVER_ERROR, 500, "The server had an error while processing your request. Sorry about that!"),
          (ErrorType.RATE_LIMIT, 429, "Rate limit reached for gpt-4o-mini in organization org-x on requests per min (RPM): Limit 3, Used 3"),
          (ErrorType.OVERLOADED, 529, "Overloaded"),
          (ErrorType.TIMEOUT, None, "no complete response within 3s; stalled in ttfb (waiting for response headers)")]
TARGETS = [("openai", "gpt-4o-mini"), ("anthropic", "claude-3-haiku-20240307"), ("google", "gemini-2.0-flash"),
           ("cohere", "command-r7b-12-2024"), ("xai", "grok-3-mini"), ("mistral", "mistral-small-latest")]


def rows(n: int, request_ids: str, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    start = time.time() - n * 30 / len(TARGETS)
    out = []
    for i in range(n):
        provider, model = TARGETS[i % len(TARGETS)]
        failed = rng.random() < 0.01
        error = rng.choice(ERRORS) if failed else None
        record = CheckRecord(
            ts=start + i * 30 / len(TARGETS), provider=provider, model=model, region="seoul", check="chat",
            ok=not failed, http_status=(error[1] if error else 200), error_type=(error[0] if error else None),
            latency_ms=rng.lognormvariate(6.4, 0.6), input_tokens=None if failed else 8, output_tokens=None if failed else 1,
            request_id="req_" + uuid.uuid4().hex[:24], error_message=(error[2] if error else None), id=uuid.uuid4().hex,
        )
        out.append(to_row(record, "exporter-seoul-1", request_ids))
    return out


async def measure(admin_dsn: str, server, n: int, request_ids: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    name = new_database_name()
    conn = await asyncpg.connect(admin_dsn)
    await conn.execute(f"CREATE DATABASE {name}")
    await conn.close()
    dsn = server.dsn("postgres", name)
    try:
        await migrate(dsn)
        conn = await asyncpg.connect(dsn, statement_cache_size=0)
        payloads = rows(n, request_ids)
        started = time.perf_counter()
        for i in range(0, n, 5000):
            await conn.execute(INSERT, *_columns([json.loads(p) for p in payloads[i:i + 5000]]))
        insert_seconds = time.perf_counter() - started
        await conn.execute("VACUUM ANALYZE llm_checks")
        queries = {
            "last 20 failures": "SELECT * FROM llm_recent_failures",
            "one model, hourly, last 24 h": "SELECT * FROM llm_checks_hourly WHERE provider = 'openai' AND model = 'gpt-4o-mini' AND hour > now() - interval '24 hours'",
            "one model, daily, 30 days": "SELECT * FROM llm_checks_daily WHERE provider = 'openai' AND model = 'gpt-4o-mini'",
            "provider comparison, 30 days": "SELECT * FROM llm_provider_comparison_30d",
        }
        timings = {}
        for label, query in queries.items():
            await conn.fetch(query)  # warm
            started = time.perf_counter()
            await conn.fetch(query)
            timings[f"query {label} (ms)"] = (time.perf_counter() - started) * 1000
        total = await conn.fetchval("SELECT pg_total_relation_size('llm_checks')")
        heap = await conn.fetchval("SELECT pg_relation_size('llm_checks')")
        indexes = {r["name"]: r["size"] for r in await conn.fetch(
            "SELECT indexrelid::regclass::text AS name, pg_relation_size(indexrelid) AS size FROM pg_index WHERE indrelid = 'llm_checks'::regclass")}
        await conn.close()
    finally:
        conn = await asyncpg.connect(admin_dsn)
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.close()
    per_row = total / n
    rows_per_target = 30 * 86400 / 30
    return {"per_row": per_row, "heap_per_row": heap / n, **{f"index {k}": v / n for k, v in indexes.items()},
            "targets_30s": FREE_TIER_BYTES / (per_row * rows_per_target), "rows_per_s": n / insert_seconds, **timings}


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--dsn", help="admin postgresql:// URL of an existing server (default: start a local one)")
    args = parser.parse_args()
    server = External(args.dsn) if args.dsn else Postgres()
    try:
        results = {mode: await measure(server.dsn(), server, args.rows, mode) for mode in ("all", "failures")}
    finally:
        server.close()
    print(f"sink capacity: {args.rows} realistic rows (6 targets, 1 % failures), PostgreSQL 15, after VACUUM ANALYZE\n")
    print("| sink.request_ids | bytes/row total | heap | " + " | ".join(k for k in results["all"] if k.startswith("index ")) +
          " | targets at 30 s for 30 days in 500 MB | insert rows/s |")
    print("|---|---|---|" + "---|" * sum(1 for k in results["all"] if k.startswith("index ")) + "---|---|")
    for mode, r in results.items():
        idx = " | ".join(f"{r[k]:.1f}" for k in r if k.startswith("index "))
        print(f"| {mode} | {r['per_row']:.1f} | {r['heap_per_row']:.1f} | {idx} | {r['targets_30s']:.1f} | {r['rows_per_s']:.0f} |")
    print()
    for key, value in results["all"].items():
        if key.startswith("query "):
            print(f"{key}: {value:.1f}")
    print("\nOther knobs: a 60 s interval doubles the targets that fit; retention_days (healthboard_settings) scales it inversely.")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
