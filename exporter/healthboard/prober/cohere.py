"""Cohere Chat API v2: ``POST {base_url}/v2/chat`` with ``Authorization: Bearer``.

Errors are ``{"id": "...", "message": "..."}``; 402 is payment/billing (quota); Cohere's 498
(invalid token) is auth; 499 (request cancelled) is other.
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


class CohereWire(WireFormat):
    kind = "cohere"

    def build_request(self, target: Target) -> Request:
        headers = {"Authorization": f"Bearer {target.api_key.reveal()}", **target.headers}
        payload: dict[str, Any] = {
            "model": target.model,
            "messages": [{"role": "user", "content": target.prompt}],
            "max_tokens": target.max_tokens,
            "stream": False,
        }
        if target.temperature is not None:
            payload["temperature"] = target.temperature
        return json_request(f"{target.base_url}/v2/chat", headers, payload)

    checks = ("chat", "stream", "quality", "tools", "vision", "embeddings")

    def build_tools_request(self, target: Target) -> Request:
        return with_body(self.build_request(target), {"messages": [{"role": "user", "content": TOOL_PROMPT}],
                   "tools": [{"type": "function", "function": {"name": TOOL_NAME, "description": TOOL_DESCRIPTION, "parameters": TOOL_PARAMETERS}}],
                   "tool_choice": "REQUIRED"})

    def build_vision_request(self, target: Target) -> Request:
        request = self.build_request(target)
        image = f"data:{VISION_MEDIA_TYPE};base64,{base64.b64encode(VISION_IMAGE).decode()}"
        content = [{"type": "text", "text": VISION_QUESTION.prompt}, {"type": "image_url", "image_url": {"url": image}}]
        return with_body(request, {"messages": [{"role": "user", "content": content}]})

    def tool_call(self, data: dict[str, Any]) -> tuple[str | None, object]:
        message = data.get("message") if isinstance(data.get("message"), dict) else {}
        calls = message.get("tool_calls")
        if not isinstance(calls, list) or not calls or not isinstance(calls[0], dict) or not isinstance(calls[0].get("function"), dict):
            return None, None
        return calls[0]["function"].get("name"), calls[0]["function"].get("arguments")

    def build_embeddings_request(self, target: Target) -> Request:
        headers = {"Authorization": f"Bearer {target.api_key.reveal()}", **target.headers}
        payload: dict[str, Any] = {"model": target.model, "texts": [target.prompt], "input_type": "search_query", "embedding_types": ["float"]}
        if target.dimensions is not None:
            payload["output_dimension"] = target.dimensions
        return json_request(f"{target.base_url}/v2/embed", headers, payload)

    def embedding_vectors(self, data: dict[str, Any]) -> list[Any] | None:
        embeddings = data.get("embeddings")
        return embeddings.get("float") if isinstance(embeddings, dict) and isinstance(embeddings.get("float"), list) else None

    def embedding_tokens(self, data: dict[str, Any]) -> int | None:
        meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
        billed = meta.get("billed_units") if isinstance(meta.get("billed_units"), dict) else {}
        return as_int(billed.get("input_tokens"))

    def build_stream_request(self, target: Target) -> Request:
        return with_body(self.build_request(target), {"stream": True}, accept="text/event-stream")

    def read_event(self, event: str, data: str) -> StreamPart:
        """Typed events: message-start (id), content-delta (delta.message.content.text), message-end (finish_reason,
        usage: the end). Cohere reports a failure mid-answer as message-end with finish_reason ERROR."""
        payload = json.loads(data)
        if not isinstance(payload, dict):
            raise ValueError("a stream event is not a JSON object")
        kind = str(payload.get("type") or event)
        delta = payload.get("delta") if isinstance(payload.get("delta"), dict) else {}
        if kind == "message-start":
            return StreamPart(request_id=payload.get("id") if isinstance(payload.get("id"), str) else None)
        if kind == "content-delta":
            message = delta.get("message") if isinstance(delta.get("message"), dict) else {}
            content = message.get("content") if isinstance(message.get("content"), dict) else {}
            return StreamPart(text=str(content.get("text") or ""))
        if kind == "message-end":
            usage = delta.get("usage") if isinstance(delta.get("usage"), dict) else {}
            tokens = usage.get("tokens") if isinstance(usage.get("tokens"), dict) else usage.get("billed_units")
            tokens = tokens if isinstance(tokens, dict) else {}
            finish = delta.get("finish_reason") or None
            error = (ErrorType.SERVER_ERROR, f"the stream ended with finish_reason ERROR: {delta.get('error') or 'no detail'}") if finish == "ERROR" else None
            return StreamPart(end=True, finish=finish, error=error, input_tokens=as_int(tokens.get("input_tokens")),
                              output_tokens=as_int(tokens.get("output_tokens")))
        return StreamPart()

    def judge_success(self, data: dict[str, Any]) -> Verdict:
        message = data.get("message")
        if not isinstance(message, dict) or "finish_reason" not in data:
            return Verdict(False, ErrorType.INVALID_RESPONSE, "2xx reply has no message and finish_reason")
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        tokens = usage.get("tokens") if isinstance(usage.get("tokens"), dict) else usage.get("billed_units")
        tokens = tokens if isinstance(tokens, dict) else {}
        content = message.get("content")
        text = "".join(str(b.get("text") or "") for b in content if isinstance(b, dict) and b.get("type") == "text") if isinstance(content, list) else None
        return Verdict(True, input_tokens=as_int(tokens.get("input_tokens")), output_tokens=as_int(tokens.get("output_tokens")), text=text)

    def error_type(self, status: int, data: dict[str, Any], headers: Mapping[str, str]) -> ErrorType:
        if status == 402:
            return ErrorType.QUOTA
        if status == 498:
            return ErrorType.AUTH
        if status == 499:
            return ErrorType.OTHER
        return super().error_type(status, data, headers)

    def body_request_id(self, data: dict[str, Any]) -> str | None:
        value = data.get("id")
        return value if isinstance(value, str) else None
