"""Google Gemini API: ``POST {base_url}/v1beta/models/{model}:generateContent``.

The key travels in the ``x-goog-api-key`` header, never in the URL (where it would leak into logs and
error messages). Errors are ``{"error": {"code", "message", "status", "details": [...]}}``; an invalid key is
400 INVALID_ARGUMENT with an ErrorInfo reason ``API_KEY_INVALID``; a 503 UNAVAILABLE saying the model is
overloaded is an explicit overload; a 429 whose QuotaFailure names a per-day quota is quota, and so is a 402
RESOURCE_EXHAUSTED "prepayment credits are depleted" (a 429 in its older form). A 429's RetryInfo
``retryDelay`` ("37s") paces the backoff; ``responseId`` is the request id.
"""

from __future__ import annotations

import base64

import json
import re
from collections.abc import Mapping
from typing import Any, TYPE_CHECKING
from urllib.parse import quote

from pydantic import Field

from healthboard.options import Options
from healthboard.quality import TOOL_DESCRIPTION, TOOL_NAME, TOOL_PARAMETERS, TOOL_PROMPT, VISION_IMAGE, VISION_MEDIA_TYPE, VISION_QUESTION
from healthboard.prober.base import Request, StreamPart, with_body, Verdict, WireFormat, as_int, json_request, relayed_quota
from healthboard.record import ErrorType

if TYPE_CHECKING:
    from healthboard.plan import Target

#: Models whose thinking can be switched off with thinkingBudget 0 (2.5 Pro can't; 2.0 has none).
THINKING_OFF_ALLOWED = re.compile(r"^gemini-2\.5-flash")
_AUTH_REASONS = {"API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED", "API_KEY_HTTP_REFERRER_BLOCKED", "API_KEY_IP_ADDRESS_BLOCKED"}


def _details(data: dict[str, Any]) -> list[dict[str, Any]]:
    error = data.get("error") if isinstance(data.get("error"), dict) else {}
    details = error.get("details")
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


class GeminiModelOptions(Options):
    thinking: bool | None = Field(default=None, description="leave the model's thinking on (default: off where the model allows)")


