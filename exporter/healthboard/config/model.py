"""The configuration schema. Strict: unknown keys and wrong types are errors, never ignored."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from healthboard.durations import Duration
from healthboard.evidence import DEFAULT_SLOW
from healthboard.prober import WIRE_FORMATS, WireFormat
from healthboard.record import CHECKS
from healthboard.status import STATUS_FORMATS


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Price(Strict):
    """USD per million tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)


class ModelConfig(Strict):
    """The keys every model entry has; each wire format adds its own (``WireFormat.model_options``)."""

    name: str = Field(min_length=1)
    check: Literal[CHECKS] = "chat"  # type: ignore[valid-type]  # what kind of call: healthboard/record.py CHECKS
    interval: Duration | None = None
    timeout: Duration | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    prompt: str | None = None
    price: Price | None = None
    dimensions: int | None = Field(default=None, ge=1)  # embeddings checks: the dimension to ask for and expect


class ProviderConfig(Strict):
    """The keys every provider entry has; each wire format adds its own (``WireFormat.provider_options``), and
    ``kind`` picks the format (one variant of this schema per registered format: ``PROVIDER_VARIANTS``)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    kind: str
    base_url: str = Field(pattern=r"^https?://")
    api_key: str | None = None  # usually ${ENV_VAR}; resolved when targets are built
    api_key_file: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    models: list[ModelConfig] = Field(min_length=1)
    interval: Duration | None = None
    timeout: Duration | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    prompt: str | None = None
    keep_alive: bool | None = None
    enabled: bool = True

    @field_validator("models", mode="before")
    @classmethod
    def _names_to_objects(cls, value: object) -> object:
        if isinstance(value, list):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("headers")
    @classmethod
    def _sendable_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
                raise ValueError(f"header name {name!r} is not a valid HTTP header name")
            if any(ord(c) < 32 and c != "\t" or ord(c) == 127 for c in text):
                raise ValueError(f"the value of header {name!r} contains a line break or control character; write it on one line")
        return value

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _one_key(self) -> "ProviderConfig":
        if self.api_key is not None and self.api_key_file is not None:
            raise ValueError("set api_key or api_key_file, not both")
        return self

    def options(self) -> dict[str, Any]:
        """This provider's wire-format keys and their values."""
        return {name: getattr(self, name) for name in type(self).model_fields if name not in ProviderConfig.model_fields}


#: Settings a check kind brings unless its model entry sets them: a stream needs room for a few tokens to time
#: them, and runs every 5 minutes (as llmstatus's streaming checks do), not at the availability interval.
CHECK_DEFAULTS: dict[str, dict[str, Any]] = {
    "chat": {},
    "stream": {"interval": 300.0, "max_tokens": 16},
    "quality": {"interval": 900.0, "max_tokens": 8},  # the answers are a word or a number
    "embeddings": {"interval": 900.0},
    "tools": {"interval": 900.0, "max_tokens": 48},  # room for the call's arguments
    "vision": {"interval": 900.0, "max_tokens": 8},
}


class QualityQuestion(Strict):
    """A known-answer question of the quality checks (healthboard/quality.py scores the answer)."""

    prompt: str = Field(min_length=1)
    answer: str = Field(min_length=1)


def inherited(config: "Config", provider: ProviderConfig, model: ModelConfig, name: str) -> Any:
    """A setting a model inherits: its own, else its check kind's default (CHECK_DEFAULTS), else its provider's,
    else the top level's (interval, timeout, max_tokens, prompt). The one place inheritance is written."""
    value = getattr(model, name)
    if value is not None:
        return value
    if name in CHECK_DEFAULTS[model.check]:
        return CHECK_DEFAULTS[model.check][name]
    value = getattr(provider, name)
    return value if value is not None else getattr(config, name)


def model_options(model: ModelConfig) -> dict[str, Any]:
    """A model entry's wire-format keys and their values."""
    return {name: getattr(model, name) for name in type(model).model_fields if name not in ModelConfig.model_fields}


def _camel(kind: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]", kind))


def _provider_variant(wire: WireFormat) -> type[ProviderConfig]:
    """The provider schema of one wire format: the common keys plus the format's own, on the provider and on
    each of its models."""
    model = type(f"{_camel(wire.kind)}ModelConfig", (ModelConfig, wire.model_options), {
        "__module__": __name__,
        "__annotations__": {"check": Literal[wire.checks]},  # type: ignore[valid-type]  # the checks this format can run
        "check": "chat",
    })
    namespace = {
        "__module__": __name__,
        "__annotations__": {"kind": Literal[wire.kind], "models": list[model]},  # type: ignore[valid-type]
        "models": Field(min_length=1),
    }
    return type(f"{_camel(wire.kind)}ProviderConfig", (ProviderConfig, wire.provider_options), namespace)


#: One provider schema per registered wire format (healthboard/prober/__init__.py), by kind.
PROVIDER_VARIANTS: dict[str, type[ProviderConfig]] = {kind: _provider_variant(wire) for kind, wire in WIRE_FORMATS.items()}
KINDS = tuple(PROVIDER_VARIANTS)
AnyProvider = Annotated[Union[tuple(PROVIDER_VARIANTS.values())], Field(discriminator="kind")]  # type: ignore[valid-type]  # noqa: UP007

