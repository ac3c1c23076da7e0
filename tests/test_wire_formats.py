"""Per kind: the request shape, and every error class from documented response bodies and headers
(tests/fixtures/<kind>/*.json, each naming its source)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from multidict import CIMultiDict

from healthboard.config import parse_config
from healthboard.prober import WIRE_FORMATS, Reply
from healthboard.prober.base import retry_after_seconds
from healthboard.record import ErrorType
from healthboard.plan import Target, build_plan

FIXTURES = sorted((Path(__file__).parent / "fixtures").glob("*/*.json"))


def make_target(kind: str, model: str, base_url: str = "https://example.test", **extra: object) -> Target:
    fields = "".join(f", {k}: {json.dumps(v)}" for k, v in extra.items())
    api_version = ", api_version: '2024-10-21'" if kind == "azure-openai" else ""
    text = f"providers:\n  - {{name: p, kind: {kind}, base_url: '{base_url}', api_key: SECRET-KEY-0123456789{api_version}, models: [{{name: '{model}'{fields}}}]}}\n"
    return build_plan(parse_config(text, environ={}), {}).targets[0]


@pytest.mark.parametrize("path", FIXTURES, ids=[f"{p.parent.name}/{p.stem}" for p in FIXTURES])
def test_documented_reply_is_classified(path: Path) -> None:
    fixture = json.loads(path.read_text())
    body = fixture["body"]
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    verdict = WIRE_FORMATS[path.parent.name].judge(Reply(fixture["status"], CIMultiDict(fixture["headers"]), raw))
    expect = fixture["expect"]
    assert verdict.ok is expect["ok"], verdict
    assert (verdict.error_type.value if verdict.error_type else None) == expect.get("error_type"), verdict
    if "retry_after" in expect:  # as the engine takes it: the header, else what the body asks for
        headers = CIMultiDict(fixture["headers"])
        assert (retry_after_seconds(headers) if headers.get("retry-after") else verdict.retry_after) == expect["retry_after"]
    for field in ("input_tokens", "output_tokens", "request_id"):
        if field in expect:
            assert getattr(verdict, field) == expect[field], (field, verdict)
    if not verdict.ok:
        assert verdict.message and len(verdict.message) <= 200


def test_every_error_type_except_transport_ones_has_a_documented_fixture() -> None:
    seen = {json.loads(p.read_text())["expect"].get("error_type") for p in FIXTURES}
    transport = {"timeout", "dns", "connect", "tls", "other"}  # proven over real sockets in test_engine.py
    transport |= {"stream_interrupted"}  # streams cut off or ending early: test_stream.py, against the simulator
    assert {e.value for e in ErrorType} - transport <= seen


def test_openai_request_shape() -> None:
    request = WIRE_FORMATS["openai"].build_request(make_target("openai", "gpt-4o-mini", "https://api.openai.com/v1"))
    assert request.method == "POST" and request.url == "https://api.openai.com/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer SECRET-KEY-0123456789"
    assert json.loads(request.body) == {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1, "stream": False}


@pytest.mark.parametrize(
    ("model", "param"),
    [("o1", "max_completion_tokens"), ("o3-mini", "max_completion_tokens"), ("o4-mini", "max_completion_tokens"),
     ("gpt-5", "max_completion_tokens"), ("gpt-5-nano", "max_completion_tokens"), ("gpt-4o-mini", "max_tokens"),
     ("gpt-4.1-nano", "max_tokens"), ("omni-moderation", "max_tokens")],
)
def test_openai_reasoning_models_take_max_completion_tokens(model: str, param: str) -> None:
    body = json.loads(WIRE_FORMATS["openai"].build_request(make_target("openai", model)).body)
    assert body[param] == 1
    assert {"max_tokens", "max_completion_tokens"} - {param} & set(body) == set()


def test_openai_token_param_override() -> None:
    body = json.loads(WIRE_FORMATS["openai"].build_request(make_target("openai", "my-o1-clone", token_param="max_tokens")).body)
    assert body["max_tokens"] == 1 and "max_completion_tokens" not in body


def test_azure_request_shape() -> None:
    request = WIRE_FORMATS["azure-openai"].build_request(make_target("azure-openai", "my deploy", "https://r.openai.azure.com"))
    assert request.url == "https://r.openai.azure.com/openai/deployments/my%20deploy/chat/completions?api-version=2024-10-21"
    assert request.headers["api-key"] == "SECRET-KEY-0123456789" and "Authorization" not in request.headers
    assert "model" not in json.loads(request.body)


def test_anthropic_request_shape() -> None:
    request = WIRE_FORMATS["anthropic"].build_request(make_target("anthropic", "claude-3-haiku-20240307", "https://api.anthropic.com"))
    assert request.url == "https://api.anthropic.com/v1/messages"
    assert request.headers["x-api-key"] == "SECRET-KEY-0123456789"
    assert request.headers["anthropic-version"] == "2023-06-01"
    body = json.loads(request.body)
    assert body == {"model": "claude-3-haiku-20240307", "max_tokens": 1, "messages": [{"role": "user", "content": "ping"}]}


def test_gemini_key_in_header_never_in_url() -> None:
    request = WIRE_FORMATS["gemini"].build_request(make_target("gemini", "gemini-2.0-flash", "https://generativelanguage.googleapis.com"))
    assert request.url == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent"
    assert "SECRET" not in request.url and "key=" not in request.url
    assert request.headers["x-goog-api-key"] == "SECRET-KEY-0123456789"
    body = json.loads(request.body)
    assert body["generationConfig"] == {"maxOutputTokens": 1}
    assert body["contents"] == [{"role": "user", "parts": [{"text": "ping"}]}]


@pytest.mark.parametrize(
    ("model", "thinking_off"),
    [("gemini-2.5-flash", True), ("gemini-2.5-flash-lite", True), ("gemini-2.5-pro", False), ("gemini-2.0-flash", False)],
)
def test_gemini_thinking_disabled_where_allowed(model: str, thinking_off: bool) -> None:
    body = json.loads(WIRE_FORMATS["gemini"].build_request(make_target("gemini", model)).body)
    assert ("thinkingConfig" in body["generationConfig"]) is thinking_off
    if thinking_off:
        assert body["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 0}


def test_gemini_thinking_can_be_left_on() -> None:
    body = json.loads(WIRE_FORMATS["gemini"].build_request(make_target("gemini", "gemini-2.5-flash", thinking=True)).body)
    assert "thinkingConfig" not in body["generationConfig"]


def test_cohere_request_shape() -> None:
    request = WIRE_FORMATS["cohere"].build_request(make_target("cohere", "command-r7b-12-2024", "https://api.cohere.com"))
    assert request.url == "https://api.cohere.com/v2/chat"
    assert request.headers["Authorization"] == "Bearer SECRET-KEY-0123456789"
    assert json.loads(request.body) == {"model": "command-r7b-12-2024", "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1, "stream": False}


def test_ratelimit_headroom_parsed() -> None:
    headers = CIMultiDict({"x-ratelimit-remaining-requests": "42", "x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-tokens": "oops"})
    assert WIRE_FORMATS["openai"].ratelimit(headers) == {"remaining_requests": 42.0, "limit_requests": 500.0}
    headers = CIMultiDict({"anthropic-ratelimit-output-tokens-remaining": "900"})
    assert WIRE_FORMATS["anthropic"].ratelimit(headers) == {"remaining_output_tokens": 900.0}


def test_error_messages_are_scrubbed_of_keys() -> None:
    body = json.dumps({"error": {"message": "Incorrect API key provided: sk-proj-AAAABBBBCCCCDDDDEEEE1234.", "type": "invalid_request_error", "code": "invalid_api_key"}})
    verdict = WIRE_FORMATS["openai"].judge(Reply(401, CIMultiDict(), body.encode()))
    assert "AAAABBBB" not in (verdict.message or "") and "[REDACTED]" in (verdict.message or "")


@pytest.mark.parametrize("kind, body, exhausted", [
    # Gemini 2.5 thinking past maxOutputTokens: no text part, thoughtsTokenCount, finishReason MAX_TOKENS
    ("gemini", {"candidates": [{"content": {"role": "model"}, "finishReason": "MAX_TOKENS", "index": 0}],
                "usageMetadata": {"promptTokenCount": 4, "totalTokenCount": 12, "thoughtsTokenCount": 8}, "modelVersion": "gemini-2.5-flash"}, True),
    ("gemini", {"candidates": [{"content": {"role": "model", "parts": [{"text": "4"}]}, "finishReason": "MAX_TOKENS"}],
                "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 1, "thoughtsTokenCount": 7}}, False),
    # OpenAI o-series: empty content, finish_reason length, completion_tokens_details.reasoning_tokens
    ("openai", {"choices": [{"index": 0, "message": {"role": "assistant", "content": ""}, "finish_reason": "length"}],
                "usage": {"prompt_tokens": 8, "completion_tokens": 16, "completion_tokens_details": {"reasoning_tokens": 16}}, "model": "o4-mini"}, True),
    ("openai", {"choices": [{"index": 0, "message": {"role": "assistant", "content": ""}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 8, "completion_tokens": 0}, "model": "gpt-4o-mini"}, False),
])
def test_output_budget_consumed_by_reasoning_is_its_own_outcome(kind: str, body: dict, exhausted: bool) -> None:
    verdict = WIRE_FORMATS[kind].judge(Reply(200, CIMultiDict(), json.dumps(body).encode()))
    assert verdict.ok and verdict.reasoning_exhausted is exhausted
