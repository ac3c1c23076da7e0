"""The Supabase/Postgres sink against a real PostgreSQL 15: migrations, roles, RLS, retention, views, and
nothing lost or duplicated through database outages and SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import signal
import sqlite3
import sys
import time
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from healthboard.events import Probed
from healthboard.config import parse_config
from healthboard.metrics import Metrics
from healthboard.record import ErrorType
from healthboard.app.run import running_exporter
from healthboard.app.exporter import plan_or_fail
from healthboard.sink import PostgresSink, Spool
from healthboard.sink.migrate import migrate, migration_files
from healthboard.secrets import Secret

from conftest import Sim, config_text
from helpers import SINK, Database, Proxy, ids_in_db, insert_as, poller_for, record, upstream_port, via

pytestmark = pytest.mark.timeout(180)


# -- migrations --------------------------------------------------------------------------------------


async def test_migrations_apply_twice(db: Database) -> None:
    assert await migrate(db.dsn()) == []  # tracked: nothing pending
    conn = await db.admin()
    try:
        for path in migration_files():  # and idempotent on their own, as when applied by hand
            await conn.execute(path.read_text())
        versions = [r["version"] for r in await conn.fetch("SELECT version FROM healthboard_migrations ORDER BY version")]
    finally:
        await conn.close()
    assert versions == [p.stem for p in migration_files()]


# -- roles and row level security --------------------------------------------------------------------


async def test_writer_can_only_insert(db: Database) -> None:
    rec = record()
    await insert_as(db, "healthboard_writer", rec)
    await insert_as(db, "healthboard_writer", rec)  # the same id again: ignored, not an error
    conn = await asyncpg.connect(db.dsn("healthboard_writer"))
    try:
        for statement in ("SELECT count(*) FROM llm_checks", "DELETE FROM llm_checks", "UPDATE llm_checks SET ok = false",
                          "SELECT * FROM llm_checks_daily", "SELECT * FROM healthboard_settings",
                          "UPDATE healthboard_settings SET value = '0'"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement)
        assert await conn.fetchval("SELECT healthboard_prune()") == 0  # may trigger retention, nothing else
    finally:
        await conn.close()
    assert [r["n"] for r in await db.fetch("SELECT count(*) AS n FROM llm_checks")] == [1]


async def test_reader_can_only_read(db: Database) -> None:
    await insert_as(db, "healthboard_writer", record())
    conn = await asyncpg.connect(db.dsn("healthboard_reader"))
    try:
        assert await conn.fetchval("SELECT count(*) FROM llm_checks") == 1
        for view in ("llm_checks_hourly", "llm_checks_daily", "llm_recent_failures", "llm_provider_comparison_30d"):
            await conn.fetch(f"SELECT * FROM {view}")
        for statement in ("INSERT INTO llm_checks (id, ts, provider, model, region, check_name, instance, ok, latency_ms) "
                          "VALUES (gen_random_uuid(), now(), 'a', 'b', 'c', 'd', 'e', true, 1)",
                          "DELETE FROM llm_checks", "UPDATE llm_checks SET ok = false", "SELECT healthboard_prune()"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement)
    finally:
        await conn.close()


async def test_supabase_api_roles_see_nothing(db: Database) -> None:
    await insert_as(db, "healthboard_writer", record())
    conn = await asyncpg.connect(db.dsn("anon"))
    try:
        for relation in ("llm_checks", "provider_status_events", "llm_checks_daily", "llm_recent_failures", "healthboard_migrations"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetch(f"SELECT * FROM {relation}")
    finally:
        await conn.close()
    # even if someone grants the API roles SELECT again, RLS (no policy for them) shows no rows
    admin = await db.admin()
    await admin.execute("GRANT SELECT ON llm_checks TO anon")
    await admin.close()
    conn = await asyncpg.connect(db.dsn("anon"))
    try:
        assert await conn.fetchval("SELECT count(*) FROM llm_checks") == 0
    finally:
        await conn.close()


# -- retention and views -----------------------------------------------------------------------------


async def test_supabase_api_roles_cannot_call_the_functions(db: Database) -> None:
    """Supabase's default privileges grant EXECUTE on new functions to anon and authenticated directly."""
    for role in ("anon", "authenticated"):
        conn = await asyncpg.connect(db.dsn(role))
        try:
            for call in ("SELECT healthboard_prune()", "SELECT healthboard_prune(2147483647, 2147483647)",
                         "SELECT healthboard_hide_from_api('llm_checks')"):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.execute(call)
        finally:
            await conn.close()
    conn = await asyncpg.connect(db.dsn("healthboard_writer"))
    try:
        assert await conn.fetchval("SELECT healthboard_prune()") == 0  # the sink's role still can
        with pytest.raises(asyncpg.RaiseError, match="max_batches must be between"):
            await conn.execute("SELECT healthboard_prune(10000, 2147483647)")
    finally:
        await conn.close()


