"""The HTTP API of a live exporter probing the simulator over loopback."""

from __future__ import annotations

import asyncio
import logging
import math
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families


from conftest import PROVIDERS, Sim, config_text
from helpers import exporter_for

FAST = dict(interval="300ms", timeout="200ms", recheck_interval="200ms")


async def get(url: str, **kwargs: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(url, **kwargs) as response:
        body = await response.json() if response.content_type == "application/json" else await response.text()
        return response.status, body


async def post(url: str, **kwargs: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.post(url, **kwargs) as response:
        return response.status, await response.json()


async def test_landing_and_lifecycle(sim: Sim) -> None:
    async with exporter_for(config_text(sim.url, ["openai"], **FAST)) as (_, url):
        status, page = await get(url + "/")
        assert status == 200
        for link in ("/metrics", "/api/health", "/api/metrics", "/api/checks", "/api/config", "/-/healthy", "/-/ready"):
            assert f'href="{link}' in page
        assert (await get(url + "/-/healthy"))[0] == 200
        assert (await get(url + "/-/ready"))[0] == 200


async def test_health_semantics(sim: Sim) -> None:
    sim.script("""
latency: 5ms
rules:
  - match: {kind: openai}
    faults: {server_error: 1.0}
  - match: {kind: gemini}
    faults: {rate_limit: 1.0}
    retry_after: 0.1s
  - match: {kind: anthropic}
    latency: 150ms
""")
    extra = "health: {degraded_p95: 100ms}\n"
    text = config_text(sim.url, extra=extra, **FAST).replace("co-test-0123456789abcdef", "invalid-cohere-key")
    async with exporter_for(text) as (_, url):
        await asyncio.sleep(1.0)
        status, body = await get(url + "/api/health")
    assert status == 503 and body["status"] == "unhealthy"
    by_provider = {t["provider"]: t for t in body["targets"]}
    assert by_provider["openai"]["status"] == "unhealthy" and by_provider["openai"]["failures"]["5xx"] >= 2
    assert by_provider["google"]["status"] == "degraded" and "rate limited" in by_provider["google"]["reason"]
    assert by_provider["anthropic"]["status"] == "degraded" and "p95" in by_provider["anthropic"]["reason"]
    assert by_provider["cohere"]["status"] == "misconfigured" and "auth" in by_provider["cohere"]["reason"]


async def test_health_says_recovering_after_an_outage_not_a_stale_unhealthy(sim: Sim) -> None:
    sim.script("latency: 2ms\nrules:\n  - match: {kind: openai}\n    faults: {server_error: 1.0}\n    until: 1s\n")
    async with exporter_for(config_text(sim.url, ["openai"], **FAST)) as (_, url):
        await asyncio.sleep(0.9)
        status, body = await get(url + "/api/health")
        assert status == 503 and body["targets"][0]["status"] == "unhealthy", body
        await asyncio.sleep(2.6)  # the outage ended at 1 s; re-checks every 0.1-0.2 s give 6 successes well before
        status, body = await get(url + "/api/health")
    target = body["targets"][0]
    assert status == 200 and body["status"] == "recovering", body
    assert target["status"] == "recovering" and "probes ok in a row" in target["reason"] and "ageing out" in target["reason"], target
    assert target["failures"]["5xx"] >= 2  # the failures are still in the window: without the gate it would say unhealthy


async def test_healthy_is_200(sim: Sim) -> None:
    async with exporter_for(config_text(sim.url, ["openai", "anthropic"], **FAST)) as (_, url):
        await asyncio.sleep(0.5)
        status, body = await get(url + "/api/health")
    assert status == 200 and body["status"] == "healthy"
    assert all(t["status"] == "healthy" for t in body["targets"])


async def test_api_metrics_figures(sim: Sim) -> None:
    sim.script("latency: 20ms\nrules:\n  - match: {kind: openai}\n    sequence: [ok, server_error]\n")
    async with exporter_for(config_text(sim.url, ["openai"], **{**FAST, "recheck_interval": "0"})) as (_, url):
        await asyncio.sleep(1.3)
        _, body = await get(url + "/api/metrics")
    row = body["targets"][0]
    assert row["id"] == "openai/gpt-4o-mini/chat" and row["window_seconds"] == 900
    assert row["requests"] >= 4
    assert row["failures"]["5xx"] == row["requests"] // 2
    assert row["success_ratio"] == pytest.approx((row["requests"] - row["failures"]["5xx"]) / row["requests"])
    assert 20 <= row["p50_ms"] <= row["p95_ms"] < 100
    assert row["interval_seconds"] == 0.3 and row["paused"] is False and row["cost_usd"] > 0
    assert row["last"]["provider"] == "openai"


async def test_checks_drilldown(sim: Sim) -> None:
    sim.script("latency: 1ms\nrules:\n  - match: {kind: openai}\n    faults: {server_error: 1.0}\n")
    async with exporter_for(config_text(sim.url, ["openai", "anthropic"], **FAST)) as (_, url):
        await asyncio.sleep(0.8)
        _, failed = await get(url + "/api/checks?failed=true&limit=2")
        _, anthropic = await get(url + "/api/checks?provider=anthropic")
        status, error = await get(url + "/api/checks?limit=zero")
        status2, error2 = await get(url + "/api/checks?provder=x")
    assert len(failed["checks"]) == 2 and all(not c["ok"] and c["error_type"] == "5xx" for c in failed["checks"])
    assert failed["checks"][0]["ts"] >= failed["checks"][1]["ts"]  # newest first
    assert anthropic["checks"] and all(c["provider"] == "anthropic" and c["ok"] for c in anthropic["checks"])
    assert status == 400 and "limit" in error["error"]
    assert status2 == 400 and "provder" in error2["error"]


async def test_checks_stream_as_one_json_document_in_batches(sim: Sim) -> None:
    """/api/checks is written 200 checks at a time: every batch boundary must still give one valid document,
    newest first, cut at the limit."""
    from helpers import record

    sim.script("latency: 1ms\n")
    async with exporter_for(config_text(sim.url, ["openai"], interval="1h", recent_checks="1000")) as (exporter, url):
        for i in range(450):
            exporter.recent._ring.append(record(ts=1_800_000_000.0 + i, ok=i % 3 != 0, provider="injected"))
        documents = {limit: await get(url + f"/api/checks?provider=injected&limit={limit}") for limit in (1, 200, 201, 400, 1000)}
        _, failed = await get(url + "/api/checks?provider=injected&failed=true&limit=1000")
    for limit, (status, body) in documents.items():
        checks = body["checks"]
        assert status == 200 and len(checks) == min(limit, 450), (limit, len(checks))
        assert [c["ts"] for c in checks] == sorted((c["ts"] for c in checks), reverse=True)
    assert len(failed["checks"]) == 150 and not any(c["ok"] for c in failed["checks"])


async def test_checks_survive_new_probes_arriving_while_they_are_written(sim: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    """A probe finishing during the streamed write appends to the ring being read: the answer must still be the
    checks chosen when the request came (iterating the ring across the writes raised "deque mutated")."""
    from aiohttp import web

    from helpers import record

    sim.script("latency: 1ms\n")
    async with exporter_for(config_text(sim.url, ["openai"], interval="1h", recent_checks="1000")) as (exporter, url):
        for i in range(450):
            exporter.recent._ring.append(record(ts=1_800_000_000.0 + i, provider="injected"))
        write = web.StreamResponse.write

        async def write_while_probing(self: web.StreamResponse, data: bytes) -> None:
            exporter.recent._ring.append(record(ts=1_900_000_000.0, provider="injected"))  # a probe ends meanwhile
            await write(self, data)

        monkeypatch.setattr(web.StreamResponse, "write", write_while_probing)
        status, body = await get(url + "/api/checks?provider=injected&limit=1000")
    assert status == 200 and len(body["checks"]) == 450


async def test_config_is_redacted(sim: Sim) -> None:
    text = config_text(sim.url, **FAST) + "api_token: very-secret-token-123\n"
    async with exporter_for(text) as (_, url):
        status, body = await get(url + "/api/config")
    assert status == 200
    raw = str(body)
    for _, _, key, _ in PROVIDERS.values():
        assert key not in raw
    assert "very-secret-token-123" not in raw
    assert body["config"]["providers"][0]["api_key"] == "[REDACTED]"
    assert body["kill_switch"] == "enabled"


async def test_kill_switch(sim: Sim) -> None:
    async with exporter_for(config_text(sim.url, ["openai"], **FAST)) as (_, url):
        status, body = await post(url + "/api/targets/openai/gpt-4o-mini/chat/pause")
        assert status == 403 and "api_token" in body["error"]
    text = config_text(sim.url, ["openai"], **FAST) + "api_token: tok-0123456789\n"
    async with exporter_for(text) as (exporter, url):
        target_url = url + "/api/targets/openai/gpt-4o-mini/chat"
        assert (await post(target_url + "/pause", headers={"Authorization": "Bearer wrong"}))[0] == 401
        assert (await post(url + "/api/targets/nope/pause", headers={"Authorization": "Bearer tok-0123456789"}))[0] == 404
        status, body = await post(target_url + "/pause", headers={"Authorization": "Bearer tok-0123456789"})
        assert status == 200 and body["paused"] is True
        await asyncio.sleep(0.1)
        before = len(list(exporter.recent.newest_first()))
        await asyncio.sleep(0.7)
        assert len(list(exporter.recent.newest_first())) == before
        _, metrics = await get(url + "/metrics")
        assert 'llm_probe_paused{provider="openai",model="gpt-4o-mini",region="default",check="chat"} 1\n' in metrics
        _, health = await get(url + "/api/health")
        assert health["targets"][0]["status"] == "paused"
        status, body = await post(target_url + "/resume", headers={"Authorization": "Bearer tok-0123456789"})
        assert status == 200 and body["paused"] is False
        await asyncio.sleep(0.7)
        assert len(list(exporter.recent.newest_first())) > before


async def test_reload_good_and_bad(sim: Sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from healthboard.web import app as web_app

    monkeypatch.setattr(web_app, "RELOAD_MIN_GAP", 0.0)
    auth = {"Authorization": "Bearer tok-0123456789"}
    token = "api_token: tok-0123456789\n"
    path = tmp_path / "healthboard.yml"
    path.write_text(config_text(sim.url, ["openai"], **FAST) + token)
    async with exporter_for(path.read_text(), str(path)) as (exporter, url):
        path.write_text(config_text(sim.url, ["openai", "anthropic"], **FAST) + token)
        assert (await post(url + "/-/reload"))[0] == 401  # state-changing: the token is required
        status, body = await post(url + "/-/reload", headers=auth)
        assert status == 200 and body["targets"] == 2
        path.write_text(config_text(sim.url, ["openai"], **FAST) + token + "bogus_key: 1\n")
        status, body = await post(url + "/-/reload", headers=auth)
        assert status == 400 and "unknown key 'bogus_key'" in body["detail"] and str(path) in body["detail"]
        _, metrics = await get(url + "/metrics")
        assert "healthboard_config_last_reload_successful 0.0" in metrics
        assert len(exporter.scheduler.states) == 2  # the old config keeps running
        path.write_text(config_text(sim.url, ["openai"], **FAST) + token)
        assert (await post(url + "/-/reload", headers=auth))[0] == 200
        _, metrics = await get(url + "/metrics")
        assert "healthboard_config_last_reload_successful 1.0" in metrics
        assert len(exporter.scheduler.states) == 1


async def test_reload_needs_a_token_and_is_rate_limited(sim: Sim, tmp_path: Path) -> None:
    sim.script("status_pages:\n  p:\n    format: statuspage\n    components: [API]\n")
    pages = f"status:\n  pages:\n    - {{provider: openai, format: statuspage, url: '{sim.url}/status/p', components: [API]}}\n"
    path = tmp_path / "healthboard.yml"
    path.write_text(config_text(sim.url, ["openai"], **FAST) + pages)
    async with exporter_for(path.read_text(), str(path)) as (_, url):
        status, body = await post(url + "/-/reload")
        assert status == 403 and "api_token" in body["error"] and "SIGHUP" in body["error"]
    path.write_text(config_text(sim.url, ["openai"], **FAST) + pages + "api_token: tok-0123456789\n")
    async with exporter_for(path.read_text(), str(path)) as (exporter, url):
        await asyncio.sleep(0.3)
        polls = exporter.status.polls
        assert polls == 1
        answers = [await post(url + "/-/reload", headers={"Authorization": "Bearer tok-0123456789"}) for _ in range(20)]
        codes = [status for status, _ in answers]
        assert codes[0] == 200 and set(codes[1:]) == {429}, codes
        await asyncio.sleep(0.2)
        assert exporter.status.polls == polls  # reloads never start extra status-page polls


async def test_series_exist_from_first_scrape(sim: Sim) -> None:
    async with exporter_for(config_text(sim.url, ["openai"], interval="30s", timeout="1s")) as (_, url):
        _, metrics = await get(url + "/metrics")
    failures = {s.labels["error_type"]: s.value for f in text_string_to_metric_families(metrics) for s in f.samples
                if s.name == "llm_probe_failures_total"
                and {k: v for k, v in s.labels.items() if k != "error_type"}
                == {"provider": "openai", "model": "gpt-4o-mini", "region": "default", "check": "chat"}}
    assert failures == {}  # one series per error type seen, from its first failure (the rules count it: prometheus/tests/lazy-failures.yml)
    for name in ("llm_probe_requests_total", "llm_probe_evidence_failures_total", "llm_probe_consecutive_failures", "llm_probe_success", "llm_probe_interval_seconds",
                 "llm_probe_duration_seconds_bucket", "llm_probe_cost_usd_total", "llm_probe_last_run_timestamp_seconds",
                 "healthboard_build_info", "healthboard_scheduler_lag_seconds_bucket", "healthboard_config_last_reload_successful"):
        assert name in metrics, name
    assert "Values come from scheduled synthetic probes." in metrics


async def test_secrets_appear_nowhere(sim: Sim, caplog: pytest.LogCaptureFixture) -> None:
    secret = "sk-KNOWN-SECRET-4f9a8b7c6d5e"
    sim.script("latency: 1ms\nrules:\n  - match: {kind: openai}\n    faults: {unauthorized: 1.0}\n  - match: {kind: cohere}\n    faults: {reset: 1.0}\n")
    text = config_text(sim.url, **FAST).replace("sk-test-openai-0123456789abcdef", secret).replace("co-test-0123456789abcdef", secret)
    text += f"api_token: {secret}-token\n"
    caplog.set_level(logging.DEBUG)
    async with exporter_for(text) as (_, url):
        await asyncio.sleep(0.8)
        pages = [await get(url + path) for path in ("/metrics", "/", "/api/health", "/api/metrics", "/api/config",
                                                     "/api/checks", "/api/checks?failed=true")]
    for _, page in pages:
        assert secret not in str(page) and secret[3:15] not in str(page)
    assert secret not in caplog.text


@pytest.mark.parametrize(("header", "gzip"), [
    ("gzip", True), ("gzip, deflate", True), ("deflate, gzip;q=0.5", True), ("*", True), ("x-gzip", True),
    ("gzip;q=0", False), ("identity", False), ("", False), ("deflate, *;q=0", False), ("gzip;q=0, *", False),
])
def test_accept_encoding(header: str, gzip: bool) -> None:
    from healthboard.web.app import accepts_gzip

    assert accepts_gzip(header) is gzip


@pytest.mark.parametrize("budget", [0.0, math.inf])
async def test_metrics_gzip_when_accepted(sim: Sim, budget: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """Prometheus asks for gzip: the streamed, compressed /metrics must decompress to the exposition, when it is
    compressed in many pieces (with no time budget, one a block of targets) as when it is one."""
    import gzip

    from healthboard.metrics import Metrics

    render_chunks = Metrics.render_chunks
    monkeypatch.setattr(Metrics, "render_chunks", lambda self, _=None: render_chunks(self, budget))
    async with exporter_for(config_text(sim.url, ["openai"], interval="30s", timeout="1s")) as (exporter, url):
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            async with session.get(url + "/metrics", headers={"Accept-Encoding": "gzip"}) as response:
                assert response.headers["Content-Encoding"] == "gzip"
                compressed = await response.read()
            async with session.get(url + "/metrics", headers={"Accept-Encoding": "identity"}) as response:
                assert "Content-Encoding" not in response.headers
                plain = await response.read()
    text = gzip.decompress(compressed).decode()
    assert len(compressed) < len(plain) / 4
    assert {f.name for f in text_string_to_metric_families(text)} == {f.name for f in text_string_to_metric_families(plain.decode())}
    assert "llm_probe_requests_total{" in text and "healthboard_build_info{" in text


async def test_otel_genai_names_are_opt_in(sim: Sim) -> None:
    """otel_names: true adds the OpenTelemetry GenAI client metrics, with the conventions' attribute names."""
    async with exporter_for(config_text(sim.url, ["openai", "google"], interval="500ms", timeout="400ms")) as (_, url):
        await asyncio.sleep(0.8)
        _, plain = await get(url + "/metrics")
    assert "gen_ai_client" not in plain
    text = config_text(sim.url, ["openai", "google"], interval="500ms", timeout="400ms", otel_names="true")
    async with exporter_for(text) as (_, url):
        await asyncio.sleep(0.8)
        _, metrics = await get(url + "/metrics")
    assert 'gen_ai_client_operation_duration_seconds_count{check="chat",error_type="",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",region="default"}' in metrics
    assert 'gen_ai_provider_name="gcp.gemini"' in metrics
    assert 'gen_ai_client_token_usage_bucket{check="chat",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="output",le="1.0",region="default"} ' in metrics, [line for line in metrics.splitlines() if "token_usage_bucket" in line][:4]


def test_health_windows_keep_samples_packed_and_in_order() -> None:
    """The health book's packed windows (healthboard/health.py, Samples) give back what went in, forget by age
    from the oldest, and stay bounded."""
    import healthboard.health as health

    window = health.Samples()
    window.append((100.0, True, True, None, 412.5, 0.000012))
    window.append((130.0, False, False, "5xx", 33.0, 0.0))
    window.append((160.0, True, False, "timeout", 3000.0, 0.0))
    first, second, third = list(window)
    assert first[:4] == (100.0, True, True, None) and first[4] == 412.5 and first[5] == pytest.approx(0.000012, rel=1e-6)
    assert second[:5] == (130.0, False, False, "5xx", 33.0) and third[3] == "timeout"
    assert [s[0] for s in reversed(window)] == [160.0, 130.0, 100.0]
    window.drop_before(130.0)
    assert len(window) == 2 and next(iter(window))[0] == 130.0
    window.drop_before(1000.0)
    assert not window and list(window) == []
    cap = health._WINDOW_CAP
    for i in range(cap + 5):
        window.append((float(i), True, True, None, 1.0, 0.0))
    assert len(window) == cap and next(iter(window))[0] == 5.0
