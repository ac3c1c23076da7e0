"""Stream checks (``check: stream``) over real sockets against the simulator's streams: time to first token,
output speed and gaps measured from when each event arrived, each format's integrity rules, and the stream
faults classified as what they are."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from healthboard.config import parse_config
from healthboard.metrics import Metrics
from healthboard.plan import build_plan
from healthboard.prober.engine import ProbeEngine

from conftest import KIND_EXAMPLES, Sim

PACED = "latency: 5ms\nstream: {tokens: 16, first_token: 150ms, chunk_interval: 20ms}\n"


def stream_target(url: str, kind: str, **extra: str):  # type: ignore[no-untyped-def]
    base, key, model, options = KIND_EXAMPLES[kind]
    fields = ", ".join(f"{k}: {v}" for k, v in {"name": model, "check": "stream", **extra}.items())
    text = (f"timeout: 3s\nproviders:\n  - name: p\n    kind: {kind}\n    base_url: {base.format(url=url)}\n    api_key: {key}\n"
            + (f"    {options}\n" if options else "") + f"    models: [{{{fields}}}]\n")
    return build_plan(parse_config(text, "t", {}), {}).targets[0]


def test_stream_checks_default_to_every_5_minutes_with_16_tokens() -> None:
    target = stream_target("http://x", "openai")
    assert (target.check, target.interval, target.max_tokens) == ("stream", 300.0, 16)
    assert stream_target("http://x", "openai", interval="1m", max_tokens="8").interval == 60.0


@pytest.mark.parametrize("kind", list(KIND_EXAMPLES))
async def test_stream_timings_match_the_simulators_pacing(sim: Sim, kind: str) -> None:
    sim.script(PACED)
    async with ProbeEngine() as engine:
        record = await engine.probe(stream_target(sim.url, kind))
    assert record.ok, record
    assert record.output_tokens == 16 and record.input_tokens
    # against what the simulator stamped when it sent each piece (a busy machine stretches its pacing: 150 ms
    # can become 175; the measurement must follow what was sent, not the script)
    sent = sim.simulator.stream_stamps[-1]
    assert sent["tokens"] == 16 and sent["ttft"] == pytest.approx(0.155, abs=0.1)  # 5 ms to the headers + 150 ms
    assert record.ttft_ms - sent["ttft"] * 1000 == pytest.approx(0, abs=15)  # + the request's transfer, our side
    assert record.tokens_per_s == pytest.approx(15 / (sent["last"] - sent["first"]), rel=0.15)  # one token every ~20 ms
    assert record.max_gap_ms == pytest.approx(sent["max_gap"] * 1000, abs=15)
    assert record.latency_ms >= record.ttft_ms + 15 * 20 - 5


async def test_time_to_first_token_runs_from_the_request_sent_not_from_the_connection_set_up(sim: Sim, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A connection that takes 300 ms to set up (a far region's TLS, a busy loop's turns) is the connect phase and
    the total latency, never the model's time to first token."""
    create = aiohttp.TCPConnector._create_connection

    async def slow_create(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.3)
        return await create(self, *args, **kwargs)

    monkeypatch.setattr(aiohttp.TCPConnector, "_create_connection", slow_create)
    sim.script(PACED)
    async with ProbeEngine() as engine:
        record = await engine.probe(stream_target(sim.url, "openai"))
    assert record.ok, record
    sent = sim.simulator.stream_stamps[-1]
    assert record.ttft_ms - sent["ttft"] * 1000 == pytest.approx(0, abs=15)
    assert record.latency_ms >= 300 + record.ttft_ms


@pytest.mark.parametrize(("kind", "expected"), [("openai", "5xx"), ("azure-openai", "5xx"), ("anthropic", "overloaded"),
                                                ("gemini", "overloaded"), ("cohere", "5xx")])
async def test_an_error_event_mid_stream_is_that_error(sim: Sim, kind: str, expected: str) -> None:
    sim.script(PACED + "rules:\n  - faults: {stream_error: 1.0}\n")
    async with ProbeEngine() as engine:
        record = await engine.probe(stream_target(sim.url, kind))
    assert not record.ok and record.error_type.value == expected, record  # type: ignore[union-attr]
    assert record.ttft_ms is not None  # half the answer came first


@pytest.mark.parametrize("kind", list(KIND_EXAMPLES))
async def test_a_stream_cut_off_is_interrupted_not_a_connect_error(sim: Sim, kind: str) -> None:
    sim.script(PACED + "rules:\n  - faults: {stream_cut: 1.0}\n")
    async with ProbeEngine() as engine:
        record = await engine.probe(stream_target(sim.url, kind))
    assert not record.ok and record.error_type.value == "stream_interrupted", record  # type: ignore[union-attr]
    assert record.ttft_ms == pytest.approx(155, abs=25)


async def test_a_stalled_stream_times_out_and_slow_first_tokens_are_measured(sim: Sim) -> None:
    sim.script(PACED + "rules:\n  - faults: {stream_stall: 1.0}\n    hang_for: 10s\n")
    async with ProbeEngine() as engine:
        stalled = await engine.probe(stream_target(sim.url, "anthropic", timeout="1s"))
        assert stalled.error_type is not None and stalled.error_type.value == "timeout", stalled
        assert "transfer" in (stalled.error_message or "")
        sim.script(PACED + "rules:\n  - first_token: 900ms\n    chunk_interval: 50ms\n")
        slow = await engine.probe(stream_target(sim.url, "openai"))
    assert slow.ok and slow.ttft_ms == pytest.approx(905, abs=30) and slow.tokens_per_s == pytest.approx(20, rel=0.15)