async def test_retention_deletes_old_rows_in_batches(db: Database) -> None:
    now = time.time()
    old = [record(ts=now - 40 * 86400 + i) for i in range(25)]
    new = [record(ts=now - 86400 + i) for i in range(5)]
    for rec in old + new:
        await insert_as(db, "healthboard_writer", rec)
    conn = await db.admin()
    await conn.execute("INSERT INTO provider_status_events (ts, provider, component, status) VALUES (now() - interval '40 days', 'openai', 'API', 'major_outage')")
    await conn.close()
    conn = await asyncpg.connect(db.dsn("healthboard_writer"))
    try:
        assert await conn.fetchval("SELECT healthboard_prune(7)") == 25  # 4 batches of at most 7
    finally:
        await conn.close()
    rows = await db.fetch("SELECT id FROM llm_checks")
    assert {str(r["id"]).replace("-", "") for r in rows} == {r.id for r in new}
    assert (await db.fetch("SELECT count(*) AS n FROM provider_status_events"))[0]["n"] == 0


async def test_views_return_correct_figures(db: Database) -> None:
    hour = dt.datetime(2026, 11, 20, 9, tzinfo=dt.timezone.utc).timestamp()
    recs = [record(ts=hour + 60 * i, latency_ms=100.0 * (i + 1)) for i in range(8)]  # 100 … 800 ms
    recs.append(record(ts=hour + 600, ok=False, http_status=500, error_type=ErrorType.SERVER_ERROR, latency_ms=50))
    recs.append(record(ts=hour + 660, ok=False, http_status=401, error_type=ErrorType.AUTH, latency_ms=40))
    recs.append(record(ts=hour + 670, ok=False, http_status=500, error_type=ErrorType.SERVER_ERROR, latency_ms=30, scheduled=False))
    recs.append(record(ts=time.time() - 60, provider="anthropic", model="claude-3-haiku-20240307", ok=False, http_status=529,
                       error_type=ErrorType.OVERLOADED, latency_ms=900, request_id="req_x"))
    for rec in recs:
        await insert_as(db, "healthboard_writer", rec)
    conn = await asyncpg.connect(db.dsn("healthboard_reader"))
    try:
        hourly = await conn.fetchrow("SELECT * FROM llm_checks_hourly WHERE provider = 'openai'")
        daily = await conn.fetchrow("SELECT * FROM llm_checks_daily WHERE provider = 'openai'")
        failures = await conn.fetch("SELECT * FROM llm_recent_failures")
        comparison = {r["provider"]: r for r in await conn.fetch("SELECT * FROM llm_provider_comparison_30d")}
    finally:
        await conn.close()
    assert hourly["hour"] == dt.datetime(2026, 11, 20, 9, tzinfo=dt.timezone.utc)
    assert (hourly["requests"], hourly["failures"], hourly["outage_failures"]) == (10, 2, 1)  # the re-check isn't counted
    assert hourly["error_ratio"] == pytest.approx(0.2)
    assert hourly["p50_ms"] == pytest.approx(450) and hourly["p95_ms"] == pytest.approx(765) and hourly["p99_ms"] == pytest.approx(793)
    assert daily["availability"] == pytest.approx(0.9)  # auth is ours, not an outage
    assert [f["http_status"] for f in failures] == [529, 500, 401, 500]  # newest first, re-checks included
    assert failures[0]["request_id"] == "req_x"
    assert comparison["anthropic"]["availability"] == 0.0
    assert json.loads(comparison["anthropic"]["failure_mix"]) == {"overloaded": 1}
    assert comparison["openai"]["availability"] == pytest.approx(0.9)
    assert json.loads(comparison["openai"]["failure_mix"]) == {"5xx": 1, "auth": 1}  # scheduled probes only


