"""The simulator validates requests the way the real APIs do, and follows its scenario over time."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from healthboard.config import ConfigError
from healthboard.simulator import parse_scenario

from conftest import Sim

PING = [{"role": "user", "content": "ping"}]


async def post(url: str, headers: dict[str, str], body: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
    async with aiohttp.ClientSession() as session:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        async with session.post(url, headers={"content-type": "application/json", **headers}, data=data) as response:
            return response.status, json.loads(await response.read()), dict(response.headers)


async def test_openai_missing_and_wrong_key(sim: Sim) -> None:
    status, body, _ = await post(f"{sim.url}/v1/chat/completions", {}, {"model": "gpt-4o-mini", "messages": PING})
    assert status == 401 and body["error"]["message"].startswith("You didn't provide an API key")
    status, body, _ = await post(f"{sim.url}/v1/chat/completions", {"Authorization": "Bearer invalid-0123456789"}, {"model": "gpt-4o-mini", "messages": PING})
    assert status == 401 and body["error"]["code"] == "invalid_api_key"
    assert "invalid-0123456789" not in body["error"]["message"]  # OpenAI masks the key it echoes
    # x-api-key is Anthropic's header; OpenAI ignores it
    status, _, _ = await post(f"{sim.url}/v1/chat/completions", {"x-api-key": "sk-good-key"}, {"model": "gpt-4o-mini", "messages": PING})
    assert status == 401


async def test_openai_max_tokens_to_reasoning_model(sim: Sim) -> None:
    auth = {"Authorization": "Bearer sk-good-key"}
    status, body, _ = await post(f"{sim.url}/v1/chat/completions", auth, {"model": "o3-mini", "messages": PING, "max_tokens": 1})
    assert status == 400 and body["error"]["code"] == "unsupported_parameter" and body["error"]["param"] == "max_tokens"
    status, body, _ = await post(f"{sim.url}/v1/chat/completions", auth, {"model": "o3-mini", "messages": PING, "max_completion_tokens": 1})
    assert status == 200 and body["choices"][0]["message"]["content"] == "" and body["choices"][0]["finish_reason"] == "length"


async def test_openai_bad_json_and_missing_messages(sim: Sim) -> None:
    auth = {"Authorization": "Bearer sk-good-key"}
    status, body, _ = await post(f"{sim.url}/v1/chat/completions", auth, b"{not json")
    assert status == 400 and "could not parse the JSON body" in body["error"]["message"]
    status, body, _ = await post(f"{sim.url}/v1/chat/completions", auth, {"model": "gpt-4o-mini"})
    assert status == 400 and body["error"]["code"] == "missing_required_parameter"


async def test_anthropic_headers_and_required_fields(sim: Sim) -> None:
    url = f"{sim.url}/v1/messages"
    body = {"model": "claude-3-haiku-20240307", "max_tokens": 1, "messages": PING}
    status, reply, _ = await post(url, {"anthropic-version": "2023-06-01"}, body)
    assert (status, reply["error"]["type"], reply["error"]["message"]) == (401, "authentication_error", "x-api-key header is required")
    status, reply, _ = await post(url, {"Authorization": "Bearer sk-ant-good", "anthropic-version": "2023-06-01"}, body)
    assert status == 200  # the SDKs' auth_token: Authorization: Bearer is accepted too
    status, reply, headers = await post(url, {"Authorization": "Bearer invalid-key", "anthropic-version": "2023-06-01"}, body)
    assert status == 401 and reply["error"]["type"] == "authentication_error"
    assert headers["request-id"] == reply["request_id"]  # one id per request, header and body alike
    status, reply, _ = await post(url, {"x-api-key": "sk-ant-good"}, body)
    assert (status, reply["error"]["message"]) == (400, "anthropic-version: header is required")
    status, reply, _ = await post(url, {"x-api-key": "sk-ant-good", "anthropic-version": "2023-06-01"}, {k: v for k, v in body.items() if k != "max_tokens"})
    assert (status, reply["error"]["message"]) == (400, "max_tokens: Field required")
    assert reply["type"] == "error" and reply["request_id"].startswith("req_")
    status, reply, headers = await post(url, {"x-api-key": "sk-ant-good", "anthropic-version": "2023-06-01"}, body)
    assert status == 200 and reply["type"] == "message" and reply["stop_reason"] == "max_tokens"
    assert headers["request-id"].startswith("req_")


async def test_gemini_accepts_proto_snake_case_and_validates_it(sim: Sim) -> None:
    """google-genai and LiteLLM send snake_case proto field names; the API applies its rules to them alike."""
    url = f"{sim.url}/v1beta/models/gemini-2.5-pro:generateContent"
    contents = [{"role": "user", "parts": [{"text": "ping"}]}]
    status, reply, _ = await post(url, {"x-goog-api-key": "good-key"}, {"contents": contents, "generation_config": {"max_output_tokens": 1, "thinking_config": {"thinking_budget": 0}}})
    assert status == 400 and "only works in thinking mode" in reply["error"]["message"]
    status, reply, _ = await post(url, {"x-goog-api-key": "good-key"}, {"contents": contents, "generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}})
    assert status == 400
    status, _, _ = await post(url, {"x-goog-api-key": "good-key"}, {"contents": contents, "generation_config": {"max_output_tokens": 1}})
    assert status == 200


async def test_azure_errors_have_azure_shape_and_apim_request_id(sim: Sim) -> None:
    sim.script("latency: 1ms\nrules:\n  - match: {kind: azure-openai}\n    sequence: [rate_limit, server_error]\n")
    url = f"{sim.url}/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
    body = {"messages": PING, "max_tokens": 1}
    status, reply, headers = await post(url, {"api-key": "good-key"}, body)
    assert status == 429 and reply == {"error": {"code": "429", "message": reply["error"]["message"]}} and "retry after" in reply["error"]["message"]
    assert headers["Retry-After"] and headers["apim-request-id"]
    status, reply, _ = await post(url, {"api-key": "good-key"}, body)
    assert status == 500 and set(reply["error"]) == {"code", "message"}
    status, reply, headers = await post(url, {"api-key": "invalid-key"}, body)
    assert status == 401 and reply["error"]["code"] == "401" and headers["apim-request-id"]


async def test_gemini_key_rules_and_retired_model(sim: Sim) -> None:
    url = f"{sim.url}/v1beta/models/gemini-2.0-flash:generateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": "ping"}]}], "generationConfig": {"maxOutputTokens": 1}}
    status, reply, _ = await post(url, {}, body)
    assert status == 403 and reply["error"]["status"] == "PERMISSION_DENIED"
    status, reply, _ = await post(url, {"x-goog-api-key": "invalid-key"}, body)
    assert status == 400 and reply["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    status, reply, _ = await post(url, {"x-goog-api-key": "good-key"}, body)
    assert status == 200 and reply["candidates"][0]["finishReason"] == "MAX_TOKENS"
    status, reply, _ = await post(url.replace("gemini-2.0-flash", "gemini-1.5-flash"), {"x-goog-api-key": "good-key"}, body)
    assert status == 404 and reply["error"]["status"] == "NOT_FOUND"
    pro = {**body, "generationConfig": {"maxOutputTokens": 1, "thinkingConfig": {"thinkingBudget": 0}}}
    status, reply, _ = await post(url.replace("gemini-2.0-flash", "gemini-2.5-pro"), {"x-goog-api-key": "good-key"}, pro)
    assert status == 400 and "only works in thinking mode" in reply["error"]["message"]


async def test_cohere_auth(sim: Sim) -> None:
    url = f"{sim.url}/v2/chat"
    body = {"model": "command-r7b-12-2024", "messages": PING, "max_tokens": 1}
    assert (await post(url, {}, body))[1]["message"] == "no api key supplied"
    assert (await post(url, {"Authorization": "Bearer invalid-x"}, body))[1]["message"] == "invalid api token"
    status, reply, _ = await post(url, {"Authorization": "Bearer good"}, body)
    assert status == 200 and reply["finish_reason"] == "MAX_TOKENS"


async def test_keys_and_models_can_be_restricted(sim: Sim) -> None:
    sim.script("keys: {openai: [sk-only-this]}\nmodels: {openai: [gpt-4o-mini]}\n")
    url = f"{sim.url}/v1/chat/completions"
    assert (await post(url, {"Authorization": "Bearer sk-other"}, {"model": "gpt-4o-mini", "messages": PING}))[0] == 401
    assert (await post(url, {"Authorization": "Bearer sk-only-this"}, {"model": "gpt-4o-mini", "messages": PING}))[0] == 200
    status, reply, _ = await post(url, {"Authorization": "Bearer sk-only-this"}, {"model": "gpt-4o", "messages": PING})
    assert status == 404 and reply["error"]["code"] == "model_not_found"


async def test_rules_follow_time_and_sequence(sim: Sim) -> None:
    sim.script("""
