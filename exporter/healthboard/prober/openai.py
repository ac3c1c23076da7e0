"""OpenAI Chat Completions (``POST {base_url}/chat/completions``) and every OpenAI-compatible API
(xAI, Mistral, Groq, DeepSeek, OpenRouter, vLLM, LiteLLM, Ollama…), plus the Azure OpenAI variant.

Errors are ``{"error": {"message", "type", "param", "code"}}``; a 429 with code/type
``insufficient_quota`` is billing exhaustion (quota), any other 429 a rate limit. HTTP 402 (DeepSeek's
"Insufficient Balance") is quota, and so is a gateway's error whose message relays a billing code (LiteLLM
turns ``insufficient_quota`` into a 429 ``throttling_error``).
"""

from __future__ import annotations

import base64

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from pydantic import Field, field_validator

from healthboard.options import Options
from healthboard.quality import TOOL_DESCRIPTION, TOOL_NAME, TOOL_PARAMETERS, TOOL_PROMPT, VISION_IMAGE, VISION_MEDIA_TYPE, VISION_QUESTION
from healthboard.prober.base import Request, StreamPart, with_body, Verdict, WireFormat, as_int, json_request, relayed_quota
from healthboard.record import ErrorType

if TYPE_CHECKING:
    from healthboard.plan import Target

#: Reasoning models refuse ``max_tokens`` and take ``max_completion_tokens``.
REASONING_MODEL = re.compile(r"^(o\d+(-|$)|gpt-5)")

_QUOTA_CODES = {"insufficient_quota", "billing_hard_limit_reached", "billing_not_active", "quota_exceeded"}
_OVERLOAD_HINTS = ("overloaded", "engine is currently overloaded", "server_is_overloaded")


class OpenAIModelOptions(Options):
    token_param: Literal["max_tokens", "max_completion_tokens"] | None = Field(
        default=None, description="which request field carries the output cap (default: max_completion_tokens for reasoning models)")


class AzureProviderOptions(Options):
    api_version: str = Field(min_length=1, description="the Azure OpenAI API version, e.g. 2024-10-21")

    @field_validator("api_version", mode="before")
    @classmethod
    def _date_to_text(cls, value: object) -> object:
        # YAML reads an unquoted 2024-10-21 as a date
        return value.isoformat() if hasattr(value, "isoformat") else value


def token_param(target: Target) -> str:
    if target.options.get("token_param"):
        return str(target.options["token_param"])
    return "max_completion_tokens" if REASONING_MODEL.match(target.model) else "max_tokens"


