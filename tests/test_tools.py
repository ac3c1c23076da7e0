"""Tool checks (``check: tools``): one forced function call through each format's tool API on the simulator; the
call must name our function with arguments that parse. The official SDKs read the simulated calls."""

from __future__ import annotations

import json

import anthropic
import cohere
import openai
import pytest
from google import genai
from google.genai import types as genai_types

from healthboard.config import parse_config
from healthboard.plan import build_plan
from healthboard.prober.engine import ProbeEngine
from healthboard.quality import TOOL_NAME, judge_tool_call

from conftest import KIND_EXAMPLES, Sim


def tools_target(url: str, kind: str):  # type: ignore[no-untyped-def]
    base, key, model, options = KIND_EXAMPLES[kind]
    text = (f"timeout: 3s\nproviders:\n  - name: p\n    kind: {kind}\n    base_url: {base.format(url=url)}\n    api_key: {key}\n"
            + (f"    {options}\n" if options else "") + f"    models: [{{name: {model}, check: tools}}]\n")
    return build_plan(parse_config(text, "t", {}), {}).targets[0]


@pytest.mark.parametrize(("name", "arguments", "problem"), [
    (TOOL_NAME, '{"city": "Paris"}', None), (TOOL_NAME, {"city": "Paris"}, None), (None, None, "no tool call"),
    ("other", "{}", "called 'other'"), (TOOL_NAME, '{"city": "Par', "don't parse"), (TOOL_NAME, "{}", "lack the required city"),
])
def test_tool_calls_are_judged(name: str | None, arguments: object, problem: str | None) -> None:
    verdict = judge_tool_call(name, arguments)
    assert verdict is None if problem is None else problem in (verdict or "")


@pytest.mark.parametrize("kind", list(KIND_EXAMPLES))
async def test_tool_calls_pass_and_broken_arguments_fail(sim: Sim, kind: str) -> None:
    target = tools_target(sim.url, kind)
    assert (target.interval, target.max_tokens) == (900.0, 48)
    async with ProbeEngine() as engine:
        record = await engine.probe(target)
        assert record.ok, record
        sim.script("latency: 1ms\nrules:\n  - faults: {bad_tool_args: 1.0}\n")
        broken = await engine.probe(target)
    assert broken.error_type is not None and broken.error_type.value == "invalid_response", broken


async def test_the_sdks_read_the_simulated_tool_calls(sim: Sim) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    oa = openai.AsyncOpenAI(api_key="sk-test-openai-0123456789abcdef", base_url=f"{sim.url}/v1", max_retries=0)
    reply = await oa.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "weather in Paris?"}], max_tokens=48,
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": schema}}], tool_choice="required")
    call = reply.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert reply.choices[0].finish_reason == "tool_calls" and json.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]
    an = anthropic.AsyncAnthropic(api_key="sk-ant-test-0123456789abcdef", base_url=sim.url, max_retries=0)
    message = await an.messages.create(model="claude-3-haiku-20240307", max_tokens=48, messages=[{"role": "user", "content": "weather?"}],
                                       tools=[{"name": "get_weather", "input_schema": schema}], tool_choice={"type": "tool", "name": "get_weather"})
    assert message.stop_reason == "tool_use" and message.content[0].type == "tool_use" and message.content[0].input == {"city": "Paris"}  # type: ignore[union-attr]
    gg = genai.Client(api_key="AIzaTestKey0123456789abcdefghij", http_options=genai_types.HttpOptions(base_url=sim.url))
    tool = genai_types.Tool(function_declarations=[genai_types.FunctionDeclaration(name="get_weather", parameters_json_schema=schema)])
    answer = await gg.aio.models.generate_content(model="gemini-2.0-flash", contents="weather?", config=genai_types.GenerateContentConfig(tools=[tool]))
    assert answer.function_calls and answer.function_calls[0].args == {"city": "Paris"}
    co = cohere.AsyncClientV2(api_key="co-test-0123456789abcdef", base_url=sim.url)
    chat = await co.chat(model="command-r7b-12-2024", messages=[{"role": "user", "content": "weather?"}],  # type: ignore[arg-type]
                         tools=[{"type": "function", "function": {"name": "get_weather", "parameters": schema}}], request_options={"max_retries": 0})
    assert chat.finish_reason == "TOOL_CALL" and json.loads(chat.message.tool_calls[0].function.arguments) == {"city": "Paris"}  # type: ignore[index, union-attr, arg-type]


@pytest.mark.parametrize("kind", list(KIND_EXAMPLES))
async def test_vision_checks_send_the_image_and_score_the_answer(sim: Sim, kind: str) -> None:
    from healthboard.quality import VISION_IMAGE

    base, key, model, options = KIND_EXAMPLES[kind]
    text = (f"timeout: 3s\nproviders:\n  - name: p\n    kind: {kind}\n    base_url: {base.format(url=sim.url)}\n    api_key: {key}\n"
            + (f"    {options}\n" if options else "") + f"    models: [{{name: {model}, check: vision}}]\n")
    target = build_plan(parse_config(text, "t", {}), {}).targets[0]
    assert VISION_IMAGE.startswith(b"\x89PNG") and len(VISION_IMAGE) < 400
    async with ProbeEngine() as engine:
        record = await engine.probe(target)
        assert record.ok and record.quality_score == 100, record
        sim.script("latency: 1ms\nrules:\n  - faults: {wrong_answer: 1.0}\n")
        wrong = await engine.probe(target)
    assert wrong.ok and wrong.quality_score == 0
