"""Anthropic Messages API: ``POST {base_url}/v1/messages`` with ``x-api-key`` and ``anthropic-version``.

Errors are ``{"type": "error", "error": {"type", "message"}, "request_id"}``. ``overloaded_error`` (529)
is an explicit overload; spend limits come as 429 ``rate_limit_error`` with ``error.details.error_code``
``enforced_spend_limit_reached`` or ``contract_spend_limit_reached`` (or a message naming the monthly spend
limit), as 400 ``invalid_request_error`` naming the limit or credit balance, or as 402 ``billing_error``: all
quota. The ``request-id`` header is the request id (the body's ``request_id`` when the header is missing).
"""

from __future__ import annotations

import base64

import json
from collections.abc import Mapping
from typing import Any, TYPE_CHECKING

from healthboard.quality import TOOL_DESCRIPTION, TOOL_NAME, TOOL_PARAMETERS, TOOL_PROMPT, VISION_IMAGE, VISION_MEDIA_TYPE, VISION_QUESTION
from healthboard.prober.base import Request, StreamPart, with_body, Verdict, WireFormat, as_int, json_request
from healthboard.record import ErrorType

if TYPE_CHECKING:
    from healthboard.plan import Target

ANTHROPIC_VERSION = "2023-06-01"
_SPEND_HINTS = ("credit balance is too low", "usage limits", "spend limit", "specified api usage limits")


class AnthropicWire(WireFormat):
    kind = "anthropic"  # no embeddings API (Anthropic points to Voyage AI)
    ratelimit_headers = {
        "anthropic-ratelimit-requests-limit": ("requests", "limit"),
        "anthropic-ratelimit-requests-remaining": ("requests", "remaining"),
        "anthropic-ratelimit-tokens-limit": ("tokens", "limit"),
        "anthropic-ratelimit-tokens-remaining": ("tokens", "remaining"),
        "anthropic-ratelimit-input-tokens-limit": ("input_tokens", "limit"),
        "anthropic-ratelimit-input-tokens-remaining": ("input_tokens", "remaining"),
        "anthropic-ratelimit-output-tokens-limit": ("output_tokens", "limit"),
        "anthropic-ratelimit-output-tokens-remaining": ("output_tokens", "remaining"),
    }

    def build_request(self, target: Target) -> Request:
        headers = {"x-api-key": target.api_key.reveal(), "anthropic-version": ANTHROPIC_VERSION, **target.headers}
        payload: dict[str, Any] = {
            "model": target.model,
            "max_tokens": target.max_tokens,
            "messages": [{"role": "user", "content": target.prompt}],
        }
        if target.temperature is not None:
            payload["temperature"] = target.temperature
        return json_request(f"{target.base_url}/v1/messages", headers, payload)

    checks = ("chat", "stream", "quality", "tools", "vision")

    def build_tools_request(self, target: Target) -> Request:
        return with_body(self.build_request(target), {"messages": [{"role": "user", "content": TOOL_PROMPT}],
                   "tools": [{"name": TOOL_NAME, "description": TOOL_DESCRIPTION, "input_schema": TOOL_PARAMETERS}],
                   "tool_choice": {"type": "tool", "name": TOOL_NAME}})

    def build_vision_request(self, target: Target) -> Request:
        request = self.build_request(target)
        content = [{"type": "image", "source": {"type": "base64", "media_type": VISION_MEDIA_TYPE, "data": base64.b64encode(VISION_IMAGE).decode()}},
                   {"type": "text", "text": VISION_QUESTION.prompt}]
        return with_body(request, {"messages": [{"role": "user", "content": content}]})

    def tool_call(self, data: dict[str, Any]) -> tuple[str | None, object]:
        for block in data.get("content") or []:
            if isinstance(block, dict) and block.get("type") == "tool_use":
                return block.get("name"), block.get("input")
        return None, None

    def build_stream_request(self, target: Target) -> Request:
        return with_body(self.build_request(target), {"stream": True}, accept="text/event-stream")

    def read_event(self, event: str, data: str) -> StreamPart:
        """Named events: message_start (id, input usage), content_block_delta (text_delta), message_delta
        (stop_reason, output usage), message_stop (the end), ping; ``error`` carries the error envelope (the
        type says what failed: overloaded_error mid-stream is an overload, not a broken stream)."""
        payload = json.loads(data)
        if not isinstance(payload, dict):
            raise ValueError("a stream event is not a JSON object")
        kind = str(payload.get("type") or event)
        if kind == "error":
            error = payload.get("error") if isinstance(payload.get("error"), dict) else {}
            return StreamPart(error=(self.error_type(500, payload, {}), str(error.get("message") or "error event")))
        if kind == "message_start":
            message = payload.get("message") if isinstance(payload.get("message"), dict) else {}
            usage = message.get("usage") if isinstance(message.get("usage"), dict) else {}
            return StreamPart(input_tokens=as_int(usage.get("input_tokens")),
                              request_id=message.get("id") if isinstance(message.get("id"), str) else None,
                              served_model=message.get("model") if isinstance(message.get("model"), str) else None)
        if kind == "content_block_delta":
            delta = payload.get("delta") if isinstance(payload.get("delta"), dict) else {}
            return StreamPart(text=str(delta.get("text") or "") if delta.get("type") == "text_delta" else "")
        if kind == "message_delta":
            delta = payload.get("delta") if isinstance(payload.get("delta"), dict) else {}
            usage = payload.get("usage") if isinstance(payload.get("usage"), dict) else {}
            return StreamPart(finish=delta.get("stop_reason") or None, output_tokens=as_int(usage.get("output_tokens")))
        return StreamPart(end=kind == "message_stop")

    def judge_success(self, data: dict[str, Any]) -> Verdict:
        if data.get("type") != "message" or not isinstance(data.get("content"), list):
            return Verdict(False, ErrorType.INVALID_RESPONSE, "2xx reply is not a message with content")
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        text = "".join(str(b.get("text") or "") for b in data["content"] if isinstance(b, dict) and b.get("type") == "text")
        model = data.get("model")
        return Verdict(True, input_tokens=as_int(usage.get("input_tokens")), output_tokens=as_int(usage.get("output_tokens")), text=text,
                       served_model=model if isinstance(model, str) and model else None)

    def error_type(self, status: int, data: dict[str, Any], headers: Mapping[str, str]) -> ErrorType:
        error = data.get("error") if isinstance(data.get("error"), dict) else {}
        kind = str(error.get("type") or "")
        message = str(error.get("message") or "").lower()
        details = error.get("details") if isinstance(error.get("details"), dict) else {}
        code = str(details.get("error_code") or error.get("error_code") or "")
        if kind == "billing_error" or status == 402 or code.endswith("spend_limit_reached"):
            return ErrorType.QUOTA  # enforced_ (workspace) and contract_ (organisation) spend limits alike
        if kind in ("invalid_request_error", "rate_limit_error") and any(h in message for h in _SPEND_HINTS):
            return ErrorType.QUOTA
        if kind == "overloaded_error":
            return ErrorType.OVERLOADED
        if kind in ("authentication_error", "permission_error"):
            return ErrorType.AUTH
        if kind == "not_found_error":
            return ErrorType.NOT_FOUND
        if kind == "rate_limit_error":
            return ErrorType.RATE_LIMIT
        return super().error_type(status, data, headers)

    def body_request_id(self, data: dict[str, Any]) -> str | None:
        value = data.get("request_id")
        return value if isinstance(value, str) else None