class GeminiWire(WireFormat):
    kind = "gemini"
    model_options = GeminiModelOptions

    checks = ("chat", "stream", "quality", "tools", "vision", "embeddings")

    def build_tools_request(self, target: Target) -> Request:
        return with_body(self.build_request(target), {"contents": [{"role": "user", "parts": [{"text": TOOL_PROMPT}]}],
                   "tools": [{"functionDeclarations": [{"name": TOOL_NAME, "description": TOOL_DESCRIPTION, "parameters": TOOL_PARAMETERS}]}],
                   "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [TOOL_NAME]}}})

    def build_vision_request(self, target: Target) -> Request:
        request = self.build_request(target)
        parts = [{"inlineData": {"mimeType": VISION_MEDIA_TYPE, "data": base64.b64encode(VISION_IMAGE).decode()}}, {"text": VISION_QUESTION.prompt}]
        return with_body(request, {"contents": [{"role": "user", "parts": parts}]})

    def tool_call(self, data: dict[str, Any]) -> tuple[str | None, object]:
        candidates = data.get("candidates") if isinstance(data.get("candidates"), list) else []
        content = candidates[0].get("content") if candidates and isinstance(candidates[0], dict) else None
        for part in (content.get("parts") or []) if isinstance(content, dict) else []:
            if isinstance(part, dict) and isinstance(part.get("functionCall"), dict):
                return part["functionCall"].get("name"), part["functionCall"].get("args")
        return None, None

    def build_embeddings_request(self, target: Target) -> Request:
        payload: dict[str, Any] = {"content": {"parts": [{"text": target.prompt}]}}
        if target.dimensions is not None:
            payload["outputDimensionality"] = target.dimensions
        headers = {"x-goog-api-key": target.api_key.reveal(), **target.headers}
        return json_request(f"{target.base_url}/v1beta/models/{quote(target.model, safe='')}:embedContent", headers, payload)

    def embedding_vectors(self, data: dict[str, Any]) -> list[Any] | None:
        embedding = data.get("embedding")
        return [embedding.get("values")] if isinstance(embedding, dict) else None

    def build_stream_request(self, target: Target) -> Request:
        request = self.build_request(target)
        request.url = request.url.removesuffix(":generateContent") + ":streamGenerateContent?alt=sse"
        request.headers["Accept"] = "text/event-stream"
        return request

    def read_event(self, event: str, data: str) -> StreamPart:
        """``data: {GenerateContentResponse}`` frames (``?alt=sse``), each with the next text parts; the last has
        the finishReason and the usage (candidatesTokenCount). No end marker: the frame with a finishReason is
        the end. An error mid-stream is a frame with the error envelope."""
        payload = json.loads(data)
        if not isinstance(payload, dict):
            raise ValueError("a stream frame is not a JSON object")
        if isinstance(payload.get("error"), dict):
            error = payload["error"]
            status = error.get("code") if isinstance(error.get("code"), int) else 500
            return StreamPart(error=(self.error_type(status, payload, {}), str(error.get("message") or "error frame")))
        part = StreamPart(request_id=payload.get("responseId") if isinstance(payload.get("responseId"), str) else None,
                          served_model=payload.get("modelVersion") if isinstance(payload.get("modelVersion"), str) else None)
        candidates = payload.get("candidates")
        if isinstance(candidates, list) and candidates and isinstance(candidates[0], dict):
            content = candidates[0].get("content") if isinstance(candidates[0].get("content"), dict) else {}
            parts = content.get("parts") if isinstance(content.get("parts"), list) else []
            part.text = "".join(str(p.get("text") or "") for p in parts if isinstance(p, dict) and not p.get("thought"))
            part.finish = candidates[0].get("finishReason") or None
            part.end = part.finish is not None
        usage = payload.get("usageMetadata")
        if isinstance(usage, dict):
            part.input_tokens = as_int(usage.get("promptTokenCount"))
            output = as_int(usage.get("candidatesTokenCount"))
            part.output_tokens = None if output is None else output + (as_int(usage.get("thoughtsTokenCount")) or 0)
        return part

    def build_request(self, target: Target) -> Request:
        generation: dict[str, Any] = {"maxOutputTokens": target.max_tokens}
        if target.temperature is not None:
            generation["temperature"] = target.temperature
        if not target.options.get("thinking") and THINKING_OFF_ALLOWED.match(target.model):
            generation["thinkingConfig"] = {"thinkingBudget": 0}
        payload = {"contents": [{"role": "user", "parts": [{"text": target.prompt}]}], "generationConfig": generation}
        headers = {"x-goog-api-key": target.api_key.reveal(), **target.headers}
        url = f"{target.base_url}/v1beta/models/{quote(target.model, safe='')}:generateContent"
        return json_request(url, headers, payload)

    def judge_success(self, data: dict[str, Any]) -> Verdict:
        candidates = data.get("candidates")
        if not isinstance(candidates, list) or not candidates:
            feedback = data.get("promptFeedback")
            reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
            return Verdict(False, ErrorType.INVALID_RESPONSE, f"2xx reply has no candidates{f' (blocked: {reason})' if reason else ''}")
        usage = data.get("usageMetadata") if isinstance(data.get("usageMetadata"), dict) else {}
        output = as_int(usage.get("candidatesTokenCount"))
        thoughts = as_int(usage.get("thoughtsTokenCount"))
        if thoughts:
            output = (output or 0) + thoughts
        content = candidates[0].get("content") if isinstance(candidates[0], dict) and isinstance(candidates[0].get("content"), dict) else {}
        parts = content.get("parts") if isinstance(content.get("parts"), list) else []
        text = "".join(str(p.get("text") or "") for p in parts if isinstance(p, dict) and not p.get("thought"))
        version = data.get("modelVersion")
        return Verdict(True, input_tokens=as_int(usage.get("promptTokenCount")), output_tokens=output, text=text,
                       served_model=version if isinstance(version, str) and version else None,
                       reasoning_tokens=thoughts, truncated=candidates[0].get("finishReason") == "MAX_TOKENS" if isinstance(candidates[0], dict) else False)

    def error_type(self, status: int, data: dict[str, Any], headers: Mapping[str, str]) -> ErrorType:
        error = data.get("error") if isinstance(data.get("error"), dict) else {}
        state = str(error.get("status") or "")
        message = str(error.get("message") or "").lower()
        details = _details(data)
        reasons = {str(d.get("reason")) for d in details if d.get("reason")}
        if reasons & _AUTH_REASONS or state in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
            return ErrorType.AUTH
        if status == 402 or relayed_quota(message):  # "prepayment credits are depleted" (402, or 429 before)
            return ErrorType.QUOTA
        if status == 429:
            quota_ids = [
                str(v.get("quotaId", "")) for d in details for v in (d.get("violations") or []) if isinstance(v, dict)
            ]
            return ErrorType.QUOTA if any("PerDay" in q for q in quota_ids) else ErrorType.RATE_LIMIT
        if state == "FAILED_PRECONDITION" and "billing" in message:
            return ErrorType.QUOTA
        if status == 503 and "overloaded" in message:
            return ErrorType.OVERLOADED
        return super().error_type(status, data, headers)

    def body_request_id(self, data: dict[str, Any]) -> str | None:
        value = data.get("responseId")
        return value if isinstance(value, str) else None

    def body_retry_after(self, data: dict[str, Any]) -> float | None:
        for detail in _details(data):
            if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
                delay = detail.get("retryDelay")
                match = re.fullmatch(r"(\d+(?:\.\d+)?)s", delay) if isinstance(delay, str) else None
                if match:
                    return float(match.group(1))
        return None