# -- durability ----------------------------------------------------------------------------------------


async def test_database_down_for_30s_loses_and_duplicates_nothing(sim: Sim, db: Database, tmp_path: Path) -> None:
    proxy = Proxy(upstream_port(db))
    await proxy.up()
    text = config_text(sim.url, ["openai", "anthropic"], interval="250ms", timeout="200ms", recheck_interval="0")
    text += SINK.format(dsn=via(db, proxy), spool=tmp_path / "spool")
    config = parse_config(text, "t", {})
    produced: list[str] = []
    async with running_exporter(config, plan_or_fail(config, "t", {}), None, "127.0.0.1:0", environ={}) as (exporter, url):
        exporter.scheduler.consumers.insert(0, lambda event: produced.append(event.record.id) if isinstance(event, Probed) else None)
        await asyncio.sleep(2)
        await proxy.down()
        down_at = len(produced)
        await asyncio.sleep(30)
        assert exporter.sink is not None and exporter.sink.spool.count >= len(produced) - down_at - 30
        assert exporter.metrics.registry.get_sample_value("healthboard_sink_write_errors_total") >= 3
        await proxy.up()
        for _ in range(150):
            await asyncio.sleep(0.1)
            if exporter.sink.spool.count == 0:
                break
        exporter.scheduler.consumers.clear()  # stop producing before the final comparison
        assert await exporter.sink.flush(10)
    await proxy.down()
    stored = await ids_in_db(db)
    assert len(stored) == len(set(stored)), "a record was written twice"
    assert set(stored) == set(produced), f"{len(set(produced) - set(stored))} records lost"
    assert len(produced) > 200  # ~8 records/s for 30+ s
    rows = await db.fetch("SELECT DISTINCT instance FROM llm_checks")
    assert [r["instance"] for r in rows] == ["test-exporter"]


def spooled_ids(spool_dir: Path) -> list[str]:
    path = spool_dir / "spool.sqlite3"
    if not path.exists():
        return []
    conn = sqlite3.connect(str(path))
    try:
        return [json.loads(p)[0] for (p,) in conn.execute("SELECT payload FROM spool ORDER BY seq")]
    finally:
        conn.close()


async def metric(url: str, name: str) -> float:
    async with aiohttp.ClientSession() as session, session.get(url + "/metrics") as response:
        for line in (await response.text()).splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