class HealthConfig(Strict):
    """Semantics of /api/health (the operations report's healthy / degraded / unhealthy)."""

    window: Duration = 300.0
    unhealthy_failure_ratio: float = Field(default=0.10, ge=0, le=1)
    degraded_p95: Duration = 3.0
    rate_limit_share: float = Field(default=0.5, ge=0, le=1)  # 429s "dominate" above this share of failures

    @field_validator("window")
    @classmethod
    def _within_retention(cls, value: float) -> float:
        if not 0 < value <= 900:
            raise ValueError("health.window must be above 0 and at most 15m (the exporter keeps 15 minutes of checks)")
        return value


class SinkConfig(Strict):
    """Mirror of every check record into Postgres/Supabase (supabase-sink/)."""

    dsn: str | None = None  # usually ${HEALTHBOARD_SINK_DSN}: the healthboard_writer role; resolved at start
    dsn_file: str | None = None
    spool_dir: str = "healthboard-spool"
    spool_max_rows: int = Field(default=500_000, ge=100)
    batch_size: int = Field(default=500, ge=1, le=10_000)
    batch_max_age: Duration = 5.0
    connect_timeout: Duration = 10.0
    write_timeout: Duration = 30.0  # a whole batch write (connect, BEGIN, INSERT, COMMIT); past it the connection is dropped
    retry_max: Duration = 30.0
    prune: Literal["auto", "always", "never"] = "auto"  # auto: call healthboard_prune() hourly unless pg_cron runs it
    prune_interval: Duration = 3600.0
    instance: str | None = None  # the llm_checks.instance column; default: this host's name
    request_ids: Literal["all", "failures"] = "all"  # "failures" stores request ids of failed checks only (saves space)

    @model_validator(mode="after")
    def _one_dsn(self) -> "SinkConfig":
        if (self.dsn is None) == (self.dsn_file is None):
            raise ValueError("sink needs exactly one of dsn or dsn_file")
        if self.write_timeout <= self.connect_timeout:
            raise ValueError(f"sink.write_timeout {self.write_timeout:g}s must be longer than sink.connect_timeout {self.connect_timeout:g}s")
        return self


class ClusterConfig(Strict):
    """Replicas of one region that split the targets (healthboard/cluster/, README "Scaling out"). Coordinates
    through lease rows in the sink's database, so it needs ``sink:``."""

    member: str | None = Field(default=None, min_length=1, max_length=200)  # default: $HOSTNAME, else the host name
    lease: Duration = 15.0  # a killed replica's targets move after at most this; heartbeats every lease/5

    @field_validator("lease")
    @classmethod
    def _lease_range(cls, value: float) -> float:
        if not 2 <= value <= 600:
            raise ValueError("cluster.lease must be between 2s and 10m")
        return value


class StatusPageConfig(Strict):
    """One provider's official status page (healthboard/status/); each page format adds its own keys (``options``
    of its adapter), and ``format`` picks it (``STATUS_PAGE_VARIANTS``)."""

    provider: str = Field(min_length=1)  # a provider name from providers:
    format: str
    url: str = Field(pattern=r"^https?://")  # page root (statuspage, incidentio) or the document (google-cloud, feed)
    components: list[str] = Field(default_factory=list)  # which parts matter (see docs); empty = all

    @field_validator("url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("components")
    @classmethod
    def _valid_patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"component pattern {pattern!r} is not a valid regular expression: {exc}") from None
        return value


def _status_page_variant(name: str, adapter: type) -> type[StatusPageConfig]:
    namespace = {"__module__": __name__, "__annotations__": {"format": Literal[name]}}  # type: ignore[valid-type]
    return type(f"{_camel(name)}StatusPageConfig", (StatusPageConfig, adapter.options), namespace)


#: One page schema per registered status-page format (healthboard/status/__init__.py), by format.
STATUS_PAGE_VARIANTS: dict[str, type[StatusPageConfig]] = {name: _status_page_variant(name, a) for name, a in STATUS_FORMATS.items()}
AnyStatusPage = Annotated[Union[tuple(STATUS_PAGE_VARIANTS.values())], Field(discriminator="format")]  # type: ignore[valid-type]  # noqa: UP007


class StatusConfig(Strict):
    """The official status poller: reads providers' status pages for the mismatch alert and detection lead."""

    enabled: bool = True
    interval: Duration = 300.0
    timeout: Duration = 10.0
    defaults: bool = True  # add the built-in page of each provider whose base_url host is known (api.openai.com, …)
    pages: list[AnyStatusPage] = Field(default_factory=list)

    @model_validator(mode="after")
    def _checks(self) -> "StatusConfig":
        if self.interval < 30:
            raise ValueError("status.interval must be at least 30s: status pages are shared and rate limited")
        if not 0 < self.timeout < self.interval:
            raise ValueError("status.timeout must be above 0 and shorter than status.interval")
        return self


