"""Simulated Cohere Chat API v2."""

from __future__ import annotations

import uuid

from aiohttp import web

from healthboard.simulator.wire.base import function_tool_name, text_of, Call, Rejected, Reply, SimWire, json_body, sse


def _error(status: int, message: str) -> Reply:
    return Reply(status, {"id": str(uuid.uuid4()), "message": message})


class CohereSim(SimWire):
    kind = "cohere"
    paths = ("/v2/chat", "/{prefix}/v2/chat", "/v2/embed", "/{prefix}/v2/embed")

    def key_of(self, request: web.Request) -> str | None:
        auth = request.headers.get("Authorization", "")
        return auth[7:].strip() if auth.startswith("Bearer ") and auth[7:].strip() else None

    def reject_key(self, key: str | None, kind: str | None = None) -> Reply:
        return _error(401, "no api key supplied" if key is None else "invalid api token")

    async def validate(self, request: web.Request, known_models: set[str] | None) -> Call:
        if request.path.endswith("/v2/embed"):
            return await self._validate_embeddings(request, known_models)
        body = await json_body(request)
        if not isinstance(body, dict):
            raise Rejected(_error(400, "invalid request: unable to parse request body as JSON"))
        if not body.get("model"):
            raise Rejected(_error(400, "invalid request: model must be specified"))
        if not body.get("messages"):
            raise Rejected(_error(400, "invalid request: messages must not be empty"))
        model = str(body["model"])
        if known_models is not None and model not in known_models:
            raise Rejected(_error(404, f"model '{model}' not found, make sure the correct model ID was used and that you have access to the model."))
        last = body["messages"][-1] if isinstance(body["messages"], list) else {}
        prompt = text_of(last.get("content")) if isinstance(last, dict) else ""
        limit = body.get("max_tokens", 4096)
        return Call(self.kind, model, "", prompt, int(limit) if isinstance(limit, int) else 4096, body, stream=body.get("stream") is True)

    def common_headers(self) -> dict[str, str]:
        return {"x-trace-id": uuid.uuid4().hex, "num_tokens": "9"}

    # Streaming (v2 chat, stream: true): typed events, each an SSE "event:" + "data:" pair: message-start,
    # content-start, content-delta per token (delta.message.content.text), content-end, message-end (finish_reason
    # and usage). Cohere documents no in-stream error event: a failure mid-answer ends with finish_reason ERROR.

    def stream_head(self, call: Call) -> list[bytes]:
        message = {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}
        return [sse({"id": str(uuid.UUID(hex=call.sim_id)), "type": "message-start", "delta": {"message": message}}, "message-start"),
                sse({"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}}, "content-start")]

    def stream_delta(self, call: Call, piece: str, index: int) -> bytes:
        return sse({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": piece}}}}, "content-delta")

    def stream_tail(self, call: Call, tokens: int, finish: str) -> list[bytes]:
        usage = {"billed_units": {"input_tokens": 1, "output_tokens": tokens}, "tokens": {"input_tokens": 7, "output_tokens": tokens}}
        return [sse({"type": "content-end", "index": 0}, "content-end"),
                sse({"type": "message-end", "delta": {"finish_reason": "MAX_TOKENS" if finish == "length" else "COMPLETE", "usage": usage}}, "message-end")]

    def stream_error(self, call: Call) -> bytes:
        usage = {"billed_units": {"input_tokens": 1, "output_tokens": 0}, "tokens": {"input_tokens": 7, "output_tokens": 0}}
        return sse({"type": "message-end", "delta": {"finish_reason": "ERROR", "error": "internal server error", "usage": usage}}, "message-end")

    # Embeddings (POST /v2/embed): texts, input_type (required for v3+ models), embedding_types (e.g. ["float"]),
    # output_dimension (embed-v4.0) → {"id", "embeddings": {"float": [[...]]}, "texts", "meta", "response_type"}.

    async def _validate_embeddings(self, request: web.Request, known_models: set[str] | None) -> Call:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise Rejected(_error(400, "invalid request: unable to parse request body as JSON"))
        if not body.get("model"):
            raise Rejected(_error(400, "invalid request: model must be specified"))
        texts = body.get("texts")
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
            raise Rejected(_error(400, "invalid request: texts must be a non-empty list of strings"))
        if not body.get("input_type"):
            raise Rejected(_error(400, "invalid request: valid input_type must be provided with the provided model"))
        model = str(body["model"])
        if known_models is not None and model not in known_models:
            raise Rejected(_error(404, f"model '{model}' not found, make sure the correct model ID was used and that you have access to the model."))
        dimension = body.get("output_dimension")
        return Call(self.kind, model, "", texts[0], 0, body, operation="embed", inputs=list(texts),
                    dimensions=dimension if isinstance(dimension, int) else None)

    def embed_success(self, call: Call, vectors: list[list[float]]) -> Reply:
        types = call.body.get("embedding_types") or ["float"]
        return Reply(200, {
            "id": str(uuid.UUID(hex=call.sim_id)), "embeddings": {t: vectors for t in types if t == "float"}, "texts": call.inputs,
            "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": sum(len(t.split()) for t in call.inputs)}},
            "response_type": "embeddings_by_type",
        })

    def tool_name(self, call: Call) -> str | None:
        return function_tool_name(call)

    def tool_success(self, call: Call, name: str, arguments: str) -> Reply:
        reply = self.success(call, "")
        reply.body["message"] = {"role": "assistant", "tool_plan": "I will call the tool.",
                                 "tool_calls": [{"id": name + "_" + call.sim_id[:8], "type": "function", "function": {"name": name, "arguments": arguments}}]}
        reply.body["finish_reason"] = "TOOL_CALL"
        return reply

    def success(self, call: Call, text: str) -> Reply:
        return Reply(
            200,
            {
                "id": str(uuid.uuid4()),
                "message": {"role": "assistant", "content": [{"type": "text", "text": text}] if text else []},
                "finish_reason": "MAX_TOKENS",
                "usage": {"billed_units": {"input_tokens": 1, "output_tokens": 1}, "tokens": {"input_tokens": 7, "output_tokens": 1}},
            },
        )

    def fault(self, name: str, call: Call, retry_after: float) -> Reply:
        if name == "unauthorized":
            return self.reject_key("invalid")
        if name == "forbidden":
            return _error(403, "You don't have access to this model.")
        if name == "rate_limit":
            reply = _error(429, "You are using a Trial key, which is limited to 20 API calls / minute. You can continue to use the Trial key for free or upgrade to a Production key with higher rate limits at 'https://dashboard.cohere.com/api-keys'.")
            reply.headers = {"retry-after": f"{max(1, round(retry_after))}"}
            return reply
        if name in ("quota", "payment_required", "spend_limit", "gateway_quota"):
            return _error(402, "Please add or update your payment method at https://dashboard.cohere.com/billing?tab=payment to continue")
        if name == "server_error":
            return _error(500, "internal server error, this has been reported to our developers")
        if name in ("unavailable", "overloaded"):
            return _error(503, "service unavailable")
        if name == "not_found":
            return _error(404, f"model '{call.model}' not found, make sure the correct model ID was used and that you have access to the model.")
        if name == "error_envelope":
            return Reply(200, {"id": str(uuid.uuid4()), "message": "internal server error", "error": "internal server error"})
        raise KeyError(name)