async def test_sigkill_with_spooled_and_in_flight_records_loses_and_duplicates_nothing(sim: Sim, db: Database, tmp_path: Path) -> None:
    from helpers import clean_env, free_port

    proxy = Proxy(upstream_port(db))
    await proxy.up()
    port = proxy.port
    await proxy.down()  # the database is unreachable at first
    spool = tmp_path / "spool"
    config = tmp_path / "c.yml"
    config.write_text(config_text(sim.url, ["openai", "anthropic"], interval="200ms", timeout="150ms", recheck_interval="0")
                      + SINK.format(dsn="${HEALTHBOARD_SINK_DSN}", spool=spool))
    env = {**clean_env(), "HEALTHBOARD_SINK_DSN": via(db, proxy)}

    async def serve() -> tuple[asyncio.subprocess.Process, str]:
        listen = f"127.0.0.1:{free_port()}"
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "healthboard", "serve", "--config", str(config), "--listen", listen,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, env=env)
        url = f"http://{listen}"
        for _ in range(100):
            with contextlib.suppress(aiohttp.ClientError):
                async with aiohttp.ClientSession() as session, session.get(url + "/-/ready") as response:
                    if response.status == 200:
                        return process, url
            await asyncio.sleep(0.1)
        raise AssertionError("exporter did not start")

    # 1. database down: records pile up in the spool; SIGKILL
    process, url = await serve()
    for _ in range(100):
        await asyncio.sleep(0.1)
        if await metric(url, "healthboard_sink_spool_rows") >= 20:
            break
    process.send_signal(signal.SIGKILL)
    await process.wait()
    first = spooled_ids(spool)
    assert len(first) >= 20

    # 2. database back: the restarted exporter replays the spool; SIGKILL again while batches are in flight
    proxy.port = port
    await proxy.up()
    process, url = await serve()
    await asyncio.sleep(0.6)
    process.send_signal(signal.SIGKILL)
    await process.wait()
    second = spooled_ids(spool)
    written_before_second_kill = set(await ids_in_db(db))

    # 3. a clean run drains everything
    process, url = await serve()
    for _ in range(150):
        await asyncio.sleep(0.1)
        if await metric(url, "healthboard_sink_spool_rows") == 0 and await metric(url, "healthboard_sink_rows_written_total") > 0:
            break
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), 20) == 0
    await proxy.down()

    stored = await ids_in_db(db)
    assert len(stored) == len(set(stored))
    assert set(first) <= set(stored), f"{len(set(first) - set(stored))} records spooled before the first kill were lost"
    assert set(second) <= set(stored), f"{len(set(second) - set(stored))} records spooled at the second kill were lost"
    assert written_before_second_kill <= set(stored)
    assert spooled_ids(spool) == []