async def test_a_stream_without_its_end_or_usage_is_interrupted(sim: Sim) -> None:
    """A reply that isn't a stream, and a stream missing what the format promises, are not successes."""
    sim.script(PACED + "rules:\n  - faults: {malformed_json: 1.0}\n")
    async with ProbeEngine() as engine:
        record = await engine.probe(stream_target(sim.url, "openai"))
    assert record.error_type is not None and record.error_type.value == "invalid_response" and "text/event-stream" in (record.error_message or "")


async def test_stream_metrics_appear_for_stream_targets_only(sim: Sim) -> None:
    sim.script(PACED)
    metrics = Metrics()
    stream, chat = stream_target(sim.url, "openai"), build_plan(parse_config(
        f"providers:\n  - {{name: p, kind: openai, base_url: '{sim.url}/v1', api_key: sk-test-0123456789abcdef, models: [gpt-4o-mini]}}\n", "t", {}), {}).targets[0]
    async with ProbeEngine() as engine:
        for target in (stream, chat):
            metrics.probes.add_target(target)
            metrics.probes.observe(await engine.probe(target))
    text = metrics.render().decode()
    assert 'llm_probe_ttft_seconds_count{provider="p",model="gpt-4o-mini",region="default",check="stream"} 1\n' in text
    assert 'llm_probe_output_tokens_per_second{provider="p",model="gpt-4o-mini",region="default",check="stream"}' in text
    assert 'check="chat"' in text and 'llm_probe_ttft_seconds_count{provider="p",model="gpt-4o-mini",region="default",check="chat"}' not in text


async def test_reasoning_models_get_the_least_effort_and_an_empty_answer_is_not_an_outage(sim: Sim) -> None:
    """A reasoning model spends a one-token cap thinking: the probe asks for the least effort, and an answer with
    no text (the budget went to reasoning) is a success, never an outage."""
    import json

    from healthboard.prober import WIRE_FORMATS

    sim.script("latency: 1ms\n")
    base, key, _, _ = KIND_EXAMPLES["openai"]
    for model, effort in (("o4-mini", "low"), ("gpt-5-mini", "minimal")):
        target = build_plan(parse_config(
            f"providers:\n  - {{name: p, kind: openai, base_url: '{base.format(url=sim.url)}', api_key: {key}, models: [{model}]}}\n", "t", {}), {}).targets[0]
        assert json.loads(WIRE_FORMATS["openai"].build_request(target).body)["reasoning_effort"] == effort
        async with ProbeEngine() as engine:
            record = await engine.probe(target)
        assert record.ok and record.error_type is None, record
        assert record.reasoning_exhausted and record.to_json()["reasoning_exhausted"] is True
    # a quality check on a reasoning model whose budget went on thinking: no score (not a wrong answer), its own
    # outcome counted, and never a failure
    target = build_plan(parse_config(
        f"providers:\n  - {{name: p, kind: openai, base_url: '{base.format(url=sim.url)}', api_key: {key}, models: [{{name: o4-mini, check: quality}}]}}\n", "t", {}), {}).targets[0]
    metrics = Metrics()
    metrics.probes.add_target(target)
    async with ProbeEngine() as engine:
        record = await engine.probe(target)
    metrics.probes.observe(record)
    assert record.ok and record.reasoning_exhausted and record.quality_score is None
    text = metrics.render().decode()
    assert 'llm_probe_reasoning_exhausted_total{provider="p",model="o4-mini",region="default",check="quality"} 1\n' in text
    assert 'llm_quality_score_recent{provider="p",model="o4-mini"' not in text
    # an ordinary model's full answer is not that outcome
    target = build_plan(parse_config(
        f"providers:\n  - {{name: p, kind: openai, base_url: '{base.format(url=sim.url)}', api_key: {key}, models: [gpt-4o-mini]}}\n", "t", {}), {}).targets[0]
    async with ProbeEngine() as engine:
        assert not (await engine.probe(target)).reasoning_exhausted


async def test_model_listing_shutdown_date_is_exported_and_withdrawn(sim: Sim) -> None:
    """OpenAI's Retrieve model carries shutdown_date for a retiring model (the simulator's `sunset` rule):
    llm_model_shutdown_date_seconds while announced, gone when not; a listing that isn't there is no date."""
    import datetime as dt

    from healthboard.lifecycle import LifecyclePoller

    base, key, _, _ = KIND_EXAMPLES["openai"]
    plan = build_plan(parse_config(
        f"providers:\n  - {{name: p, kind: openai, base_url: '{base.format(url=sim.url)}', api_key: {key}, models: [gpt-4o-mini, gpt-4.1-nano]}}\n"
        f"  - {{name: q, kind: openai, base_url: '{sim.url}/nowhere', api_key: {key}, models: [gpt-4o-mini]}}\n", "t", {}), {})
    sim.script("latency: 1ms\nrules:\n  - match: {kind: openai, model: gpt-4o-mini}\n    sunset: 2027-01-15\n")
    metrics = Metrics()
    poller = LifecyclePoller(plan, 3600, metrics.own)
    await poller.poll_all()
    text = metrics.render().decode()
    when = dt.datetime(2027, 1, 15, tzinfo=dt.timezone.utc).timestamp()
    assert f'llm_model_shutdown_date_seconds{{model="gpt-4o-mini",provider="p"}} {when:.7e}' in text, text
    assert 'model="gpt-4.1-nano"' not in text.split("llm_model_shutdown_date_seconds gauge")[1].split("# HELP")[0]
    assert 'provider="q"' not in text.split("llm_model_shutdown_date_seconds gauge")[1].split("# HELP")[0]  # 404: no listing
    sim.script("latency: 1ms\n")
    await poller.poll_all()
    assert "llm_model_shutdown_date_seconds{" not in metrics.render().decode()
