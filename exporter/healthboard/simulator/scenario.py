"""Scenario files: what the simulator does, per provider kind and model, over time.

See docs/SIMULATOR.md for the format. Times are measured from simulator start (or the last scenario load).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import math
import random
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from healthboard.durations import Duration, parse_duration
from healthboard.config.loader import parse_yaml
from healthboard.errors import ConfigError
from healthboard.simulator.status import StatusPageScript

FaultName = Literal[
    "unauthorized", "forbidden", "rate_limit", "quota", "payment_required", "spend_limit", "gateway_quota", "server_error",
    "unavailable", "overloaded", "not_found", "error_envelope", "malformed_json", "oversized", "empty", "hang", "trickle", "reset",
    "stream_stall", "stream_cut", "stream_error", "wrong_answer", "bad_embedding", "bad_tool_args",
]
Outcome = Literal[
    "ok", "unauthorized", "forbidden", "rate_limit", "quota", "payment_required", "spend_limit", "gateway_quota", "server_error",
    "unavailable", "overloaded", "not_found", "error_envelope", "malformed_json", "oversized", "empty", "hang", "trickle", "reset",
    "stream_stall", "stream_cut", "stream_error", "wrong_answer", "bad_embedding", "bad_tool_args",
]
#: Faults of a streamed answer (SIMULATOR.md): a stall of ``hang_for`` halfway, the connection closed halfway, an
#: error event halfway. A request that isn't streamed gets an ordinary answer instead.
STREAM_FAULTS = frozenset({"stream_stall", "stream_cut", "stream_error"})


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Latency(Strict):
    """Delay before response headers: ``fixed``, lognormal (``median`` + ``sigma``), or uniform (``min``..``max``)."""

    fixed: Duration | None = None
    median: Duration | None = None
    sigma: float = Field(default=0.0, ge=0)
    min: Duration | None = None
    max: Duration | None = None

    @model_validator(mode="before")
    @classmethod
    def _scalar_is_fixed(cls, value: object) -> object:
        return {"fixed": value} if isinstance(value, (str, int, float)) else value

    @model_validator(mode="after")
    def _one_shape(self) -> "Latency":
        shapes = [self.fixed is not None, self.median is not None, self.min is not None or self.max is not None]
        if sum(shapes) != 1:
            raise ValueError("latency is one of: a duration (fixed), {median, sigma} (lognormal), or {min, max} (uniform)")
        if shapes[2] and (self.min is None or self.max is None or self.min > self.max):
            raise ValueError("uniform latency needs min <= max")
        return self

    def sample(self, rng: random.Random) -> float:
        if self.fixed is not None:
            return self.fixed
        if self.median is not None:
            return self.median * math.exp(rng.gauss(0.0, self.sigma)) if self.sigma else self.median
        return rng.uniform(self.min or 0.0, self.max or 0.0)


class Match(Strict):
    kind: str | None = None  # openai | azure-openai | anthropic | gemini | cohere
    model: str | None = None  # glob, e.g. "gpt-4o*"
    prefix: str | None = None  # first path segment, e.g. "xai" for base_url http://sim/xai/v1

    def matches(self, kind: str, model: str, prefix: str | None) -> bool:
        return (
            (self.kind is None or self.kind == kind)
            and (self.model is None or fnmatch.fnmatchcase(model, self.model))
            and (self.prefix is None or self.prefix == prefix)
        )


class Rule(Strict):
    match: Match = Field(default_factory=Match)
    start: Duration = Field(default=0.0, alias="from")
    until: Duration | None = None
    latency: Latency | None = None
    faults: dict[FaultName, float] = Field(default_factory=dict)  # probability per fault; the rest answers ok
    sequence: list[Outcome] | None = None  # cycled in order, per kind/model; overrides faults
    retry_after: Duration = 2.0
    hang_for: Duration = 60.0
    trickle_interval: Duration = 0.5
    sunset: dt.date | None = None  # announce the model's retirement on that day: Deprecation and Sunset headers
    serve_model: str | None = None  # answer as this model (a provider serving another model than the one asked for)
    first_token: Latency | None = None  # streams: from the response headers to the first content token
    chunk_interval: Duration | None = None  # streams: between content tokens

    @field_validator("faults")
    @classmethod
    def _probabilities(cls, value: dict[str, float]) -> dict[str, float]:
        if any(p < 0 for p in value.values()) or sum(value.values()) > 1.0 + 1e-9:
            raise ValueError("fault probabilities must be >= 0 and sum to at most 1")
        return value

    def active(self, elapsed: float) -> bool:
        return elapsed >= self.start and (self.until is None or elapsed < self.until)


DEFAULT_RETIRED = ["gemini-1.5-flash", "gemini-1.5-pro", "gemini-1.0-pro", "claude-2.1", "claude-instant-1.2"]


class StreamSettings(Strict):
    """How streamed answers are paced, unless a rule says otherwise."""

    tokens: int = Field(default=16, ge=1, le=4096)  # content tokens of a streamed answer (at most the request's cap)
    first_token: Latency = Field(default_factory=lambda: Latency(fixed=0.05))
    chunk_interval: Duration = 0.01


class Scenario(Strict):
    seed: int = 0
    latency: Latency = Field(default_factory=lambda: Latency(median=0.25, sigma=0.3))
    reply_text: str = "pong"
    wrong_text: str = "banana"  # the answer of the wrong_answer fault
    stream: StreamSettings = Field(default_factory=StreamSettings)
    keys: dict[str, list[str]] = Field(default_factory=dict)  # per kind; none listed = any key not starting "invalid"
    models: dict[str, list[str]] = Field(default_factory=dict)  # per kind; none listed = any model not retired
    retired_models: list[str] = Field(default_factory=lambda: list(DEFAULT_RETIRED))
    rules: list[Rule] = Field(default_factory=list)
    status_pages: dict[str, StatusPageScript] = Field(default_factory=dict)  # served under /status/<name>/

    def accepts_key(self, kind: str, key: str) -> bool:
        allowed = self.keys.get(kind) or (self.keys.get("openai") if kind == "azure-openai" else None)
        return key in allowed if allowed else not key.startswith("invalid")

    def known_models(self, kind: str) -> set[str] | None:
        listed = self.models.get(kind)
        return set(listed) if listed else None

    def is_retired(self, model: str) -> bool:
        return model in self.retired_models


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    data, _ = parse_yaml(text, source)
    try:
        return Scenario.model_validate(data or {})
    except ValidationError as exc:
        problems = [(".".join(str(p) for p in e["loc"]) or "(top level)", e["msg"].removeprefix("Value error, ")) for e in exc.errors()]
        raise ConfigError(source, problems) from None


def load_scenario(path: str | Path) -> Scenario:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [("file", f"can't be read: {exc.strerror or exc}")]) from None
    return parse_scenario(text, str(path))


__all__ = ["Latency", "Match", "Rule", "Scenario", "load_scenario", "parse_duration", "parse_scenario"]
