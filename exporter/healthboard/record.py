"""The check record: one probe's outcome, the unit that flows to metrics, the ring and the sink."""

from __future__ import annotations

import dataclasses
import enum
import uuid
from typing import Any


class ErrorType(str, enum.Enum):
    """Exactly one per failed probe; the most specific wins.

    The product spec's six types (ARCHITECTURE.md, "Sources") (auth, rate_limit, 5xx, timeout, dns, other), refined.
    """

    AUTH = "auth"
    QUOTA = "quota"
    RATE_LIMIT = "rate_limit"
    OVERLOADED = "overloaded"
    SERVER_ERROR = "5xx"
    TIMEOUT = "timeout"
    DNS = "dns"
    CONNECT = "connect"
    TLS = "tls"
    NOT_FOUND = "not_found"
    BAD_REQUEST = "bad_request"
    INVALID_RESPONSE = "invalid_response"
    STREAM_INTERRUPTED = "stream_interrupted"  # a stream cut off, or ended without its end event, finish reason or usage
    OTHER = "other"

    def __str__(self) -> str:  # so f-strings and labels read "5xx", not "ErrorType.SERVER_ERROR"
        return self.value


#: Failures that say something is wrong with *our* probe (key, billing, model name, request),
#: not with the provider. They never count toward outage alerts and never trigger re-checks.
MISCONFIGURATION_TYPES = frozenset({ErrorType.AUTH, ErrorType.QUOTA, ErrorType.NOT_FOUND, ErrorType.BAD_REQUEST})
#: Failures answered by slowing down (interval doubling), not by re-checking sooner.
BACKOFF_TYPES = frozenset({ErrorType.RATE_LIMIT, ErrorType.QUOTA})
#: Failures that suggest the provider is failing: these trigger fast re-checks.
OUTAGE_TYPES = frozenset(ErrorType) - MISCONFIGURATION_TYPES - {ErrorType.RATE_LIMIT}

PHASES = ("dns", "connect", "tls", "ttfb", "transfer")

#: The kinds of check a model can run (``check:`` in the config). ``chat``: one non-streaming call with a tiny
#: output cap (is it up?). ``stream``: a streamed call that measures time to first token, output speed and
#: the longest gap between chunks (what an application feels). ``quality``: a known-answer question, scored
#: 0-100 (healthboard/quality.py). ``tools``: one forced function call whose arguments must parse. ``vision``: a built-in image and a question about it,
#: scored like ``quality``. ``embeddings``: one short input; the vector must be finite, not all zeros, of
#: the configured dimension.
CHECKS = ("chat", "stream", "quality", "tools", "vision", "embeddings")


@dataclasses.dataclass(slots=True)
class CheckRecord:
    """One probe result. Field names follow the product spec's ``llm_checks`` data model."""

    ts: float  # unix seconds at probe start
    provider: str
    model: str
    region: str
    check: str
    ok: bool
    http_status: int | None
    error_type: ErrorType | None
    latency_ms: float
    input_tokens: int | None = None
    output_tokens: int | None = None
    request_id: str | None = None
    error_message: str | None = None
    phases: dict[str, float] = dataclasses.field(default_factory=dict)  # seconds per phase
    scheduled: bool = True  # False for a re-check after a failure (see docs: unbiased counters)
    cost_usd: float = 0.0
    retry_after: float | None = None  # seconds, from a Retry-After header
    ratelimit: dict[str, float] = dataclasses.field(default_factory=dict)  # e.g. remaining_requests
    ttft_ms: float | None = None  # stream checks: request start to the first content token
    tokens_per_s: float | None = None  # stream checks: output tokens per second after the first token
    max_gap_ms: float | None = None  # stream checks: the longest wait between two events after the first token
    quality_score: int | None = None  # quality checks: 0-100 for the answer to a known-answer question
    served_model: str | None = None  # the model the provider says answered (``response.model``)
    deprecation: str | None = None  # what the reply says of the model's retirement (Sunset header, "has been deprecated")
    maintenance: bool = False  # probed during a configured maintenance window (healthboard/maintenance.py)
    reasoning_exhausted: bool = False  # ok, but the output budget went on hidden reasoning: no answer to score
    id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def target_id(self) -> str:
        return f"{self.provider}/{self.model}/{self.check}"

    def to_json(self) -> dict[str, Any]:
        """The record as the JSON API and ``once --format json`` print it."""
        import datetime as _dt

        return {
            "id": self.id,
            "ts": _dt.datetime.fromtimestamp(self.ts, tz=_dt.timezone.utc).isoformat(timespec="milliseconds"),
            "provider": self.provider,
            "model": self.model,
            "region": self.region,
            "check": self.check,
            "ok": self.ok,
            "http_status": self.http_status,
            "error_type": self.error_type.value if self.error_type else None,
            "latency_ms": round(self.latency_ms, 3),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "request_id": self.request_id,
            "error_message": self.error_message,
            "phases_ms": {k: round(v * 1000, 3) for k, v in self.phases.items()},
            "scheduled": self.scheduled,
            "cost_usd": self.cost_usd,
            "served_model": self.served_model,
            "deprecation": self.deprecation,
            "maintenance": self.maintenance,
            "reasoning_exhausted": self.reasoning_exhausted,
            **({"ttft_ms": _round(self.ttft_ms), "tokens_per_s": _round(self.tokens_per_s), "max_gap_ms": _round(self.max_gap_ms)}
               if self.check == "stream" else {}),
            **({"quality_score": self.quality_score} if self.check in ("quality", "vision") else {}),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