class MaintenanceConfig(Strict):
    """A maintenance window (README: maintenance windows): probes keep running, their records carry
    ``maintenance``, alerts for the scope are muted (the LLMMaintenance inhibition) and the time is left out of
    availability. One-off (``start`` plus ``end`` or ``duration``) or recurring (``every: day|week`` from
    ``start``, for ``duration``). Scope: any of provider, model, region; none means everything."""

    name: str = Field(min_length=1)
    provider: str | None = None
    model: str | None = None
    region: str | None = None
    start: dt.datetime
    end: dt.datetime | None = None
    duration: Duration | None = None
    every: Literal["day", "week"] | None = None

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give the time zone: e.g. 2026-11-28T02:00:00Z or 2026-11-28T11:00:00+09:00")
        return value

    @model_validator(mode="after")
    def _checks(self) -> "MaintenanceConfig":
        if self.model is not None and self.provider is None:
            raise ValueError("a window scoped to a model names its provider too")
        if (self.end is None) == (self.duration is None):
            raise ValueError("give either end or duration (a recurring window: duration)")
        if self.every is not None and self.end is not None:
            raise ValueError("a recurring window (every) takes a duration, not an end")
        if self.length <= 0:
            raise ValueError("the window must end after it starts")
        if self.every is not None and self.length >= self.period:
            raise ValueError(f"duration must be shorter than the recurrence ({self.every})")
        return self

    @property
    def length(self) -> float:
        return (self.end - self.start).total_seconds() if self.end is not None else float(self.duration or 0)

    @property
    def period(self) -> float:
        return {"day": 86400.0, "week": 604800.0}[self.every] if self.every else 0.0


class StatusPageSettings(Strict):
    """The people's status page (/status, /badge/*): README "Status page"."""

    title: str = "LLM API status"
    public: bool = False  # true: a view without error messages, request ids, regions or internal URLs
    show_models: bool = True  # public view: list models under each provider
    refresh: Duration = 30.0  # the page reloads itself this often (<meta http-equiv=refresh>)
    memory_days: int = Field(default=30, ge=1, le=90)  # days of history the page shows, kept in memory
    # postgresql:// URL of the sink's healthboard_reader role (usually ${HEALTHBOARD_READER_DSN}): serves /report
    history_dsn: str | None = None


class Config(Strict):
    region: str = Field(default="default", pattern=r"^[A-Za-z0-9_.-]+$")
    interval: Duration = 30.0
    timeout: Duration = 10.0
    recheck_interval: Duration = 7.5  # 0 disables re-checks
    recheck_fast_interval: Duration | None = None  # default: 3s (recheck_interval if that is shorter)
    suspicion_window: Duration | None = None  # default: four probe intervals, at most 2m
    slow_threshold: Duration = DEFAULT_SLOW  # an answer this slow is suspicious: re-checked (below S2's 5 s on purpose)
    backoff_max: Duration = 600.0
    concurrency: int = Field(default=64, ge=1)
    prompt: str = "ping"
    max_tokens: int = Field(default=1, ge=1)
    keep_alive: bool = False
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    listen: str = "127.0.0.1:9464"  # loopback: expose it deliberately (--listen 0.0.0.0:9464 in a container)
    api_token: str | None = None  # bearer token for POST /-/reload and /api/targets/*; unset disables them
    monthly_budget_usd: float | None = Field(default=None, gt=0)
    quality_questions: list[QualityQuestion] | None = Field(default=None, min_length=1)  # default: healthboard/quality.py
    phase_histograms: bool = False  # per-phase latency histograms (dns, connect, tls, ttfb, transfer): 45 series a target
    lifecycle_interval: Duration = 21600.0  # how often to read each openai-kind model's shutdown_date; 0 disables
    otel_names: bool = False  # also export the OpenTelemetry GenAI client metrics (healthboard/metrics/otel.py)
    recent_checks: int = Field(default=1000, ge=10)
    health: HealthConfig = Field(default_factory=HealthConfig)
    prices: dict[str, Price] = Field(default_factory=dict)
    sink: SinkConfig | None = None
    cluster: ClusterConfig | None = None
    status: StatusConfig = Field(default_factory=StatusConfig)
    status_page: StatusPageSettings = Field(default_factory=StatusPageSettings)
    maintenance: list[MaintenanceConfig] = Field(default_factory=list)
    providers: list[AnyProvider] = Field(default_factory=list)

    @model_validator(mode="after")
    def _checks(self) -> "Config":
        # Checks across fields and providers live in config/loader.py (_check_across), which reports every
        # problem with its line; these are the ones about this block alone.
        if self.interval <= 0:
            raise ValueError("interval must be above 0")
        if self.timeout <= 0:
            raise ValueError("timeout must be above 0")
        if self.recheck_fast_interval is not None and not 0 < self.recheck_fast_interval <= self.recheck_interval:
            raise ValueError(
                f"recheck_fast_interval {self.recheck_fast_interval:g}s must be above 0 and at most recheck_interval {self.recheck_interval:g}s"
            )
        if self.recheck_interval < 0:
            raise ValueError("recheck_interval must be 0 (no re-checks) or above")
        return self
