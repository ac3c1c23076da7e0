"""The probe engine over real loopback sockets against the simulator: every fault, DNS, TLS, refused
connections, hangs and trickles, and latency fidelity."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import ssl
import statistics

import pytest
import trustme
from aiohttp import web

from healthboard.prober.engine import ProbeEngine
from healthboard.simulator import Scenario, Simulator

from conftest import PROVIDERS, Sim, target

EXPECTED = {
    "unauthorized": "auth",
    "forbidden": "auth",
    "rate_limit": "rate_limit",
    "quota": "quota",
    "server_error": "5xx",
    "unavailable": "5xx",
    "overloaded": "overloaded",
    "not_found": "not_found",
    "error_envelope": "invalid_response",
    "malformed_json": "invalid_response",
    "oversized": "invalid_response",
    "reset": "connect",
    "empty": None,
}
COHERE_HAS_NO_OVERLOAD_SIGNAL = {("cohere", "overloaded"): "5xx"}


@pytest.mark.parametrize("provider", list(PROVIDERS))
@pytest.mark.parametrize("fault", list(EXPECTED))
async def test_fault_is_classified(sim: Sim, provider: str, fault: str) -> None:
    sim.script(f"latency: 5ms\nrules:\n  - faults: {{{fault}: 1.0}}\n    retry_after: 3s\n")
    async with ProbeEngine() as engine:
        record = await engine.probe(target(sim.url, provider))
    expected = COHERE_HAS_NO_OVERLOAD_SIGNAL.get((provider, fault), EXPECTED[fault])
    assert (record.error_type.value if record.error_type else None) == expected, record
    assert record.ok is (expected is None)
    if fault == "rate_limit" and provider != "google":  # Gemini says when in the body (RetryInfo), not a header
        assert record.retry_after == pytest.approx(3, abs=0.01)
    if fault == "reset":
        assert record.http_status is None
    if expected is None:
        assert record.output_tokens == 1


@pytest.mark.parametrize("provider", list(PROVIDERS))
async def test_success_over_the_wire(sim: Sim, provider: str) -> None:
    async with ProbeEngine() as engine:
        record = await engine.probe(target(sim.url, provider))
    assert record.ok and record.http_status == 200 and record.error_type is None, record
    assert record.input_tokens and record.output_tokens == 1
    assert record.cost_usd > 0
    assert set(record.phases) >= {"connect", "ttfb", "transfer"}
    if provider in ("openai", "anthropic"):
        assert record.request_id and record.request_id.startswith("req_")
        assert record.ratelimit


async def test_hang_times_out_in_ttfb(sim: Sim) -> None:
    sim.script("latency: 1ms\nrules:\n  - faults: {hang: 1.0}\n    hang_for: 30s\n")
    async with ProbeEngine() as engine:
        record = await engine.probe(target(sim.url, timeout="500ms", interval="10s"))
    assert record.error_type and record.error_type.value == "timeout"
    assert "stalled in ttfb" in (record.error_message or "")
    assert 490 <= record.latency_ms <= 700


async def test_trickling_body_times_out_in_transfer(sim: Sim) -> None:
    sim.script("latency: 1ms\nrules:\n  - faults: {trickle: 1.0}\n    trickle_interval: 50ms\n")
    async with ProbeEngine() as engine:
        record = await engine.probe(target(sim.url, timeout="600ms", interval="10s"))
    assert record.error_type and record.error_type.value == "timeout"
    assert record.http_status == 200  # headers came, the body never finished
    assert "stalled in transfer" in (record.error_message or "")


async def test_latency_within_a_few_ms_of_injected_delay(sim: Sim) -> None:
    sim.script("latency: 200ms\n")
    async with ProbeEngine() as engine:
        t = target(sim.url)
        overheads = [(await engine.probe(t)).latency_ms - 200 for _ in range(7)]
    assert min(overheads) >= 0
    assert statistics.median(overheads) < 10, overheads


async def test_dns_failure() -> None:
    t = target("http://healthboard-test.invalid")
    async with ProbeEngine() as engine:
        record = await engine.probe(t)
    assert record.error_type and record.error_type.value == "dns", record
    assert "dns" in record.phases or record.latency_ms < 3000


async def test_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connections are refused
        async with ProbeEngine() as engine:
            record = await engine.probe(target(f"http://127.0.0.1:{port}"))
    assert record.error_type and record.error_type.value == "connect", record
    assert "refused" in (record.error_message or "").lower()


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


async def _tls_simulator(ca: trustme.CA):  # type: ignore[no-untyped-def]
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server_context)
    runner = web.AppRunner(Simulator(Scenario(latency={"fixed": 0.01})).app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, port


async def test_tls_failure_against_self_signed_server(ca: trustme.CA) -> None:
    runner, port = await _tls_simulator(ca)
    try:
        async with ProbeEngine() as engine:  # trusts only the system CAs
            record = await engine.probe(target(f"https://localhost:{port}"))
    finally:
        await runner.cleanup()
    assert record.error_type and record.error_type.value == "tls", record
    assert "certificate" in (record.error_message or "").lower()


async def test_tls_phase_measured_apart_from_connect(ca: trustme.CA) -> None:
    runner, port = await _tls_simulator(ca)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    try:
        async with ProbeEngine(ssl_context=client_context) as engine:
            records = await asyncio.gather(*(engine.probe(target(f"https://localhost:{port}")) for _ in range(5)))
    finally:
        await runner.cleanup()
    for record in records:
        assert record.ok, record
        assert {"dns", "connect", "tls", "ttfb", "transfer"} <= set(record.phases), record.phases
        assert record.phases["tls"] > 0 and record.phases["connect"] > 0
        assert sum(record.phases.values()) <= record.latency_ms / 1000 + 1e-6


async def test_fresh_connection_per_probe_by_default(sim: Sim) -> None:
    async with ProbeEngine() as engine:
        fresh = target(sim.url)
        records = [await engine.probe(fresh) for _ in range(3)]
        pooled = dataclasses.replace(fresh, keep_alive=True)
        warm = [await engine.probe(pooled) for _ in range(3)]
    assert all("connect" in r.phases for r in records)
    assert "connect" not in warm[-1].phases  # reused connection: no connect phase


async def test_body_over_cap_is_invalid(sim: Sim) -> None:
    sim.script("latency: 1ms\nrules:\n  - faults: {oversized: 1.0}\n")
    async with ProbeEngine(max_body_bytes=64 * 1024) as engine:
        record = await engine.probe(target(sim.url))
    assert record.error_type and record.error_type.value == "invalid_response"
    assert "cap" in (record.error_message or "")


def test_engine_on_uvloop_measures_every_phase(ca: trustme.CA) -> None:
    """`healthboard serve --loop uvloop` runs the engine on uvloop: the TLS stamping
    (a proxy around the loop's create_connection) and the phase timing must hold there too."""
    import uvloop  # in the test extra

    from healthboard.app.run import run

    async def probe_over_tls() -> int:
        assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
        runner, port = await _tls_simulator(ca)
        client_context = ssl.create_default_context()
        ca.configure_trust(client_context)
        try:
            async with ProbeEngine(ssl_context=client_context) as engine:
                record = await engine.probe(target(f"https://localhost:{port}"))
        finally:
            await runner.cleanup()
        assert record.ok, record
        assert {"dns", "connect", "tls", "ttfb", "transfer"} <= set(record.phases), record.phases
        assert record.phases["tls"] > 0 and record.phases["connect"] > 0
        assert 10 <= record.latency_ms < 1000
        return 0

    assert run(probe_over_tls(), "uvloop") == 0


async def test_busy_event_loop_does_not_stretch_the_reply_stamps() -> None:
    """The reply's bytes are stamped by the protocol as the loop hands them over, not when the probe's task
    next gets its turn. With the loop kept busy in 4 ms slices (as a scrape or the sink might), the task
    finishes at least one slice after the last byte; that slice must not be in the reported latency."""
    import http.server
    import threading
    import time

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server API
            self.rfile.read(int(self.headers["Content-Length"]))
            time.sleep(0.05)
            body = b'{"id":"x","object":"chat.completion","choices":[]}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # its own thread: the busy loop can't delay it
    threading.Thread(target=server.serve_forever, daemon=True).start()
    busy = True

    async def hog() -> None:
        while busy:
            time.sleep(0.004)
            await asyncio.sleep(0)

    hogging = asyncio.create_task(hog())
    gaps = []
    try:
        async with ProbeEngine() as engine:
            for _ in range(7):
                started = time.perf_counter()
                record = await engine.probe(target(f"http://127.0.0.1:{server.server_address[1]}"))
                gaps.append((time.perf_counter() - started) * 1000 - record.latency_ms)
                assert record.latency_ms >= 50 and record.http_status == 200, record
                assert sum(record.phases.values()) <= record.latency_ms / 1000 + 1e-6
    finally:
        busy = False
        await hogging
        server.shutdown()
        server.server_close()
    assert statistics.median(gaps) >= 2.0, gaps
