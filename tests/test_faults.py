"""Fault injection against the real program: a full disk under the spool, a database that stalls, probes
that raise, reload storms, slow clients, credentials echoed back, error shapes of real providers, and the
operator's command line. Real sockets, a real PostgreSQL (tests/test_sink.py's fixtures), a real tmpfs
where the machine lets us mount one."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import io
import json
import logging
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from healthboard.cli import main
from healthboard.events import Probed
from healthboard.config import load_config, parse_config
from healthboard.logs import setup_logging
from healthboard.metrics import Metrics
from healthboard.prober import WIRE_FORMATS
from healthboard.record import ErrorType
from healthboard.app.run import running_exporter, run_once
from healthboard.secrets import Secret
from healthboard.app.exporter import plan_or_fail
from healthboard.sink import PostgresSink

from conftest import IN_CI, Sim, config_text
from helpers import Database, Proxy, SINK, ids_in_db, record, upstream_port, via

pytestmark = pytest.mark.timeout(180)
FAST = {"interval": "300ms", "timeout": "250ms", "recheck_interval": "0"}


class CannotMount(Exception):
    pass


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "512k", read_only: bool = False) -> Iterator[Path]:
    """A small tmpfs at ``path`` (root and CAP_SYS_ADMIN needed)."""
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        raise CannotMount(done.stderr.strip() or f"mount exited {done.returncode}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def need_mount(exc: CannotMount) -> None:
    message = f"can't mount a tmpfs here ({exc}): run the suite as root with CAP_SYS_ADMIN"
    if IN_CI:
        pytest.fail(message)
    pytest.skip("SKIPPED LOUDLY: " + message)


def fill(folder: Path) -> Path:
    """Fill the filesystem of ``folder`` to the last byte; return the filler file (delete it to free space)."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as out:
        for size in (65536, 4096, 512, 1):
            while True:
                try:
                    out.write(b"\0" * size)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    break
    return filler


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- faults --------------------------------------------------------------------------------------------


