"""Simulated Gemini API generateContent."""

from __future__ import annotations

import json
import re

from aiohttp import web

from healthboard.simulator.wire.base import text_of, Call, Rejected, Reply, SimWire, json_body, sse

STATUS_NAMES = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
THINKING_ONLY = re.compile(r"^gemini-2\.5-pro")


def _error(status: int, message: str, details: list[dict[str, object]] | None = None, state: str | None = None) -> Reply:
    error: dict[str, object] = {"code": status, "message": message, "status": state or STATUS_NAMES.get(status, "UNKNOWN")}
    if details:
        error["details"] = details
    return Reply(status, {"error": error})


def _field(data: dict[str, object], camel: str) -> object:
    """A proto-JSON field: the API accepts lowerCamelCase and the proto's snake_case names alike
    (google-genai and LiteLLM send ``max_output_tokens``, ``thinking_config``, ``thinking_budget``)."""
    if camel in data:
        return data[camel]
    return data.get(re.sub(r"(?<!^)([A-Z])", lambda m: "_" + m.group(1).lower(), camel))


class GeminiSim(SimWire):
    kind = "gemini"
    # v1beta (what our prober and most clients call) and v1 (google-genai's default since 2.x); both are served
    paths = ("/v1beta/models/{model_action}", "/{prefix}/v1beta/models/{model_action}",
             "/v1/models/{model_action}", "/{prefix}/v1/models/{model_action}")

    def key_of(self, request: web.Request) -> str | None:
        return request.headers.get("x-goog-api-key") or request.query.get("key") or None

    def reject_key(self, key: str | None, kind: str | None = None) -> Reply:
        if key is None:
            return _error(
                403,
                "Method doesn't allow unregistered callers (callers without established identity). "
                "Please use API Key or other form of API consumer identity to call this API.",
            )
        message = "API key not valid. Please pass a valid API key."
        return _error(
            400,
            message,
            [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                },
                {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": message},
            ],
        )

    async def validate(self, request: web.Request, known_models: set[str] | None) -> Call:
        model, _, action = request.match_info["model_action"].partition(":")
        if action in ("embedContent", "batchEmbedContents"):
            return await self._validate_embeddings(request, model, action, known_models)
        if action not in ("generateContent", "streamGenerateContent"):
            raise Rejected(Reply(404, b"<!DOCTYPE html><html><title>Error 404 (Not Found)!!1</title></html>", {"content-type": "text/html"}))
        body = await json_body(request)
        if not isinstance(body, dict):
            raise Rejected(_error(400, "Invalid JSON payload received. Unexpected token."))
        if not body.get("contents"):
            raise Rejected(_error(400, "* GenerateContentRequest.contents: contents is not specified\n"))
        if known_models is not None and model not in known_models:
            raise Rejected(
                _error(
                    404,
                    f"models/{model} is not found for API version v1beta, or is not supported for generateContent. "
                    "Call ListModels to see the list of available models and their supported methods.",
                )
            )
        generation = _field(body, "generationConfig") or {}
        thinking = _field(generation, "thinkingConfig") or {} if isinstance(generation, dict) else {}
        if isinstance(thinking, dict) and _field(thinking, "thinkingBudget") == 0 and THINKING_ONLY.match(model):
            raise Rejected(_error(400, "Budget 0 is invalid. This model only works in thinking mode."))
        parts = body["contents"][-1].get("parts", [{}]) if isinstance(body["contents"], list) else [{}]
        prompt = text_of(parts) if isinstance(parts, list) else ""
        limit = _field(generation, "maxOutputTokens") if isinstance(generation, dict) else None
        limit = 8192 if limit is None else limit
        return Call(self.kind, model, "", prompt, int(limit) if isinstance(limit, int) else 8192, body,
                    stream=action == "streamGenerateContent" and request.query.get("alt") == "sse")

    # Streaming (streamGenerateContent?alt=sse): "data: {GenerateContentResponse}" frames, each a candidate with
    # the next text part; the last carries finishReason and the usage with candidatesTokenCount. There is no end
    # marker: the stream ends with the response. An error mid-stream is a frame with the error envelope.

    def _frame(self, call: Call, text: str | None, finish: str | None = None, tokens: int = 0) -> dict[str, object]:
        candidate: dict[str, object] = {"content": {"parts": [{"text": text}] if text is not None else [], "role": "model"}, "index": 0}
        usage: dict[str, object] = {"promptTokenCount": 1, "totalTokenCount": 1}
        if finish:
            candidate["finishReason"] = finish
            usage = {"promptTokenCount": 1, "candidatesTokenCount": tokens, "totalTokenCount": 1 + tokens}
        return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": call.model,
                "responseId": "sim" + call.sim_id[:20]}

    def stream_head(self, call: Call) -> list[bytes]:
        return []

    def stream_delta(self, call: Call, piece: str, index: int) -> bytes:
        return sse(self._frame(call, piece))

    def stream_tail(self, call: Call, tokens: int, finish: str) -> list[bytes]:
        return [sse(self._frame(call, "", "MAX_TOKENS" if finish == "length" else "STOP", tokens))]

    def stream_error(self, call: Call) -> bytes:
        return sse({"error": {"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"}})

    # Embeddings: models/{m}:embedContent ({content, outputDimensionality} → {embedding: {values}}) and
    # :batchEmbedContents ({requests: [...]} → {embeddings: [{values}]}), which google-genai calls.

    async def _validate_embeddings(self, request: web.Request, model: str, action: str, known_models: set[str] | None) -> Call:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise Rejected(_error(400, "Invalid JSON payload received. Unexpected token."))
        items = body.get("requests") if action == "batchEmbedContents" else [body]
        if not isinstance(items, list) or not items:
            raise Rejected(_error(400, "* BatchEmbedContentsRequest.requests: requests is not specified\n"))
        texts, dimensions = [], None
        for item in items:
            content = item.get("content") if isinstance(item, dict) else None
            parts = content.get("parts") if isinstance(content, dict) else None
            text = "".join(str(p.get("text") or "") for p in parts if isinstance(p, dict)) if isinstance(parts, list) else ""
            if not text:
                raise Rejected(_error(400, "* EmbedContentRequest.content: contents is not specified\n"))
            texts.append(text)
            dimensions = _field(item, "outputDimensionality") or dimensions
        if known_models is not None and model not in known_models:
            raise Rejected(_error(404, f"models/{model} is not found for API version v1beta, or is not supported for embedContent."))
        return Call(self.kind, model, "", texts[0], 0, {**body, "_action": action}, operation="embed", inputs=texts,
                    dimensions=dimensions if isinstance(dimensions, int) else None)

    def embed_success(self, call: Call, vectors: list[list[float]]) -> Reply:
        if call.body.get("_action") == "embedContent":
            return Reply(200, {"embedding": {"values": vectors[0]}})
        return Reply(200, {"embeddings": [{"values": v} for v in vectors]})

    def tool_name(self, call: Call) -> str | None:
        tools = call.body.get("tools")
        first = tools[0] if isinstance(tools, list) and tools and isinstance(tools[0], dict) else {}
        declarations = _field(first, "functionDeclarations") or []
        return declarations[0].get("name") if isinstance(declarations, list) and declarations and isinstance(declarations[0], dict) else None

    def tool_success(self, call: Call, name: str, arguments: str) -> Reply:
        reply = self.success(call, "")
        try:
            parsed: object = json.loads(arguments)
        except ValueError:
            parsed = arguments
        reply.body["candidates"][0]["content"] = {"parts": [{"functionCall": {"name": name, "args": parsed}}], "role": "model"}
        reply.body["candidates"][0]["finishReason"] = "STOP"
        return reply

    def success(self, call: Call, text: str) -> Reply:
        candidate: dict[str, object] = {"content": {"parts": [{"text": text}] if text else [], "role": "model"}, "finishReason": "MAX_TOKENS", "index": 0}
        return Reply(
            200,
            {
                "candidates": [candidate],
                "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2},
                "modelVersion": call.model,
                "responseId": "sim" + str(abs(hash(call.prompt)) % 10**8),
            },
        )

    def fault(self, name: str, call: Call, retry_after: float) -> Reply:
        if name == "unauthorized":
            return self.reject_key("invalid")
        if name == "forbidden":
            return _error(403, "Permission denied: Consumer 'api_key:sim' has been suspended.")
        if name in ("rate_limit", "quota"):
            quota_id = "GenerateRequestsPerDayPerProjectPerModel-FreeTier" if name == "quota" else "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
            reply = _error(
                429,
                "You exceeded your current quota, please check your plan and billing details. For more information on this "
                "error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                        "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests", "quotaId": quota_id}],
                    },
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{max(1, round(retry_after))}s"},
                ],
            )
            return reply
        if name in ("payment_required", "spend_limit"):
            # prepaid credits used up: 402 RESOURCE_EXHAUSTED now, a 429 in the earlier form (spend_limit here)
            status = 402 if name == "payment_required" else 429
            return _error(status, "Your prepayment credits are depleted. Please go to AI Studio at https://ai.studio/projects "
                                  "to manage your project and billing.", state="RESOURCE_EXHAUSTED")
        if name == "gateway_quota":
            return self.fault("quota", call, retry_after)
        if name == "server_error":
            return _error(500, "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting")
        if name == "unavailable":
            return _error(503, "The service is currently unavailable.")
        if name == "overloaded":
            return _error(503, "The model is overloaded. Please try again later.")
        if name == "not_found":
            return _error(404, f"models/{call.model} is not found for API version v1beta, or is not supported for generateContent.")
        if name == "error_envelope":
            return Reply(200, {"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}})
        raise KeyError(name)
