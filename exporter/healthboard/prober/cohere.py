"""Cohere Chat API v2: ``POST {base_url}/v2/chat`` with ``Authorization: Bearer``.

Errors are ``{"id": "...", "message": "..."}``; 402 is payment/billing (quota); Cohere's 498
(invalid token) is auth; 499 (request cancelled) is other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TYPE_CHECKING

from healthboard.prober.base import Request, Verdict, WireFormat, as_int, json_request
from healthboard.record import ErrorType

if TYPE_CHECKING:
    from healthboard.plan import Target


class CohereWire(WireFormat):
    kind = "cohere"

    def build_request(self, target: Target) -> Request:
        headers = {"Authorization": f"Bearer {target.api_key.reveal()}", **target.headers}
        payload = {
            "model": target.model,
            "messages": [{"role": "user", "content": target.prompt}],
            "max_tokens": target.max_tokens,
            "stream": False,
        }
        return json_request(f"{target.base_url}/v2/chat", headers, payload)

    def judge_success(self, data: dict[str, Any]) -> Verdict:
        message = data.get("message")
        if not isinstance(message, dict) or "finish_reason" not in data:
            return Verdict(False, ErrorType.INVALID_RESPONSE, "2xx reply has no message and finish_reason")
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        tokens = usage.get("tokens") if isinstance(usage.get("tokens"), dict) else usage.get("billed_units")
        tokens = tokens if isinstance(tokens, dict) else {}
        return Verdict(True, input_tokens=as_int(tokens.get("input_tokens")), output_tokens=as_int(tokens.get("output_tokens")))

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