async def test_spool_disk_full_holds_records_in_memory_and_loses_nothing(db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Issue 13, fault 1: with the spool's disk full and Postgres down, appends fail. Nothing may be lost,
    no traceback per record, the loop must not spin, and everything arrives once space and the database return."""
    from healthboard.config.model import SinkConfig

    proxy = Proxy(upstream_port(db))
    await proxy.up()
    await proxy.down()  # the database is unreachable from the start
    try:
        mounted = tmpfs(tmp_path / "small")
        folder = mounted.__enter__()
    except CannotMount as exc:
        need_mount(exc)
    try:
        metrics = Metrics()
        config = SinkConfig(dsn=via(db, proxy), spool_dir=str(folder), batch_size=50, batch_max_age=0.1, connect_timeout=0.5, retry_max=0.5)
        sink = PostgresSink(config, Secret(config.dsn or ""), metrics.own)
        sink.start()
        filler = fill(folder)
        produced: list[str] = []
        caplog.set_level(logging.WARNING)
        for _ in range(40):
            batch = [record() for _ in range(10)]
            produced += [r.id for r in batch]
            sink.submit_many(batch)
            await asyncio.sleep(0.01)
        assert metrics.registry.get_sample_value("healthboard_sink_spool_errors_total") > 0
        assert sink.waiting == len(produced)  # spooled or held in memory: all of it
        spool_errors = [r for r in caplog.records if "can't take records" in r.getMessage()]
        assert len(spool_errors) == 1 and not any(r.exc_info for r in caplog.records)  # one line, no tracebacks
        # the writer must not spin while it can do nothing
        before = cpu_seconds()
        started = time.perf_counter()
        await asyncio.sleep(1.0)
        assert time.perf_counter() - started < 1.3  # the loop answers
        assert cpu_seconds() - before < 0.5, "the sink writer spins"
        filler.unlink()
        await proxy.up()
        sink._wake.set()  # noqa: SLF001 - no need to wait out the backoff
        for _ in range(200):
            await asyncio.sleep(0.05)
            if sink.waiting == 0:
                break
        assert sink.waiting == 0
        await sink.stop()
        in_db = await ids_in_db(db)
        assert sorted(in_db) == sorted(produced) and len(set(in_db)) == len(in_db)
    finally:
        await proxy.down()
        mounted.__exit__(None, None, None)


def test_spool_count_stays_true_when_a_commit_fails(tmp_path: Path) -> None:
    """The spool's count is only changed by a committed append (it was incremented before COMMIT, and the
    writer then peeked an empty spool forever)."""
    import sqlite3

    from healthboard.sink.spool import Spool

    spool = Spool(tmp_path / "s.sqlite3", max_rows=1000)
    spool.append(["[1]"])
    spool._db.execute("PRAGMA max_page_count = 2")  # noqa: SLF001 - the file can't grow: SQLITE_FULL, like a full disk
    with pytest.raises(sqlite3.OperationalError):
        spool.append([json.dumps(["x" * 4000]) for _ in range(20)])
    assert spool.count == 1 == spool.recount()
    assert [p for _, p in spool.peek(10)] == ["[1]"]
    spool.close()


@pytest.mark.parametrize("case", ["under-a-file", "corrupt", "read-only"])
def test_unusable_spool_at_start_is_a_clear_error(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spool_dir = tmp_path / "spool"
    mounted = None
    if case == "under-a-file":
        (tmp_path / "afile").write_text("x")
        spool_dir = tmp_path / "afile" / "spool"
        expect = "is a file: set sink.spool_dir to a directory"
    elif case == "corrupt":
        spool_dir.mkdir()
        (spool_dir / "spool.sqlite3").write_bytes(b"this is not a database" * 100)
        expect = "is not a healthboard spool or is damaged: move it aside"
    else:
        try:
            mounted = tmpfs(spool_dir, read_only=True)
            mounted.__enter__()
        except CannotMount as exc:
            need_mount(exc)
        expect = "writable"
    path = tmp_path / "healthboard.yml"
    path.write_text(config_text("http://127.0.0.1:9", ["openai"]) + SINK.format(dsn="postgresql://w:pw@127.0.0.1:9/db", spool=spool_dir))
    try:
        assert main(["serve", "--config", str(path), "--listen", "127.0.0.1:0"]) == 2
    finally:
        if mounted is not None:
            mounted.__exit__(None, None, None)
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(spool_dir) in err and expect in err, err
    assert f"{path}: invalid configuration (1 problem)\n  sink.spool_dir: spool {spool_dir}" in err, err


async def test_stalled_database_write_is_abandoned_counted_and_retried(db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Issue 13, fault 4: a database that accepts and then never answers (mid-transaction) must not hang the
    sink: every write has one deadline that discards the connection; the batch stays spooled and arrives later."""
    from healthboard.config.model import SinkConfig

    stalled = asyncio.Event()
    held: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port(db))
        held.extend([writer, up_writer])

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    while stalled.is_set():  # swallow nothing, forward nothing: the connection hangs
                        await asyncio.sleep(0.05)
                    dst.write(data)
                    await dst.drain()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    metrics = Metrics()
    dsn = db.dsn("healthboard_writer").replace(f":{upstream_port(db)}/", f":{port}/")
    config = SinkConfig(dsn=dsn, spool_dir=str(tmp_path), batch_size=5, batch_max_age=0.05, connect_timeout=0.5,
                        write_timeout=1.0, retry_max=0.3)
    sink = PostgresSink(config, Secret(dsn), metrics.own)
    sink.start()
    produced = [record() for _ in range(5)]
    sink.submit_many(produced)
    assert await sink.flush(5)
    stalled.set()
    later = [record() for _ in range(20)]
    sink.submit_many(later)
    caplog.set_level(logging.WARNING)
    await asyncio.sleep(2.5)
    assert metrics.registry.get_sample_value("healthboard_sink_write_errors_total") >= 1
    assert any("no answer within 1s: the connection was discarded" in r.getMessage() for r in caplog.records)
    assert sink.waiting == 20
    stalled.clear()
    assert await sink.flush(10), f"{sink.waiting} records still waiting after the database came back"
    await sink.stop()
    for writer in held:
        writer.transport.abort()
    server.close()
    in_db = await ids_in_db(db)
    assert sorted(in_db) == sorted(r.id for r in produced + later)


