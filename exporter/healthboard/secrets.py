"""Secrets: resolved API keys are wrapped so they never print, and every known secret is scrubbed from text we emit."""

from __future__ import annotations

import hmac
import logging
import re
import threading

REDACTED = "[REDACTED]"
# Token shapes worth scrubbing even when we don't know the value (a provider echoing some other key).
_KEY_SHAPES = re.compile(
    r"(sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{12,}|AIza[0-9A-Za-z_\-]{20,}|xai-[A-Za-z0-9]{20,}|Bearer\s+[A-Za-z0-9._\-]{8,})"
)


class Secret:
    """A secret string. ``str()``/``repr()`` are redacted; ``reveal()`` is the only way to the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        _registry.add(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED})"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))


class _Registry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str) -> None:
        if len(value) < 4:  # too short to scrub without mangling ordinary text
            return
        with self._lock:
            if value not in self._values:
                self._values.add(value)
                self._pattern = None

    def scrub(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None and self._values:
            with self._lock:
                alternatives = sorted(self._values, key=len, reverse=True)
                pattern = self._pattern = re.compile("|".join(re.escape(v) for v in alternatives))
        if pattern is not None:
            text = pattern.sub(REDACTED, text)
        return _KEY_SHAPES.sub(REDACTED, text)


_registry = _Registry()


def scrub(text: str) -> str:
    """Remove every registered secret and anything shaped like an API key."""
    return _registry.scrub(text)


class ScrubbingFilter(logging.Filter):
    """Logging filter that scrubs secrets from every record's final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True