latency: 1ms
rules:
  - match: {kind: openai}
    from: 0.3s
    until: 0.6s
    faults: {server_error: 1.0}
  - match: {kind: cohere}
    sequence: [ok, rate_limit, ok]
""")
    url = f"{sim.url}/v1/chat/completions"
    auth = {"Authorization": "Bearer sk-good"}
    body = {"model": "gpt-4o-mini", "messages": PING}
    assert (await post(url, auth, body))[0] == 200
    await asyncio.sleep(0.35)
    assert (await post(url, auth, body))[0] == 500
    await asyncio.sleep(0.35)
    assert (await post(url, auth, body))[0] == 200
    statuses = [(await post(f"{sim.url}/v2/chat", auth, {"model": "c", "messages": PING}))[0] for _ in range(4)]
    assert statuses == [200, 429, 200, 200]


def test_scenario_errors_are_reported() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_scenario("rules:\n  - faults: {server_error: 0.8, hang: 0.5}\n")
    assert "sum to at most 1" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        parse_scenario("rules:\n  - faults: {explode: 1.0}\n")
    assert "explode" in str(caught.value)


def test_shipped_scenarios_parse() -> None:
    from healthboard.app.run import packaged

    scenario = parse_scenario(packaged("demo-scenario.yml"))
    assert any(r.faults.get("server_error") == 1.0 for r in scenario.rules)
