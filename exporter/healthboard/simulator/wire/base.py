"""What each simulated wire format provides: request validation as the real API does it, a success body,
and every scripted fault rendered in that provider's documented error format."""

from __future__ import annotations

import dataclasses
import json
import secrets
from typing import Any

from aiohttp import web

#: Faults a scenario can script; each wire format renders them in its own documented shape.
FAULTS = (
    "unauthorized",
    "forbidden",
    "rate_limit",
    "quota",
    "payment_required",
    "spend_limit",
    "gateway_quota",
    "server_error",
    "unavailable",
    "overloaded",
    "not_found",
    "error_envelope",
    "malformed_json",
    "oversized",
    "empty",
    "hang",
    "trickle",
    "reset",
)


@dataclasses.dataclass
class Reply:
    status: int
    body: Any  # dict → JSON; bytes → raw
    headers: dict[str, str] = dataclasses.field(default_factory=dict)

    def encode(self) -> bytes:
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()


class Rejected(Exception):
    """Validation failed: answer with this reply, as the real API would."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


@dataclasses.dataclass
class Call:
    """A validated request."""

    kind: str
    model: str
    key: str
    prompt: str
    max_tokens: int
    body: dict[str, Any]
    stream: bool = False  # the client asked for a stream (SSE)
    sim_id: str = dataclasses.field(default_factory=lambda: secrets.token_hex(16))  # this answer's id, 32 hex digits


def random_id(prefix: str, size: int = 24) -> str:
    return prefix + secrets.token_hex(size // 2)


def mask_key(key: str) -> str:
    """How OpenAI echoes a wrong key: first and last few characters only."""
    return key[:3] + "*" * 6 + key[-4:] if len(key) > 8 else "*" * len(key)


async def json_body(request: web.Request) -> Any:
    raw = await request.read()
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


class SimWire:
    kind = ""
    paths: tuple[str, ...] = ()

    def key_of(self, request: web.Request) -> str | None:
        raise NotImplementedError

    def reject_key(self, key: str | None, kind: str | None = None) -> Reply:
        """The reply to a missing (None) or wrong key."""
        raise NotImplementedError

    async def validate(self, request: web.Request, known_models: set[str] | None) -> Call:
        raise NotImplementedError

    def success(self, call: Call, text: str) -> Reply:
        raise NotImplementedError

    def fault(self, name: str, call: Call, retry_after: float) -> Reply:
        raise NotImplementedError

    def common_headers(self) -> dict[str, str]:
        return {}

    # -- streaming: each format's documented event sequence, one SSE frame per item --------------

    def stream_head(self, call: Call) -> list[bytes]:
        """Frames before the first content token (metadata, role, block start)."""
        raise NotImplementedError

    def stream_delta(self, call: Call, piece: str, index: int) -> bytes:
        """The frame carrying one content token."""
        raise NotImplementedError

    def stream_tail(self, call: Call, tokens: int, finish: str) -> list[bytes]:
        """Frames after the last token: finish reason, usage, end of stream. ``finish``: "length" or "stop"."""
        raise NotImplementedError

    def stream_error(self, call: Call) -> bytes:
        """An error reported inside an open stream (the provider failed mid-answer)."""
        raise NotImplementedError

    def headers_for(self, reply: Reply, kind: str) -> dict[str, str]:
        """The reply's headers: the kind's common ones, then the reply's own."""
        return {**self.common_headers(), **reply.headers}


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event: an optional ``event:`` line and a ``data:`` line, then a blank line."""
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return ((f"event: {event}\n" if event else "") + f"data: {text}\n\n").encode()