def test_spool_bound_drops_oldest_and_counts(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite3", max_rows=100)
    dropped = sum(spool.append([json.dumps([i])]) for i in range(150))
    assert (dropped, spool.count) == (50, 100)
    assert [json.loads(p)[0] for _, p in spool.peek(3)] == [50, 51, 52]
    spool.close()
    reopened = Spool(tmp_path / "s.sqlite3", max_rows=100)
    assert reopened.count == 100  # durable across restarts
    reopened.close()


async def test_unreachable_database_never_blocks_probes_and_counts_drops(tmp_path: Path) -> None:
    from healthboard.config.model import SinkConfig

    metrics = Metrics()
    config = SinkConfig(dsn="postgresql://healthboard_writer:pw@127.0.0.1:1/db", spool_dir=str(tmp_path), spool_max_rows=100,
                        batch_size=10, batch_max_age=0.05, connect_timeout=0.5, retry_max=0.2)
    sink = PostgresSink(config, Secret(config.dsn or ""), metrics.own)
    sink.start()
    started = time.perf_counter()
    for _ in range(30):
        sink.submit_many([record() for _ in range(10)])
        await asyncio.sleep(0)
    elapsed = time.perf_counter() - started
    await asyncio.sleep(0.5)
    assert elapsed < 0.5, f"submitting 300 records took {elapsed:.3f}s"
    assert sink.spool.count == 100
    assert metrics.registry.get_sample_value("healthboard_sink_dropped_rows_total") == 200
    assert metrics.registry.get_sample_value("healthboard_sink_spool_rows") == 100
    assert metrics.registry.get_sample_value("healthboard_sink_write_errors_total") >= 1
    await sink.stop(flush_timeout=0.1)


async def test_once_writes_its_round(sim: Sim, db: Database, tmp_path: Path) -> None:
    from helpers import run

    config = tmp_path / "c.yml"
    config.write_text(config_text(sim.url) + SINK.format(dsn="${HEALTHBOARD_SINK_DSN}", spool=tmp_path / "spool"))
    code, out, err = await run("once", "--config", str(config), "--format", "json", env={"HEALTHBOARD_SINK_DSN": db.dsn("healthboard_writer")})
    assert code == 0, err
    printed = {json.loads(line)["id"] for line in out.splitlines()}
    assert set(await ids_in_db(db)) == printed and len(printed) == 4
    assert "secret-healthboard_writer" not in out + err


async def test_sink_dsn_unset_is_a_clear_config_error(tmp_path: Path) -> None:
    from helpers import run

    config = tmp_path / "c.yml"
    config.write_text(config_text("http://127.0.0.1:9") + "sink:\n  dsn: ${NOT_SET_SINK_DSN}\n")
    code, _, err = await run("once", "--config", str(config))
    assert code == 2 and "NOT_SET_SINK_DSN is not set" in err


async def test_status_events_are_stored_once_through_the_spool(sim: Sim, db: Database, tmp_path: Path) -> None:
    from healthboard.config.model import SinkConfig

    sim.script("""
status_pages:
  p:
    format: incidentio
    components: [Chat Completions, Login]
    events:
      - {from: 0s, components: [Chat Completions], status: partial_outage, title: "Errors on Chat Completions"}
""")
    from helpers import poller_config

    config = poller_config(f"{sim.url}/status/p", "incidentio", "[]")
    for spool in ("a", "b"):  # two exporters (regions) see the same page: one row per change
        sink = PostgresSink(SinkConfig(dsn="x", spool_dir=str(tmp_path / spool), batch_max_age=0.05), Secret(db.dsn("healthboard_writer")))
        sink.start()
        sink.submit(record())  # check records and status events share the spool and the transaction
        poller = poller_for(config, Metrics(), sink.submit_status_event)
        try:
            await poller.poll(poller.pages[0])
        finally:
            await poller.stop()
        assert await sink.flush(10)
        await sink.stop()
    rows = await db.fetch("SELECT kind, component, status, title FROM provider_status_events ORDER BY kind, component")
    assert [tuple(r) for r in rows] == [
        ("component", "Chat Completions", "partial_outage", None),
        ("component", "Login", "operational", None),
        ("incident", "Chat Completions", "open", "Errors on Chat Completions"),
    ]
    assert len(await ids_in_db(db)) == 2


async def test_migrate_cli_lets_the_roles_log_in_without_printing_passwords(db: Database) -> None:
    from helpers import run

    admin = await db.admin()
    try:
        await admin.execute("ALTER ROLE healthboard_reader NOLOGIN")
    finally:
        await admin.close()
    env = {"HEALTHBOARD_ADMIN_DSN": db.dsn(), "READER_PW": "it's-a-s3cret"}
    code, out, err = await run("migrate", "--login", "healthboard_reader=READER_PW", env=env)
    assert code == 0, err
    assert "s3cret" not in out + err
    conn = await asyncpg.connect(db.dsn("healthboard_reader").replace("secret-healthboard_reader", "it%27s-a-s3cret"))
    await conn.close()
    code, out, err = await run("migrate", "--login", "postgres=READER_PW", env=env)
    assert code == 2 and "expected ROLE=VARIABLE with ROLE one of healthboard_writer, healthboard_reader" in err
    code, out, err = await run("migrate", "--login", "healthboard_writer=UNSET_PW", env=env)
    assert code == 2 and "UNSET_PW is not set" in err


def test_spool_checkpoints_off_the_event_loop_lose_nothing(tmp_path: Path) -> None:
    """Checkpoints (the WAL copied into the database, with an fsync) run from a worker thread while appends
    go on; the automatic one is only a backstop. Nothing is lost or reordered, the WAL stays bounded, and
    close() waits for a running checkpoint instead of pulling its connection away."""
    import threading

    spool = Spool(tmp_path / "s.sqlite3", max_rows=100_000)
    assert spool._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 10_000  # noqa: SLF001
    stop = threading.Event()

    def checkpoint_all_the_time() -> None:
        while not stop.is_set():
            spool.checkpoint()

    worker = threading.Thread(target=checkpoint_all_the_time)
    worker.start()
    try:
        for i in range(3000):
            spool.append([json.dumps([i, "x" * 200])])
            if i % 500 == 499:
                spool.remove_through(spool.peek(100)[-1][0])
    finally:
        stop.set()
        spool.close()
        worker.join()
    wal = tmp_path / "s.sqlite3-wal"
    assert not wal.exists() or wal.stat().st_size == 0, "close truncates the WAL"
    reopened = Spool(tmp_path / "s.sqlite3", max_rows=100_000)
    kept = [json.loads(payload)[0] for _, payload in reopened.peek(10_000)]
    reopened.close()
    assert kept == list(range(600, 3000)), "six removals of the oldest 100, the rest in order"


async def test_incidents_and_maintenance_reach_postgres_once_each(db: Database, tmp_path: Path) -> None:
    """Our detected incidents go through the spool like status events (idempotent ids: two exporters or a resend
    store each change once) and fold into the llm_incidents view; a maintenance record is flagged and left out of
    the views' availability."""
    from healthboard.config.model import SinkConfig
    from healthboard.events import TargetAdded
    from healthboard.history import HistoryBook
    from conftest import target

    t0 = time.time() - 600
    for spool, region in (("a", "seoul"), ("b", "tokyo")):
        sink = PostgresSink(SinkConfig(dsn="x", spool_dir=str(tmp_path / spool), batch_max_age=0.05, instance=f"exp-{region}"),
                            Secret(db.dsn("healthboard_writer")))
        sink.start()
        book = HistoryBook()
        book.listeners.append(sink.submit_incident)
        book.listeners.append(sink.submit_incident)  # sent twice: stored once
        book(TargetAdded(target("http://127.0.0.1:9")))
        for i in range(4):
            book.add(record(ts=t0 + i, ok=False, error_type=ErrorType.SERVER_ERROR, http_status=500, region=region),
                     hard_outage=i == 3)
        for i in range(6):
            book.add(record(ts=t0 + 60 + i, ok=True, region=region), successes=i + 1)
        sink.submit(record(ts=t0, ok=False, error_type=ErrorType.SERVER_ERROR, http_status=500, region=region, maintenance=True))
        sink.submit(record(ts=t0 + 1, ok=True, region=region))
        assert await sink.flush(10)
        await sink.stop()
    events = await db.fetch("SELECT change, instance FROM llm_incident_events ORDER BY instance, ts, change")
    assert sorted((r["change"], r["instance"]) for r in events) == sorted(
        (c, i) for i in ("exp-seoul", "exp-tokyo") for c in ("opened", "major", "resolved"))
    rows = await db.fetch("SELECT provider, model, severity, started_at, ended_at, error_types, regions FROM llm_incidents")
    assert len(rows) == 1, "the same incident seen from two regions is one incident"
    row = rows[0]
    assert (row["provider"], row["model"], row["severity"]) == ("openai", "gpt-4o-mini", "major")
    assert row["started_at"].timestamp() == pytest.approx(t0) and row["ended_at"].timestamp() == pytest.approx(t0 + 65)
    assert json.loads(row["error_types"]) == {"5xx": 4} and row["regions"] == ["seoul", "tokyo"]
    flags = await db.fetch("SELECT maintenance, count(*) AS n FROM llm_checks GROUP BY maintenance ORDER BY maintenance")
    assert [(r["maintenance"], r["n"]) for r in flags] == [(False, 2), (True, 2)]
    daily = await db.fetch("SELECT sum(requests) AS requests, sum(failures) AS failures FROM llm_checks_daily")
    assert (daily[0]["requests"], daily[0]["failures"]) == (2, 0), "maintenance probes are left out of availability"
    reader = await asyncpg.connect(db.dsn("healthboard_reader"))
    try:
        assert len(await reader.fetch("SELECT * FROM llm_incidents")) == 1
    finally:
        await reader.close()
