"""Simulated OpenAI Chat Completions (and the Azure OpenAI deployment route)."""

from __future__ import annotations

import base64
import re
import struct
import time
import uuid

from aiohttp import web

from healthboard.simulator.wire.base import function_tool_name, text_of, Call, Rejected, Reply, SimWire, json_body, mask_key, random_id, sse

REASONING = re.compile(r"^(o\d+(-|$)|gpt-5)")


def _error(status: int, message: str, type_: str, code: str | None = None, param: str | None = None) -> Reply:
    return Reply(status, {"error": {"message": message, "type": type_, "param": param, "code": code}})


def _azure(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message}})


class OpenAISim(SimWire):
    kind = "openai"
    paths = ("/v1/chat/completions", "/{prefix}/v1/chat/completions", "/openai/deployments/{deployment}/chat/completions",
             "/v1/embeddings", "/{prefix}/v1/embeddings", "/openai/deployments/{deployment}/embeddings")

    def key_of(self, request: web.Request) -> str | None:
        if "deployment" in request.match_info:
            return request.headers.get("api-key")
        auth = request.headers.get("Authorization", "")
        return auth[7:].strip() if auth.startswith("Bearer ") and auth[7:].strip() else None

    def reject_key(self, key: str | None, kind: str | None = None) -> Reply:
        if kind == "azure-openai":
            return _azure(401, "401", "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a "
                                      "valid key for an active subscription and use a correct regional API endpoint for your resource.")
        if key is None:
            return _error(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header using "
                "Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if "
                "you're accessing the API from your browser and are prompted for a username. You can obtain an API "
                "key from https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
            )
        return _error(
            401,
            f"Incorrect API key provided: {mask_key(key)}. You can find your API key at https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            "invalid_api_key",
        )

    async def validate(self, request: web.Request, known_models: set[str] | None) -> Call:
        if request.path.endswith("/embeddings"):
            return await self._validate_embeddings(request, known_models)
        body = await json_body(request)
        if not isinstance(body, dict):
            raise Rejected(
                _error(
                    400,
                    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
                    "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. "
                    "If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)",
                    "invalid_request_error",
                )
            )
        deployment = request.match_info.get("deployment")
        if deployment is not None and not request.query.get("api-version"):
            raise Rejected(Reply(404, {"error": {"code": "404", "message": "Resource not found"}}))
        model = deployment or body.get("model")
        if not model:
            raise Rejected(_error(400, "you must provide a model parameter", "invalid_request_error"))
        if "messages" not in body:
            raise Rejected(_error(400, "Missing required parameter: 'messages'.", "invalid_request_error", "missing_required_parameter", "messages"))
        if REASONING.match(str(model)) and "max_tokens" in body:
            raise Rejected(
                _error(
                    400,
                    "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
                    "invalid_request_error",
                    "unsupported_parameter",
                    "max_tokens",
                )
            )
        effort = body.get("reasoning_effort")
        if effort is not None and not REASONING.match(str(model)):
            raise Rejected(_error(400, "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
                                  "invalid_request_error", "unsupported_parameter", "reasoning_effort"))
        if effort is not None and effort not in ("minimal", "low", "medium", "high"):
            raise Rejected(_error(400, f"Invalid value: '{effort}'. Supported values are: 'minimal', 'low', 'medium', and 'high'.",
                                  "invalid_request_error", "invalid_value", "reasoning_effort"))
        if known_models is not None and model not in known_models:
            if deployment is not None:
                raise Rejected(
                    Reply(404, {"error": {"code": "DeploymentNotFound", "message": "The API deployment for this resource does not exist."}})
                )
            raise Rejected(
                _error(404, f"The model `{model}` does not exist or you do not have access to it.", "invalid_request_error", "model_not_found")
            )
        limit = body.get("max_completion_tokens", body.get("max_tokens", 16))
        messages = body.get("messages") or [{}]
        prompt = text_of(messages[-1].get("content")) if isinstance(messages[-1], dict) else ""
        kind = "azure-openai" if deployment is not None else self.kind
        if body.get("stream_options") is not None and body.get("stream") is not True:
            raise Rejected(_error(400, "The 'stream_options' parameter is only allowed when 'stream' is enabled.", "invalid_request_error",
                                  None, "stream_options"))
        return Call(kind, str(model), "", prompt, int(limit) if isinstance(limit, int) else 16, body, stream=body.get("stream") is True)

    def common_headers(self) -> dict[str, str]:
        return {
            "x-request-id": random_id("req_"),
            "openai-processing-ms": "42",
            "x-ratelimit-limit-requests": "10000",
            "x-ratelimit-remaining-requests": "9999",
            "x-ratelimit-limit-tokens": "10000000",
            "x-ratelimit-remaining-tokens": "9999990",
        }

    def headers_for(self, reply: Reply, kind: str) -> dict[str, str]:
        if kind != "azure-openai":
            return super().headers_for(reply, kind)
        request_id = str(uuid.uuid4())
        return {"apim-request-id": request_id, "x-request-id": request_id, "x-ms-region": "Sweden Central",
                "x-ratelimit-remaining-requests": "99", "x-ratelimit-remaining-tokens": "99990", **reply.headers}

    # Streaming (Chat Completions, stream: true): "data: {chat.completion.chunk}" frames, the first with the role,
    # one per content token, one with the finish reason; with stream_options.include_usage a last chunk with empty
    # choices carries usage (every other chunk has "usage": null); then "data: [DONE]". An error mid-stream is a
    # "data: {"error": {...}}" frame (the SDK raises APIError on it).

    def _chunk(self, call: Call, delta: dict[str, object] | None, finish: str | None = None) -> dict[str, object]:
        chunk: dict[str, object] = {
            "id": "chatcmpl-" + call.sim_id[:24], "object": "chat.completion.chunk",
            "created": int(time.time()), "model": call.model, "system_fingerprint": "fp_sim",
            "choices": [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if (call.body.get("stream_options") or {}).get("include_usage"):
            chunk["usage"] = None
        return chunk

    def stream_head(self, call: Call) -> list[bytes]:
        return [sse(self._chunk(call, {"role": "assistant", "content": "", "refusal": None}))]

    def stream_delta(self, call: Call, piece: str, index: int) -> bytes:
        return sse(self._chunk(call, {"content": piece}))

    def stream_tail(self, call: Call, tokens: int, finish: str) -> list[bytes]:
        frames = [sse(self._chunk(call, {}, finish))]
        if (call.body.get("stream_options") or {}).get("include_usage"):
            last = self._chunk(call, None)
            last["usage"] = {"prompt_tokens": 8, "completion_tokens": tokens, "total_tokens": 8 + tokens,
                             "completion_tokens_details": {"reasoning_tokens": 0}}
            frames.append(sse(last))
        return [*frames, sse("[DONE]")]

    def stream_error(self, call: Call) -> bytes:
        return sse({"error": {"message": "The server had an error while processing your request. Sorry about that!",
                              "type": "server_error", "param": None, "code": None}})

    # Embeddings (POST /v1/embeddings): input a string or a list of strings; encoding_format "float" (the API's
    # default) or "base64" (little-endian float32, what the official SDK asks for); dimensions for text-embedding-3.

    async def _validate_embeddings(self, request: web.Request, known_models: set[str] | None) -> Call:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise Rejected(_error(400, "We could not parse the JSON body of your request.", "invalid_request_error"))
        deployment = request.match_info.get("deployment")
        model = deployment or body.get("model")
        if not model:
            raise Rejected(_error(400, "you must provide a model parameter", "invalid_request_error"))
        raw = body.get("input")
        inputs = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) and all(isinstance(i, str) for i in raw) else None
        if not inputs or any(not i for i in inputs):
            raise Rejected(_error(400, "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
                                  "invalid_request_error", None, "input"))
        if body.get("encoding_format", "float") not in ("float", "base64"):
            raise Rejected(_error(400, "Invalid value for 'encoding_format': should be 'float' or 'base64'.", "invalid_request_error", None, "encoding_format"))
        dimensions = body.get("dimensions")
        if dimensions is not None and (not isinstance(dimensions, int) or dimensions < 1 or str(model) == "text-embedding-ada-002"):
            raise Rejected(_error(400, "This model does not support specifying dimensions.", "invalid_request_error", None, "dimensions"))
        if known_models is not None and model not in known_models:
            raise Rejected(_error(404, f"The model `{model}` does not exist or you do not have access to it.", "invalid_request_error", "model_not_found"))
        kind = "azure-openai" if deployment is not None else self.kind
        return Call(kind, str(model), "", inputs[0], 0, body, operation="embed", inputs=inputs, dimensions=dimensions)

    def embed_success(self, call: Call, vectors: list[list[float]]) -> Reply:
        base64_wanted = call.body.get("encoding_format") == "base64"
        data = [{"object": "embedding", "index": i,
                 "embedding": base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode() if base64_wanted else v}
                for i, v in enumerate(vectors)]
        tokens = sum(len(text.split()) + 1 for text in call.inputs)
        return Reply(200, {"object": "list", "data": data, "model": call.model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    def retired(self, call: Call) -> Reply:
        if call.kind == "azure-openai":
            return self.fault("not_found", call, 0)
        return _error(404, f"The model `{call.model}` has been deprecated, learn more here: https://platform.openai.com/docs/deprecations",
                      "invalid_request_error", "model_not_found")

    def tool_name(self, call: Call) -> str | None:
        return function_tool_name(call)

    def tool_success(self, call: Call, name: str, arguments: str) -> Reply:
        reply = self.success(call, "")
        choice = reply.body["choices"][0]
        choice["message"] = {"role": "assistant", "content": None, "refusal": None, "annotations": [],
                             "tool_calls": [{"id": "call_" + call.sim_id[:24], "type": "function", "function": {"name": name, "arguments": arguments}}]}
        choice["finish_reason"] = "tool_calls"
        reply.body["usage"].update(completion_tokens=10, total_tokens=18)  # the call's name and arguments
        return reply

    def success(self, call: Call, text: str) -> Reply:
        reasoning = bool(REASONING.match(call.model))
        content = "" if reasoning else text  # a reasoning model capped at one token spends it thinking
        return Reply(
            200,
            {
                "id": random_id("chatcmpl-"),
                "object": "chat.completion",
                "created": int(time.time()),
                "model": call.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": None, "annotations": []},
                        "logprobs": None,
                        "finish_reason": "length",
                    }
                ],
                "usage": {
                    "prompt_tokens": 8,
                    "completion_tokens": 1,
                    "total_tokens": 9,
                    "completion_tokens_details": {"reasoning_tokens": 1 if reasoning else 0},
                },
                "system_fingerprint": "fp_sim",
            },
        )

    def fault(self, name: str, call: Call, retry_after: float) -> Reply:
        if call.kind == "azure-openai":
            return self.azure_fault(name, call, retry_after)
        if name == "unauthorized":
            return self.reject_key(call.key or "sk-invalid-key-0000")
        if name == "payment_required":  # an OpenAI-compatible API out of credit: DeepSeek's documented 402
            return _error(402, "Insufficient Balance", "unknown_error", "invalid_request_error")
        if name == "spend_limit":
            return _error(429, "Billing hard limit has been reached", "insufficient_quota", "billing_hard_limit_reached")
        if name == "gateway_quota":  # LiteLLM relaying OpenAI's insufficient_quota: only the message keeps it
            return _error(
                429,
                "litellm.RateLimitError: RateLimitError: OpenAIException - Error code: 429 - {'error': {'message': 'You exceeded "
                "your current quota, please check your plan and billing details.', 'type': 'insufficient_quota', 'param': None, "
                "'code': 'insufficient_quota'}}",
                "throttling_error",
                "429",
            )
        if name == "forbidden":
            return _error(403, "Project does not have access to model", "invalid_request_error", "model_not_found")
        if name == "rate_limit":
            reply = _error(
                429,
                f"Rate limit reached for {call.model} in organization org-sim on requests per min (RPM): Limit 3, Used 3, Requested 1. "
                f"Please try again in {retry_after:g}s.",
                "requests",
                "rate_limit_exceeded",
            )
            reply.headers = {"retry-after": f"{retry_after:g}", "x-ratelimit-remaining-requests": "0"}
            return reply
        if name == "quota":
            return _error(
                429,
                "You exceeded your current quota, please check your plan and billing details. For more information on this error, "
                "read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
                "insufficient_quota",
                "insufficient_quota",
            )
        if name == "server_error":
            return _error(500, "The server had an error while processing your request. Sorry about that!", "server_error")
        if name == "unavailable":
            return Reply(503, {"error": {"message": "Service Unavailable", "type": "server_error", "param": None, "code": None}})
        if name == "overloaded":
            return _error(503, "The engine is currently overloaded, please try again later.", "server_error", "server_is_overloaded")
        if name == "not_found":
            return _error(404, f"The model `{call.model}` does not exist or you do not have access to it.", "invalid_request_error", "model_not_found")
        if name == "error_envelope":
            return Reply(200, {"error": {"message": "Upstream provider failed", "type": "server_error", "code": 502}})
        raise KeyError(name)

    def azure_fault(self, name: str, call: Call, retry_after: float) -> Reply:
        """Azure OpenAI's error shape: ``{"error": {"code", "message"}}`` (no type), code a string."""
        if name == "unauthorized":
            return self.reject_key(call.key, "azure-openai")
        if name == "forbidden":
            return _azure(403, "PermissionDenied", "Principal does not have access to API/Operation.")
        if name == "rate_limit":
            reply = _azure(429, "429", f"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 "
                                       f"have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after "
                                       f"{max(1, round(retry_after))} seconds.")
            reply.headers = {"retry-after": f"{max(1, round(retry_after))}", "x-ratelimit-remaining-requests": "0"}
            return reply
        if name in ("quota", "payment_required", "spend_limit", "gateway_quota"):
            return _azure(429, "insufficient_quota", "The subscription's quota for this resource has been exhausted.")
        if name == "server_error":
            return _azure(500, "InternalServerError", "The server had an error while processing your request. Sorry about that!")
        if name in ("unavailable", "overloaded"):
            return _azure(503, "ServiceUnavailable", "The service is temporarily unable to process your request. Please try again later.")
        if name == "not_found":
            return _azure(404, "DeploymentNotFound", "The API deployment for this resource does not exist.")
        if name == "error_envelope":
            return Reply(200, {"error": {"code": "InternalServerError", "message": "Upstream provider failed"}})
        raise KeyError(name)

