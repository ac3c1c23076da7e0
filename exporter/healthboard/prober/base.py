"""What every wire format shares: the request it builds, the reply it reads, and generic classification."""

from __future__ import annotations

import dataclasses
import email.utils
import json
import math
import time
from collections.abc import Mapping
from typing import Any, TYPE_CHECKING

from healthboard.options import Options
from healthboard.quality import judge_tool_call
from healthboard.record import ErrorType
from healthboard.secrets import scrub

if TYPE_CHECKING:
    from healthboard.plan import Target

MAX_MESSAGE_CHARS = 200


@dataclasses.dataclass(slots=True)
class Request:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


@dataclasses.dataclass(slots=True)
class Reply:
    status: int
    headers: Mapping[str, str]  # case-insensitive (aiohttp's CIMultiDictProxy) in real use
    body: bytes


@dataclasses.dataclass(slots=True)
class Verdict:
    """What a wire format makes of a reply."""

    ok: bool
    error_type: ErrorType | None = None
    message: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    request_id: str | None = None
    retry_after: float | None = None  # seconds the body asks us to wait (Gemini's RetryInfo); headers win
    text: str | None = None  # the answer's text (quality checks score it)
    served_model: str | None = None  # the model the provider says answered (response.model, Gemini's modelVersion)
    reasoning_tokens: int | None = None  # output tokens the model spent thinking (OpenAI reasoning_tokens, Gemini thoughts)
    truncated: bool = False  # the reply stopped at the output cap (finish reason length / MAX_TOKENS)

    @property
    def reasoning_exhausted(self) -> bool:
        """The output budget went on hidden reasoning: stopped at the cap with reasoning tokens and no answer.
        Its own outcome: the API answered (not an outage), the answer just never came (not a wrong answer)."""
        return self.ok and self.truncated and bool(self.reasoning_tokens) and not (self.text or "").strip()


@dataclasses.dataclass(slots=True)
class StreamPart:
    """What one event of a streamed reply says (``WireFormat.read_event``)."""

    text: str = ""  # content text it carries ("" for role, metadata and keep-alive events)
    end: bool = False  # the format's own end of the stream
    finish: str | None = None  # the finish (stop) reason, when this event carries it
    input_tokens: int | None = None
    output_tokens: int | None = None
    error: tuple[ErrorType, str] | None = None  # an error reported inside the stream
    request_id: str | None = None
    served_model: str | None = None


#: Words with which providers say a model is gone, in a 404 or 410 (OpenAI: "has been deprecated").
RETIREMENT_WORDS = ("deprecated", "retired", "decommissioned", "no longer available", "no longer supported", "has been shut down", "sunset")


def deprecation_notice(status: int | None, headers: Mapping[str, str], message: str | None) -> str | None:
    """What a reply says of the model's retirement: a ``Sunset`` (RFC 8594) or ``Deprecation`` (RFC 9745) header,
    or a 404/410 whose message says the model is gone. None when it says nothing."""
    sunset, deprecation = headers.get("Sunset"), headers.get("Deprecation")
    if sunset or deprecation:
        return short(f"retirement announced: {'Sunset ' + sunset if sunset else 'Deprecation ' + str(deprecation)}")
    if status in (404, 410) and message and any(word in message.lower() for word in RETIREMENT_WORDS):
        return short(f"retired: {message}")
    return None


def same_model_family(requested: str, served: str) -> bool:
    """Whether the model that answered is the one asked for: the same name, or one a dated snapshot or version of
    the other (gpt-4o-mini → gpt-4o-mini-2024-07-18, gemini-2.0-flash → gemini-2.0-flash-001), "models/" aside."""
    a, b = requested.removeprefix("models/").lower(), served.removeprefix("models/").lower()
    return a == b or b.startswith(a + "-") or a.startswith(b + "-") or b.startswith(a + "@")


#: Phrases of billing exhaustion any upstream may relay inside another error's message (LiteLLM turns an
#: OpenAI ``insufficient_quota`` into ``{"type": "throttling_error", "code": "429"}`` and keeps only the
#: message). Error *codes* only, and phrasings no rate limit uses: "exceeded your current quota" is not here,
#: because Gemini says it of per-minute limits too.
RELAYED_QUOTA_PHRASES = ("insufficient_quota", "billing_hard_limit_reached", "billing_not_active", "insufficient balance",
                         "credit balance is too low", "prepayment credits", "credits are depleted", "spend limit",
                         "spend_limit_reached")