class OpenAIWire(WireFormat):
    kind = "openai"
    model_options = OpenAIModelOptions
    ratelimit_headers = {
        "x-ratelimit-limit-requests": ("requests", "limit"),
        "x-ratelimit-remaining-requests": ("requests", "remaining"),
        "x-ratelimit-limit-tokens": ("tokens", "limit"),
        "x-ratelimit-remaining-tokens": ("tokens", "remaining"),
    }

    def payload(self, target: Target) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": target.model,
            "messages": [{"role": "user", "content": target.prompt}],
            token_param(target): target.max_tokens,
            "stream": False,
        }
        if target.temperature is not None and not REASONING_MODEL.match(target.model):  # reasoning models refuse it
            payload["temperature"] = target.temperature
        if REASONING_MODEL.match(target.model):  # the least thinking the model allows: the cap is for the answer
            payload["reasoning_effort"] = "minimal" if target.model.startswith("gpt-5") else "low"
        return payload

    def build_request(self, target: Target) -> Request:
        headers = {"Authorization": f"Bearer {target.api_key.reveal()}", **target.headers}
        return json_request(f"{target.base_url}/chat/completions", headers, self.payload(target))

    checks = ("chat", "stream", "quality", "tools", "vision", "embeddings")

    def build_tools_request(self, target: Target) -> Request:
        return with_body(self.build_request(target), {"messages": [{"role": "user", "content": TOOL_PROMPT}],
                   "tools": [{"type": "function", "function": {"name": TOOL_NAME, "description": TOOL_DESCRIPTION, "parameters": TOOL_PARAMETERS}}],
                   "tool_choice": {"type": "function", "function": {"name": TOOL_NAME}}})  # Azure's too

    def build_vision_request(self, target: Target) -> Request:
        request = self.build_request(target)  # Azure's too
        image = f"data:{VISION_MEDIA_TYPE};base64,{base64.b64encode(VISION_IMAGE).decode()}"
        content = [{"type": "text", "text": VISION_QUESTION.prompt}, {"type": "image_url", "image_url": {"url": image}}]
        return with_body(request, {"messages": [{"role": "user", "content": content}]})

    def tool_call(self, data: dict[str, Any]) -> tuple[str | None, object]:
        choices = data.get("choices") if isinstance(data.get("choices"), list) else []
        message = choices[0].get("message") if choices and isinstance(choices[0], dict) else None
        calls = message.get("tool_calls") if isinstance(message, dict) else None
        if not isinstance(calls, list) or not calls or not isinstance(calls[0], dict) or not isinstance(calls[0].get("function"), dict):
            return None, None
        return calls[0]["function"].get("name"), calls[0]["function"].get("arguments")

    def build_embeddings_request(self, target: Target) -> Request:
        chat = self.build_request(target)  # Azure's too: its URL (…/chat/completions) and headers
        payload: dict[str, Any] = {"input": target.prompt, "encoding_format": "float"}
        if not chat.url.split("?")[0].endswith("/openai/deployments/" + quote(target.model, safe="") + "/chat/completions"):
            payload["model"] = target.model
        if target.dimensions is not None:
            payload["dimensions"] = target.dimensions
        url = chat.url.replace("/chat/completions", "/embeddings", 1)
        return json_request(url, {k: v for k, v in chat.headers.items() if k not in ("Content-Type", "Accept")}, payload)

    def embedding_vectors(self, data: dict[str, Any]) -> list[Any] | None:
        items = data.get("data")
        if not isinstance(items, list) or not items or not isinstance(items[0], dict):
            return None
        return [item.get("embedding") for item in items if isinstance(item, dict)]

    def embedding_tokens(self, data: dict[str, Any]) -> int | None:
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        return as_int(usage.get("prompt_tokens"))

    def build_stream_request(self, target: Target) -> Request:
        # Azure's too: its URL and headers, no model in the body
        return with_body(self.build_request(target), {"stream": True, "stream_options": {"include_usage": True}}, accept="text/event-stream")

    def read_event(self, event: str, data: str) -> StreamPart:
        """``data: {chat.completion.chunk}`` frames, then ``data: [DONE]``; with ``include_usage`` the last chunk
        has empty choices and the usage. An error mid-stream is ``data: {"error": {...}}``."""
        if data.strip() == "[DONE]":
            return StreamPart(end=True)
        chunk = json.loads(data)
        if not isinstance(chunk, dict):
            raise ValueError("a stream chunk is not a JSON object")
        if chunk.get("error"):
            error = chunk["error"] if isinstance(chunk["error"], dict) else {"message": str(chunk["error"])}
            return StreamPart(error=(self.error_type(500, {"error": error}, {}), str(error.get("message") or "error event")))
        part = StreamPart(request_id=chunk.get("id") if isinstance(chunk.get("id"), str) else None, served_model=_text(chunk.get("model")))
        choices = chunk.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            delta = choices[0].get("delta") if isinstance(choices[0].get("delta"), dict) else {}
            part.text = delta.get("content") or "" if isinstance(delta.get("content") or "", str) else ""
            part.finish = choices[0].get("finish_reason") or None
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            part.input_tokens, part.output_tokens = as_int(usage.get("prompt_tokens")), as_int(usage.get("completion_tokens"))
        return part

    def judge_success(self, data: dict[str, Any]) -> Verdict:
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return Verdict(False, ErrorType.INVALID_RESPONSE, "2xx reply has no choices")
        message = choices[0].get("message")
        if not isinstance(message, dict):
            return Verdict(False, ErrorType.INVALID_RESPONSE, "2xx reply's first choice has no message")
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        details = usage.get("completion_tokens_details") if isinstance(usage.get("completion_tokens_details"), dict) else {}
        content = message.get("content")
        return Verdict(True, input_tokens=as_int(usage.get("prompt_tokens")), output_tokens=as_int(usage.get("completion_tokens")),
                       text=content if isinstance(content, str) else None, served_model=_text(data.get("model")),
                       reasoning_tokens=as_int(details.get("reasoning_tokens")), truncated=choices[0].get("finish_reason") == "length")

    def error_type(self, status: int, data: dict[str, Any], headers: Mapping[str, str]) -> ErrorType:
        error = data.get("error") if isinstance(data.get("error"), dict) else {}
        code, kind = str(error.get("code") or ""), str(error.get("type") or "")
        message = str(error.get("message") or "").lower()
        if code in _QUOTA_CODES or kind in _QUOTA_CODES or status == 402:
            return ErrorType.QUOTA
        if status in (400, 403, 429) and relayed_quota(message):  # a gateway relaying an upstream's billing error
            return ErrorType.QUOTA
        if status in (401, 403):
            return ErrorType.AUTH
        if status == 404 or code in ("model_not_found", "DeploymentNotFound"):
            return ErrorType.NOT_FOUND
        if status >= 500 and (code in _OVERLOAD_HINTS or any(h in message for h in _OVERLOAD_HINTS)):
            return ErrorType.OVERLOADED
        return super().error_type(status, data, headers)


class AzureOpenAIWire(OpenAIWire):
    """Azure OpenAI: ``{base_url}/openai/deployments/{deployment}/chat/completions?api-version=…``, ``api-key`` header.
    The model name in the config is the deployment name."""

    kind = "azure-openai"
    provider_options = AzureProviderOptions

    def build_request(self, target: Target) -> Request:
        url = (
            f"{target.base_url}/openai/deployments/{quote(target.model, safe='')}/chat/completions"
            f"?api-version={quote(str(target.options['api_version']), safe='')}"
        )
        headers = {"api-key": target.api_key.reveal(), **target.headers}
        payload = self.payload(target)
        del payload["model"]
        return json_request(url, headers, payload)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