def test_stalled_sink_alert_exists_and_is_tested() -> None:
    rules = Path(__file__).parents[1] / "prometheus"
    assert "alert: HealthboardSinkStalled" in (rules / "rules" / "alerts.yml").read_text()
    assert "HealthboardSinkStalled" in (rules / "tests" / "selfmon.yml").read_text()


async def test_a_probe_that_raises_is_recorded_logged_and_probing_goes_on(sim: Sim, monkeypatch: pytest.MonkeyPatch,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    """Issue 13, fault 2: an exception inside a probe must not silently end its target."""
    wire = WIRE_FORMATS["openai"]
    original = wire.build_request
    calls = {"n": 0}

    def flaky(target):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] <= 2:
            raise ValueError("Newline or carriage return character detected in HTTP status message or header")
        return original(target)

    monkeypatch.setattr(wire, "build_request", flaky)
    caplog.set_level(logging.WARNING)
    config = parse_config(config_text(sim.url, ["openai"], **FAST), "t", {})
    async with running_exporter(config, plan_or_fail(config, "t", {}), None, "127.0.0.1:0", environ={}) as (exporter, url):
        await asyncio.sleep(1.3)
        records = list(exporter.recent.newest_first())
        async with aiohttp.ClientSession() as session, session.get(url + "/api/health") as response:
            health = await response.json()
    assert [r.error_type for r in records[-2:]] == [ErrorType.OTHER, ErrorType.OTHER]
    assert records[0].ok and len(records) >= 4  # probing went on
    assert any("openai/gpt-4o-mini/chat" in r.getMessage() and "ValueError" in r.getMessage() for r in caplog.records)
    assert health["targets"][0]["status"] != "unknown"


async def test_a_key_from_a_crlf_env_file_still_works(sim: Sim) -> None:
    env = {"OPENAI_API_KEY": "sk-test-openai-0123456789abcdef\r"}
    text = config_text(sim.url, ["openai"], **FAST).replace("api_key: sk-test-openai-0123456789abcdef", "api_key: ${OPENAI_API_KEY}")
    config = parse_config(text, "t", env)
    records = await run_once(plan_or_fail(config, "t", env), config)
    assert records[0].ok, records[0]


async def test_reload_storm_records_every_call_it_paid_for(sim: Sim, tmp_path: Path) -> None:
    """Issue 13, fault 5: a reload must not cancel a probe in flight (billed, never recorded)."""
    sim.script("latency: 150ms\n")
    path = tmp_path / "healthboard.yml"
    path.write_text(config_text(sim.url, ["openai", "anthropic"], interval="200ms", timeout="190ms", recheck_interval="0"))
    produced: list[str] = []
    config = load_config(path, {})
    async with running_exporter(config, plan_or_fail(config, "t", {}), str(path), "127.0.0.1:0", environ={}) as (exporter, _):
        exporter.scheduler.consumers.insert(0, lambda event: produced.append(event.record.id) if isinstance(event, Probed) else None)
        for i in range(40):
            interval = ("200ms", "180ms")[i % 2]
            providers = ["openai", "anthropic"] if i % 5 else ["openai"]
            path.write_text(config_text(sim.url, providers, interval=interval, timeout="170ms", recheck_interval="0"))
            exporter.reload()
            await asyncio.sleep(0.06)
    served = sum(sim.simulator.requests.values())
    assert served > 20 and len(produced) == served, (len(produced), served)


# -- security ------------------------------------------------------------------------------------------


def test_default_bind_is_loopback() -> None:
    assert parse_config(config_text("http://x", ["openai"]), "t", {}).listen == "127.0.0.1:9464"


