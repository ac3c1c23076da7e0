"""Quality checks (``check: quality``): known-answer questions asked in turn at temperature 0, the answer
scored 0-100 deterministically; a wrong answer is a quality signal, never an availability failure."""

from __future__ import annotations

import json

import pytest

from healthboard.config import parse_config
from healthboard.metrics import Metrics
from healthboard.plan import build_plan
from healthboard.prober import WIRE_FORMATS
from healthboard.prober.engine import ProbeEngine
from healthboard.quality import BUILT_IN, score

from conftest import KIND_EXAMPLES, Sim


def quality_target(url: str, kind: str, extra: str = ""):  # type: ignore[no-untyped-def]
    base, key, model, options = KIND_EXAMPLES[kind]
    text = (f"timeout: 3s\n{extra}providers:\n  - name: p\n    kind: {kind}\n    base_url: {base.format(url=url)}\n    api_key: {key}\n"
            + (f"    {options}\n" if options else "") + f"    models: [{{name: {model}, check: quality}}]\n")
    return build_plan(parse_config(text, "t", {}), {}).targets[0]


@pytest.mark.parametrize(("answer", "expected", "points"), [
    ("42", "42", 100), (" 42.", "42", 100), ("**Paris**", "Paris", 100), ("The answer is 42.", "42", 50),
    ("420", "42", 0), ("0.91", "0.9", 0), ("", "42", 0), (None, "42", 0),
])
def test_scoring_is_deterministic(answer: str | None, expected: str, points: int) -> None:
    assert score(answer, expected) == points


def test_quality_checks_run_every_15_minutes_at_temperature_0() -> None:
    target = quality_target("http://x", "openai")
    assert (target.interval, target.max_tokens, target.temperature, target.questions) == (900.0, 8, 0.0, BUILT_IN)
    body = json.loads(WIRE_FORMATS["gemini"].build_request(quality_target("http://x", "gemini")).body)
    assert body["generationConfig"]["temperature"] == 0.0
    custom = quality_target("http://x", "openai", "quality_questions: [{prompt: 'Say yes', answer: 'yes'}]\n")
    assert [q.answer for q in custom.questions] == ["yes"]


@pytest.mark.parametrize("kind", list(KIND_EXAMPLES))
async def test_right_answers_score_100_and_wrong_ones_0_without_failing(sim: Sim, kind: str) -> None:
    target = quality_target(sim.url, kind)
    metrics = Metrics()
    metrics.probes.add_target(target)
    async with ProbeEngine() as engine:
        for _ in range(len(BUILT_IN)):  # every built-in question once, in turn
            record = await engine.probe(target)
            assert record.ok and record.quality_score == 100, record
            metrics.probes.observe(record)
        sim.script("latency: 1ms\nrules:\n  - faults: {wrong_answer: 1.0}\n")
        wrong = await engine.probe(target)
        metrics.probes.observe(wrong)
    assert wrong.ok and wrong.error_type is None and wrong.quality_score == 0  # a quality signal, not an outage
    text = metrics.render().decode()
    line = next(line for line in text.splitlines() if line.startswith("llm_quality_score_recent{"))
    assert float(line.split()[-1]) == pytest.approx(80.0)  # the last five: 100, 100, 100, 100, 0


async def test_the_served_model_is_recorded_and_a_different_one_flagged(sim: Sim) -> None:
    target = quality_target(sim.url, "openai")
    metrics = Metrics()
    metrics.probes.add_target(target)
    async with ProbeEngine() as engine:
        same = await engine.probe(target)
        assert same.served_model == target.model
        metrics.probes.observe(same)
        assert 'llm_probe_served_model_mismatch{provider="p",model="gpt-4o-mini",region="default",check="quality"} 0\n' in metrics.render().decode()
        sim.script("latency: 1ms\nrules:\n  - serve_model: gpt-3.5-turbo\n")
        other = await engine.probe(target)
    metrics.probes.observe(other)
    assert other.ok and other.served_model == "gpt-3.5-turbo"
    assert 'llm_probe_served_model_mismatch{provider="p",model="gpt-4o-mini",region="default",check="quality"} 1\n' in metrics.render().decode()


async def test_retirement_is_noticed_from_headers_and_from_a_retired_models_404(sim: Sim) -> None:
    target = quality_target(sim.url, "openai")
    metrics = Metrics()
    metrics.probes.add_target(target)
    async with ProbeEngine() as engine:
        sim.script("latency: 1ms\nrules:\n  - sunset: 2026-12-31\n")
        announced = await engine.probe(target)
        assert announced.ok and "Sunset Thu, 31 Dec 2026" in (announced.deprecation or "")
        metrics.probes.observe(announced)
        assert 'llm_probe_model_deprecated{provider="p",model="gpt-4o-mini",region="default",check="quality"} 1\n' in metrics.render().decode()
        sim.script("latency: 1ms\nretired_models: [gpt-4o-mini]\n")
        gone = await engine.probe(target)
    assert gone.error_type is not None and gone.error_type.value == "not_found" and "has been deprecated" in (gone.deprecation or "")
