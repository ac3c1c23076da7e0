"""Simulated Anthropic Messages API."""

from __future__ import annotations

import json

from aiohttp import web

from healthboard.simulator.wire.base import text_of, Call, Rejected, Reply, SimWire, json_body, random_id, sse


def _error(status: int, type_: str, message: str, **extra: object) -> Reply:
    error: dict[str, object] = {"type": type_, "message": message, **extra}
    return Reply(status, {"type": "error", "error": error, "request_id": random_id("req_011C")})


class AnthropicSim(SimWire):
    kind = "anthropic"
    paths = ("/v1/messages", "/{prefix}/v1/messages")

    def key_of(self, request: web.Request) -> str | None:
        """``x-api-key``, or ``Authorization: Bearer`` (the SDKs' auth_token; documented as accepted too)."""
        key = request.headers.get("x-api-key")
        if key:
            return key
        auth = request.headers.get("Authorization", "")
        return auth[7:].strip() or None if auth.startswith("Bearer ") else None

    def reject_key(self, key: str | None, kind: str | None = None) -> Reply:
        if key is None:
            return _error(401, "authentication_error", "x-api-key header is required")
        return _error(401, "authentication_error", "invalid x-api-key")

    async def validate(self, request: web.Request, known_models: set[str] | None) -> Call:
        if not request.headers.get("anthropic-version"):
            raise Rejected(_error(400, "invalid_request_error", "anthropic-version: header is required"))
        body = await json_body(request)
        if not isinstance(body, dict):
            raise Rejected(_error(400, "invalid_request_error", "There was an issue with your request body: invalid JSON"))
        for field in ("model", "max_tokens", "messages"):
            if field not in body:
                raise Rejected(_error(400, "invalid_request_error", f"{field}: Field required"))
        if not isinstance(body["max_tokens"], int) or body["max_tokens"] < 1:
            raise Rejected(_error(400, "invalid_request_error", "max_tokens: Input should be greater than or equal to 1"))
        model = str(body["model"])
        if known_models is not None and model not in known_models:
            raise Rejected(_error(404, "not_found_error", f"model: {model}"))
        messages = body["messages"] if isinstance(body["messages"], list) and body["messages"] else [{}]
        prompt = text_of(messages[-1].get("content")) if isinstance(messages[-1], dict) else ""
        return Call(self.kind, model, "", prompt, body["max_tokens"], body, stream=body.get("stream") is True)

    def common_headers(self) -> dict[str, str]:
        return {
            "request-id": random_id("req_011C"),
            "anthropic-organization-id": "00000000-0000-0000-0000-000000000000",
            "anthropic-ratelimit-requests-limit": "4000",
            "anthropic-ratelimit-requests-remaining": "3999",
            "anthropic-ratelimit-input-tokens-limit": "400000",
            "anthropic-ratelimit-input-tokens-remaining": "399990",
            "anthropic-ratelimit-output-tokens-limit": "80000",
            "anthropic-ratelimit-output-tokens-remaining": "79999",
        }

    def headers_for(self, reply: Reply, kind: str) -> dict[str, str]:
        headers = super().headers_for(reply, kind)
        if isinstance(reply.body, dict) and isinstance(reply.body.get("request_id"), str):
            headers["request-id"] = reply.body["request_id"]  # one id per request: header and body agree
        return headers

    # Streaming (Messages, stream: true): named events message_start, content_block_start, ping,
    # content_block_delta (text_delta) per token, content_block_stop, message_delta (stop_reason, output usage),
    # message_stop; an error mid-stream is "event: error" with the error envelope (e.g. overloaded_error).

    def stream_head(self, call: Call) -> list[bytes]:
        message = {"id": random_id("msg_01"), "type": "message", "role": "assistant", "model": call.model, "content": [],
                   "stop_reason": None, "stop_sequence": None,
                   "usage": {"input_tokens": 8, "output_tokens": 1, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}
        return [sse({"type": "message_start", "message": message}, "message_start"),
                sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}, "content_block_start"),
                sse({"type": "ping"}, "ping")]

    def stream_delta(self, call: Call, piece: str, index: int) -> bytes:
        return sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}, "content_block_delta")

    def stream_tail(self, call: Call, tokens: int, finish: str) -> list[bytes]:
        return [sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
                sse({"type": "message_delta", "delta": {"stop_reason": "max_tokens" if finish == "length" else "end_turn", "stop_sequence": None},
                     "usage": {"output_tokens": tokens}}, "message_delta"),
                sse({"type": "message_stop"}, "message_stop")]

    def stream_error(self, call: Call) -> bytes:
        return sse({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, "error")

    def tool_name(self, call: Call) -> str | None:
        tools = call.body.get("tools")
        return tools[0].get("name") if isinstance(tools, list) and tools and isinstance(tools[0], dict) else None

    def tool_success(self, call: Call, name: str, arguments: str) -> Reply:
        reply = self.success(call, "")
        try:
            parsed: object = json.loads(arguments)
        except ValueError:
            parsed = arguments  # a broken call (the bad_tool_args fault): Anthropic's input is an object; this one isn't
        reply.body["content"] = [{"type": "tool_use", "id": "toolu_01" + call.sim_id[:22], "name": name, "input": parsed}]
        reply.body["stop_reason"] = "tool_use"
        return reply

    def success(self, call: Call, text: str) -> Reply:
        return Reply(
            200,
            {
                "id": random_id("msg_01"),
                "type": "message",
                "role": "assistant",
                "model": call.model,
                "content": [{"type": "text", "text": text}] if text else [],
                "stop_reason": "max_tokens",
                "stop_sequence": None,
                "usage": {"input_tokens": 8, "output_tokens": 1, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
            },
        )

    def fault(self, name: str, call: Call, retry_after: float) -> Reply:
        if name == "unauthorized":
            return self.reject_key("invalid")
        if name == "forbidden":
            return _error(403, "permission_error", "Your API key does not have permission to use the specified resource.")
        if name == "rate_limit":
            reply = _error(
                429,
                "rate_limit_error",
                "This request would exceed the rate limit for your organization of 50 requests per minute. "
                "For details, refer to: https://docs.claude.com/en/api/rate-limits.",
            )
            reply.headers = {"retry-after": f"{max(1, round(retry_after))}", "anthropic-ratelimit-requests-remaining": "0"}
            return reply
        if name == "quota":
            return _error(
                429,
                "rate_limit_error",
                "You have reached your monthly spend limit. Usage resumes on the first of next month.",
                details={"error_code": "enforced_spend_limit_reached"},
            )
        if name == "spend_limit":
            return _error(
                429,
                "rate_limit_error",
                "Your organization has reached its contracted spend limit. Contact your account team to raise it.",
                details={"error_code": "contract_spend_limit_reached"},
            )
        if name in ("payment_required", "gateway_quota"):
            return _error(
                402, "billing_error",
                "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
            )
        if name == "server_error":
            return _error(500, "api_error", "Internal server error")
        if name == "unavailable":
            return Reply(503, b"upstream connect error or disconnect/reset before headers. reset reason: overflow", {"content-type": "text/plain"})
        if name == "overloaded":
            return _error(529, "overloaded_error", "Overloaded")
        if name == "not_found":
            return _error(404, "not_found_error", f"model: {call.model}")
        if name == "error_envelope":
            return Reply(200, {"type": "error", "error": {"type": "api_error", "message": "Internal server error"}})
        raise KeyError(name)