def relayed_quota(message: str) -> bool:
    lowered = message.lower()
    return any(phrase in lowered for phrase in RELAYED_QUOTA_PHRASES)


def json_request(url: str, headers: dict[str, str], payload: dict[str, Any]) -> Request:
    headers = {"Content-Type": "application/json", "Accept": "application/json", **headers}
    return Request("POST", url, headers, json.dumps(payload, separators=(",", ":")).encode())


def with_body(request: Request, fields: dict[str, Any], accept: str | None = None) -> Request:
    """The request with ``fields`` set in its JSON body (a streamed, tool or vision variant of a call)."""
    request.body = json.dumps({**json.loads(request.body), **fields}, separators=(",", ":")).encode()
    if accept:
        request.headers["Accept"] = accept
    return request


def decode_json(body: bytes) -> Any:
    """The parsed body, or None when it isn't JSON."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def short(text: object) -> str:
    """A one-line, secret-free, bounded message."""
    message = " ".join(str(text).split())
    message = scrub(message)
    return message if len(message) <= MAX_MESSAGE_CHARS else message[: MAX_MESSAGE_CHARS - 1] + "…"


def status_error_type(status: int) -> ErrorType:
    """Generic HTTP status → error type; wire formats refine it from the body."""
    if status in (401, 403):
        return ErrorType.AUTH
    if status == 404:
        return ErrorType.NOT_FOUND
    if status == 402:  # Payment Required: billing, whoever says it (DeepSeek "Insufficient Balance", Gemini prepayment)
        return ErrorType.QUOTA
    if status == 429:
        return ErrorType.RATE_LIMIT
    if status == 529:
        return ErrorType.OVERLOADED
    if 500 <= status <= 599:
        return ErrorType.SERVER_ERROR
    if 400 <= status <= 499:
        return ErrorType.BAD_REQUEST
    return ErrorType.OTHER


def as_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (delta seconds or an HTTP date)."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


REQUEST_ID_HEADERS = ("x-request-id", "request-id", "apim-request-id", "x-trace-id", "x-goog-request-id")


def request_id_from(headers: Mapping[str, str]) -> str | None:
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return short(value)[:128]
    return None


class WireFormat:
    """One provider wire format. Subclasses build the request and judge the reply; nothing else.

    ``kind`` is the value of ``kind:`` in the config. ``provider_options`` and ``model_options`` are the
    format's own config keys (on its provider entry, on each of its models); the config accepts them for this
    kind only and validates them with these models, and the target carries their values in ``options``."""

    kind: str = ""
    provider_options: type[Options] = Options
    model_options: type[Options] = Options
    #: The check kinds this format can run (healthboard/record.py CHECKS); the config accepts only these.
    checks: tuple[str, ...] = ("chat", "stream", "quality", "tools", "vision")
    #: header name → (resource, "limit" | "remaining") for rate-limit headroom gauges
    ratelimit_headers: Mapping[str, tuple[str, str]] = {}

    def build_request(self, target: Target) -> Request:
        raise NotImplementedError

    def build_stream_request(self, target: Target) -> Request:
        """The same call, streamed (``check: stream``), asking for usage in the stream where the API needs asking."""
        raise NotImplementedError

    def build_embeddings_request(self, target: Target) -> Request:
        """``check: embeddings``: one short input (the target's prompt), the dimension asked for when configured."""
        raise NotImplementedError

    def embedding_vectors(self, data: dict[str, Any]) -> list[Any] | None:
        """The vectors of an embeddings reply, as the format puts them (None: not the success shape)."""
        raise NotImplementedError

    def judge_embeddings(self, reply: Reply, expected_dimension: int | None) -> Verdict:
        """An embeddings reply: errors as any reply; success only with a vector that is finite, not all zeros,
        and of the configured dimension."""
        if not 200 <= reply.status <= 299:
            return self.judge(reply)
        data = decode_json(reply.body)
        vectors = self.embedding_vectors(data) if isinstance(data, dict) else None
        if not vectors or not isinstance(vectors[0], list) or not vectors[0]:
            return Verdict(False, ErrorType.INVALID_RESPONSE, "2xx reply has no embedding vector", request_id=request_id_from(reply.headers))
        vector = vectors[0]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in vector):
            problem = "the vector has values that are not finite numbers"
        elif not any(vector):
            problem = f"the vector is all zeros ({len(vector)} dimensions)"
        elif expected_dimension is not None and len(vector) != expected_dimension:
            problem = f"the vector has {len(vector)} dimensions, {expected_dimension} expected"
        else:
            problem = None
        return Verdict(problem is None, None if problem is None else ErrorType.INVALID_RESPONSE, problem,
                       input_tokens=self.embedding_tokens(data), request_id=request_id_from(reply.headers))

    def embedding_tokens(self, data: dict[str, Any]) -> int | None:
        return None

    def build_vision_request(self, target: Target) -> Request:
        """``check: vision``: the built-in image (healthboard/quality.py) and its question, in one user message."""
        raise NotImplementedError

    # -- tools: one forced function call (healthboard/quality.py: TOOL_*) ------------------------------

    def build_tools_request(self, target: Target) -> Request:
        raise NotImplementedError

    def tool_call(self, data: dict[str, Any]) -> tuple[str | None, object]:
        """(function name, arguments as sent) of the reply's first tool call; (None, None) when it has none."""
        raise NotImplementedError

    def judge_tools(self, reply: Reply) -> Verdict:
        verdict = self.judge(reply)
        if not verdict.ok:
            return verdict
        data = decode_json(reply.body)
        problem = judge_tool_call(*self.tool_call(data)) if isinstance(data, dict) else "the reply is not JSON"
        if problem is not None:
            verdict.ok, verdict.error_type, verdict.message = False, ErrorType.INVALID_RESPONSE, short(problem)
        return verdict

    def read_event(self, event: str, data: str) -> StreamPart:
        """One server-sent event of a streamed reply: ``event`` is its ``event:`` field ("" when absent), ``data``
        its data. Raises ValueError on an event that can't be read (malformed JSON, wrong shape)."""
        raise NotImplementedError

    def judge(self, reply: Reply) -> Verdict:
        """Classify a complete reply. Success means 2xx *and* the provider's success shape."""
        data = decode_json(reply.body)
        if 200 <= reply.status <= 299:
            if not isinstance(data, dict):
                return Verdict(False, ErrorType.INVALID_RESPONSE, "2xx reply is not a JSON object")
            if "error" in data and data["error"]:
                return Verdict(False, ErrorType.INVALID_RESPONSE, f"2xx reply carries an error: {self.error_message(data) or 'error'}")
            verdict = self.judge_success(data)
        else:
            error_type = self.error_type(reply.status, data if isinstance(data, dict) else {}, reply.headers)
            message = self.error_message(data) if isinstance(data, dict) else None
            if message is None:
                message = f"HTTP {reply.status}" + ("" if data is not None else " (body is not JSON)")
            verdict = Verdict(False, error_type, message, retry_after=self.body_retry_after(data) if isinstance(data, dict) else None)
        if verdict.message:
            verdict.message = short(verdict.message)
        verdict.request_id = request_id_from(reply.headers) or (short(self.body_request_id(data))[:128] if isinstance(data, dict) and self.body_request_id(data) else None)
        return verdict

    def judge_success(self, data: dict[str, Any]) -> Verdict:
        raise NotImplementedError

    def error_type(self, status: int, data: dict[str, Any], headers: Mapping[str, str]) -> ErrorType:
        return status_error_type(status)

    def error_message(self, data: Any) -> str | None:
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if isinstance(data, dict) and isinstance(data.get("message"), str):
            return data["message"]
        return None

    def body_request_id(self, data: dict[str, Any]) -> str | None:
        return None

    def body_retry_after(self, data: dict[str, Any]) -> float | None:
        """Seconds to wait that an error body asks for (headers, when present, win)."""
        return None

    def ratelimit(self, headers: Mapping[str, str]) -> dict[str, float]:
        """Rate-limit headroom the reply advertises: {"remaining_requests": 499.0, "limit_tokens": …}."""
        found: dict[str, float] = {}
        for header, (resource, which) in self.ratelimit_headers.items():
            value = headers.get(header)
            if value is None:
                continue
            try:
                found[f"{which}_{resource}"] = float(value)
            except ValueError:
                continue
        return found
