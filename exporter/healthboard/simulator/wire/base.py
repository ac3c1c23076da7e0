"""What each simulated wire format provides: request validation as the real API does it, a success body,
and every scripted fault rendered in that provider's documented error format."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import secrets
import struct
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
    operation: str = "chat"  # "chat" or "embed"
    inputs: list[str] = dataclasses.field(default_factory=list)  # embed: the texts
    dimensions: int | None = None  # embed: the dimension asked for
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

    def retired(self, call: Call) -> Reply:
        """The reply to a retired model: the kind's not-found error unless it words retirement its own way."""
        return self.fault("not_found", call, 0)

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

    # -- embeddings (formats that have them) ------------------------------------------------------

    def embed_success(self, call: Call, vectors: list[list[float]]) -> Reply:
        raise NotImplementedError

    # -- tool calls: a request with tools gets a call of the first one --------------------------------

    def tool_name(self, call: Call) -> str | None:
        """The first function the request offers, or None when it offers none."""
        raise NotImplementedError

    def tool_success(self, call: Call, name: str, arguments: str) -> Reply:
        """A reply calling ``name`` with ``arguments`` (JSON text, possibly broken on purpose)."""
        raise NotImplementedError

    def headers_for(self, reply: Reply, kind: str) -> dict[str, str]:
        """The reply's headers: the kind's common ones, then the reply's own."""
        return {**self.common_headers(), **reply.headers}


#: Default embedding dimensions of known embedding models (the providers' model pages); others get 768.
EMBEDDING_DIMENSIONS = {
    "text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536,
    "gemini-embedding-001": 3072, "text-embedding-004": 768,
    "embed-v4.0": 1536, "embed-english-v3.0": 1024, "embed-multilingual-v3.0": 1024, "embed-english-light-v3.0": 384,
}


def embedding(text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector for a text (the same text, the same vector), float32-exact."""
    values: list[float] = []
    counter = 0
    while len(values) < dimensions:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values += [(b - 127.5) / 127.5 for b in digest]
        counter += 1
    norm = math.sqrt(sum(v * v for v in values[:dimensions])) or 1.0
    return [struct.unpack("<f", struct.pack("<f", v / norm))[0] for v in values[:dimensions]]


def dimensions_of(call: Call) -> int:
    return call.dimensions or EMBEDDING_DIMENSIONS.get(call.model, 768)


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event: an optional ``event:`` line and a ``data:`` line, then a blank line."""
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return ((f"event: {event}\n" if event else "") + f"data: {text}\n\n").encode()


def text_of(content: Any) -> str:
    """A message's text: a string, or the text parts of a list of content parts (images and the rest skipped)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text") or "") for part in content if isinstance(part, dict) and ("text" in part))
    return ""


def function_tool_name(call: Call) -> str | None:
    """The first function of an OpenAI-style ``tools`` list (OpenAI, Cohere v2): ``[{type: function, function: {name}}]``."""
    tools = call.body.get("tools")
    first = tools[0] if isinstance(tools, list) and tools and isinstance(tools[0], dict) else {}
    return (first.get("function") or {}).get("name") if isinstance(first.get("function"), dict) else None