async def test_slow_client_is_disconnected(sim: Sim) -> None:
    config = parse_config(config_text(sim.url, ["openai"], interval="30s"), "t", {})
    async with running_exporter(config, plan_or_fail(config, "t", {}), None, "127.0.0.1:0", environ={}, request_timeout=1.0) as (_, url):
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        started = time.perf_counter()
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        closed_after = None
        for _ in range(30):  # a header line every 200 ms, never the blank line
            await asyncio.sleep(0.2)
            if reader.at_eof():
                closed_after = time.perf_counter() - started
                break
            with contextlib.suppress(ConnectionError):
                writer.write(b"X-Slow: 1\r\n")
                await writer.drain()
            with contextlib.suppress(asyncio.TimeoutError):
                if await asyncio.wait_for(reader.read(1), 0.01) == b"":
                    closed_after = time.perf_counter() - started
                    break
        writer.transport.abort()
    assert closed_after is not None and closed_after < 2.5, closed_after


async def test_a_credential_echoed_by_the_upstream_is_scrubbed_everywhere(db: Database, tmp_path: Path) -> None:
    """Issue 13, item 7: an extra-header credential a gateway echoes back never reaches /api/checks,
    /api/metrics or Postgres."""
    credential = "gw-cred-7f3a9c2e5b1d4f60"

    async def echo(request: web.Request) -> web.Response:
        seen = request.headers.get("X-Gateway-Key", "")
        return web.json_response({"error": {"message": f"upstream rejected X-Gateway-Key={seen}", "type": "server_error"}},
                                 status=500, headers={"x-request-id": f"req-{seen}"})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    text = (f"interval: 300ms\ntimeout: 250ms\nrecheck_interval: 0\nproviders:\n  - name: gateway\n    kind: openai\n"
            f"    base_url: http://127.0.0.1:{port}/v1\n    api_key: sk-gateway-0123456789abcdef\n"
            f"    headers: {{X-Gateway-Key: {credential}}}\n    models: [gpt-4o-mini]\n")
    text += SINK.format(dsn=db.dsn("healthboard_writer"), spool=tmp_path / "spool")
    config = parse_config(text, "t", {})
    try:
        async with running_exporter(config, plan_or_fail(config, "t", {}), None, "127.0.0.1:0", environ={}) as (exporter, url):
            await asyncio.sleep(1.0)
            async with aiohttp.ClientSession() as session:
                checks = await (await session.get(url + "/api/checks")).text()
                api_metrics = await (await session.get(url + "/api/metrics")).text()
                prom = await (await session.get(url + "/metrics")).text()
            assert exporter.sink is not None and await exporter.sink.flush(5)
    finally:
        await runner.cleanup()
    rows = await db.fetch("SELECT error_message, request_id FROM llm_checks")
    assert rows and "X-Gateway-Key=[REDACTED]" in rows[0]["error_message"]
    for text_out in (checks, api_metrics, prom, json.dumps([dict(r) for r in rows])):
        assert credential not in text_out
    assert "X-Gateway-Key=[REDACTED]" in checks


@pytest.mark.parametrize("key", ["sk-proj-Zq3vT9xW2mK7pL4nR8sY1bC6", "Zq3vT9xW2mK7pL4nR8sY1bC6dF0gH5jE"])
async def test_a_key_pasted_into_the_wrong_field_is_never_quoted(key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = f"providers:\n  - name: openai\n    kind: {key}\n    base_url: https://api.openai.com/v1\n    models: [gpt-4o-mini]\n"
    path = tmp_path / "bad.yml"
    path.write_text(bad)
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert key not in err and "[REDACTED]" in err and "line 3 (providers[0].kind)" in err
    good = config_text("http://127.0.0.1:9", ["openai"], interval="30s") + "api_token: tok-0123456789\n"
    path.write_text(good)
    config = load_config(path, {})
    async with running_exporter(config, plan_or_fail(config, "t", {}), str(path), "127.0.0.1:0", environ={}) as (_, url):
        path.write_text(good + bad.replace("providers:\n", "extra_providers:\n"))
        async with aiohttp.ClientSession() as session:
            response = await session.post(url + "/-/reload", headers={"Authorization": "Bearer tok-0123456789"})
            body = await response.text()
    assert response.status == 400 and key not in body


# -- classification end to end: the simulator serves the documented shapes -----------------------------


async def test_quota_shapes_of_real_providers_are_quota_end_to_end(sim: Sim) -> None:
    """Issue 13, items 10-14: each billing error as the provider documents it, served by the simulator and
    classified by the exporter; Gemini's RetryInfo paces the backoff."""
    sim.script("""
latency: 1ms
rules:
  - {match: {kind: openai}, sequence: [payment_required, gateway_quota, rate_limit]}
  - {match: {kind: anthropic}, sequence: [spend_limit, payment_required, rate_limit]}
  - {match: {kind: gemini}, sequence: [payment_required, spend_limit, rate_limit], retry_after: 37s}
""")
    config = parse_config(config_text(sim.url, ["openai", "anthropic", "google"], **FAST), "t", {})
    plan = plan_or_fail(config, "t", {})
    rounds = [await run_once(plan, config) for _ in range(3)]
    by_round = [{r.provider: r for r in records} for records in rounds]
    for provider in ("openai", "anthropic", "google"):
        assert [by_round[i][provider].error_type for i in range(3)] == [ErrorType.QUOTA, ErrorType.QUOTA, ErrorType.RATE_LIMIT], provider
    assert by_round[2]["google"].retry_after == 37.0  # from RetryInfo in the body: Gemini sends no Retry-After header
    assert by_round[0]["anthropic"].request_id and by_round[0]["anthropic"].request_id.startswith("req_")


# -- the operator's side -------------------------------------------------------------------------------


async def test_state_changes_are_logged_once_each_as_json(sim: Sim) -> None:
    sim.script("latency: 1ms\nrules:\n  - {match: {kind: openai}, sequence: [ok, server_error, server_error, server_error, ok, ok, ok, ok, ok, ok, ok, ok]}\n")
    stream = io.StringIO()
    setup_logging("info", "json")
    handler = logging.getLogger().handlers[0]
    handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        config = parse_config(config_text(sim.url, ["openai"], interval="150ms", timeout="100ms", recheck_interval="0"), "t", {})
        async with running_exporter(config, plan_or_fail(config, "t", {}), None, "127.0.0.1:0", environ={}):
            await asyncio.sleep(1.5)
    finally:
        setup_logging("info")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    mine = [line for line in lines if line.get("target") == "openai/gpt-4o-mini/chat"]
    assert [(m["level"], m["ok"]) for m in mine] == [("warning", False), ("info", True)], mine
    assert mine[0]["error_type"] == "5xx" and mine[0]["http_status"] == 500 and "failing" in mine[0]["message"]
    assert "after 3 failed probes" in mine[1]["message"]


def test_once_into_a_closed_pipe_is_quiet(sim_process_url: str, tmp_path: Path) -> None:
    path = tmp_path / "healthboard.yml"
    path.write_text(config_text(sim_process_url, None, interval="30s"))
    done = subprocess.run(f"{sys.executable} -m healthboard once --config {path} --format json --log-level warning | head -1",
                          shell=True, capture_output=True, text=True, timeout=60)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert json.loads(done.stdout.splitlines()[0])["provider"] == "openai"


def test_logging_options_after_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    default = Path(__file__).parents[1] / "exporter/healthboard/data/default.yml"
    assert main(["check-config", str(default), "--log-level", "debug", "--log-format", "json"]) == 0
    assert logging.getLogger().level == logging.DEBUG
    setup_logging("info")


def test_no_keys_set_says_nothing_to_probe_not_invalid(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    assert main(["once"]) == 2
    err = capsys.readouterr().err
    assert "nothing to probe: 3 providers skipped" in err and "invalid configuration" not in err, err


@pytest.fixture
def sim_process_url() -> Iterator[str]:
    """A simulator in its own process (for tests that run the CLI in a subprocess)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "healthboard", "simulate", "--listen", f"127.0.0.1:{port}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.1):
                break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)
