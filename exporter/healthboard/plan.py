"""The plan: a config resolved once into what runs. Targets (one per provider × model × check, every setting
inherited and every key read), the providers skipped and why, the estimated cost, the sink's DSN and the status
pages to poll. Nothing after this stage reads the environment or the raw config values again."""

from __future__ import annotations

import dataclasses
import logging
import os
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from healthboard.config import Config, ModelConfig, Price, ProviderConfig
from healthboard.config import env as config_env
from healthboard.config.model import SinkConfig, StatusPageConfig, inherited, model_options
from healthboard.errors import ConfigError
from healthboard.evidence import DEFAULT_FAST, Suspicion, extra_probe_factor
from healthboard.maintenance import Window, of_config
from healthboard.quality import BUILT_IN, Question
from healthboard.pricing import ASSUMED_INPUT_TOKENS, ASSUMED_OUTPUT_TOKENS, cost_usd, price_for, probes_per_month
from healthboard.secrets import Secret
from healthboard.status.pages import pages_for

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    provider: str
    kind: str
    model: str
    check: str
    region: str
    base_url: str
    api_key: Secret
    headers: Mapping[str, str]
    interval: float  # configured interval, after any budget stretch
    timeout: float
    max_tokens: int
    prompt: str
    keep_alive: bool
    price: Price | None
    options: Mapping[str, Any]  # the wire format's own keys (WireFormat.provider_options, model_options)
    temperature: float | None = None  # sent when set (quality checks: 0, deterministic answers)
    questions: tuple[Question, ...] = ()  # quality checks: the known-answer questions, asked in turn
    dimensions: int | None = None  # embeddings checks: the dimension to ask for and expect
    maintenance: tuple[Window, ...] = ()  # the configured maintenance windows that apply to this target
    # provider/model/check, built once: every book keys its entries by it, and a string per lookup was
    # ~1 MB more at 5,000 targets (docs/PERFORMANCE.md)
    id: str = dataclasses.field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", f"{self.provider}/{self.model}/{self.check}")

    @property
    def labels(self) -> tuple[str, str, str, str]:
        return (self.provider, self.model, self.region, self.check)


@dataclasses.dataclass(frozen=True, slots=True)
class Skipped:
    provider: str
    reason: str


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """Targets resolved from a config, plus what was left out and why."""

    targets: list[Target]
    skipped: list[Skipped]
    budget_factor: float  # >1 when the monthly budget stretched intervals
    monthly_cost_usd: float  # estimated at the effective intervals, adaptive re-checks included (evidence.py)
    api_token: Secret | None
    suspicion: Suspicion = dataclasses.field(default_factory=Suspicion)  # adaptive sampling settings
    sink_dsn: Secret | None = None  # the sink's DSN, when a sink is configured and its DSN resolves
    sink_problem: ConfigError | None = None  # why a configured sink's DSN doesn't resolve
    status_pages: list[StatusPageConfig] = dataclasses.field(default_factory=list)
    history_dsn: Secret | None = None  # status_page.history_dsn, resolved (None: unset, or its variable is)


def resolve_api_key(provider: ProviderConfig, environ: Mapping[str, str]) -> tuple[Secret | None, str | None]:
    """Return (key, None) or (None, reason the provider is skipped)."""
    if provider.api_key_file is not None:
        path = Path(provider.api_key_file)  # expanded with the rest of the file (config/loader.py)
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            return None, f"api_key_file {path} can't be read ({exc.strerror or exc})"
        return _usable_key(value, f"api_key_file {path}")
    if provider.api_key is None:
        return None, "no api_key or api_key_file is configured"
    try:
        value = config_env.expand(provider.api_key, environ)
    except config_env.UnsetVariable as exc:
        return None, f"environment variable {exc.name} is not set"
    return _usable_key(value, "api_key")


#: Header names whose values are never credentials (versions, feature flags): not registered as secrets.
PLAIN_HEADERS = frozenset({"anthropic-version", "anthropic-beta", "openai-beta", "content-type", "accept", "user-agent",
                           "x-stainless-lang", "api-version"})


def _usable_key(value: str, what: str) -> tuple[Secret | None, str | None]:
    """A key as HTTP can carry it. Surrounding whitespace (a CRLF .env file leaves a trailing \\r) is dropped;
    a line break or control character inside can't be sent in a header, so the provider is skipped."""
    stripped = value.strip()
    if stripped != value:
        Secret(value)  # the raw form is a secret too, should anything quote it
    if not stripped:
        return None, f"{what} is empty"
    if any(ord(c) < 32 or ord(c) == 127 for c in stripped):
        Secret(stripped)
        return None, f"{what} contains a line break or control character; write it on one line"
    return Secret(stripped), None


def resolve_secret(raw: str | None, environ: Mapping[str, str]) -> Secret | None:
    if not raw:
        return None
    try:
        value = config_env.expand(raw, environ)
    except config_env.UnsetVariable:
        return None
    return Secret(value) if value else None


def _reader_dsn(raw: str | None, environ: Mapping[str, str]) -> Secret | None:
    """The reader role's DSN, its password registered for scrubbing."""
    dsn = resolve_secret(raw, environ)
    if dsn is not None:
        password = urllib.parse.urlsplit(dsn.reveal()).password
        if password:
            Secret(password)
            Secret(urllib.parse.unquote(password))
    return dsn


def _target(config: Config, provider: ProviderConfig, model: ModelConfig, key: Secret) -> Target:
    for name, value in provider.headers.items():
        if name.lower() not in PLAIN_HEADERS and len(value) >= 8:
            Secret(value)  # extra headers often carry credentials: scrubbed wherever an upstream echoes them
    return Target(
        provider=provider.name,
        kind=provider.kind,
        model=model.name,
        check=model.check,
        region=config.region,
        base_url=provider.base_url,
        api_key=key,
        headers=dict(provider.headers),
        interval=inherited(config, provider, model, "interval"),
        timeout=inherited(config, provider, model, "timeout"),
        max_tokens=inherited(config, provider, model, "max_tokens"),
        prompt=inherited(config, provider, model, "prompt"),
        keep_alive=config.keep_alive if provider.keep_alive is None else provider.keep_alive,
        price=price_for(config, model.name, model.price),
        options={**provider.options(), **model_options(model)},
        temperature=0.0 if model.check == "quality" else None,
        questions=_questions(config) if model.check == "quality" else (),
        dimensions=model.dimensions,
        maintenance=tuple(w for w in of_config(config.maintenance) if w.applies_to(provider.name, model.name, config.region)),
    )


def _questions(config: Config) -> tuple[Question, ...]:
    if config.quality_questions is None:
        return BUILT_IN
    return tuple(Question(q.prompt, q.answer) for q in config.quality_questions)


def suspicion_of(config: Config) -> Suspicion:
    """The adaptive sampling settings of a config (a window of 0: four probe intervals of each target)."""
    fast = config.recheck_fast_interval if config.recheck_fast_interval is not None else min(DEFAULT_FAST, config.recheck_interval)
    return Suspicion(window=config.suspicion_window or 0.0, recheck=config.recheck_interval, fast=fast)


def target_monthly_cost(target: Target, suspicion: Suspicion) -> float:
    """One target's scheduled probes at its interval, each spending its whole output cap (a one-token chat
    probe: one token; a stream: its max_tokens), times the re-checks adaptive sampling adds at its assumed share
    of suspicious outcomes."""
    per_probe = cost_usd(target.price, ASSUMED_INPUT_TOKENS, max(ASSUMED_OUTPUT_TOKENS, target.max_tokens))
    return per_probe * probes_per_month(target.interval) * extra_probe_factor(target.interval, suspicion.for_check(target.check))


def monthly_cost(targets: list[Target], suspicion: Suspicion) -> float:
    return sum(target_monthly_cost(t, suspicion) for t in targets)


def cost_by_check(plan: "Plan") -> dict[str, float]:
    """The monthly estimate split by check kind (``check-config`` shows it)."""
    out: dict[str, float] = {}
    for target in plan.targets:
        out[target.check] = out.get(target.check, 0.0) + target_monthly_cost(target, plan.suspicion)
    return out


def resolve_dsn(config: SinkConfig, environ: Mapping[str, str], source: str) -> Secret:
    """The sink's DSN as a Secret (its password registered for scrubbing); a ConfigError naming what to set.
    ``dsn`` is expanded here (a lazy key); ``dsn_file`` was expanded with the rest of the file."""
    try:
        if config.dsn_file is not None:
            value = Path(config.dsn_file).read_text(encoding="utf-8").strip()
        else:
            value = config_env.expand(config.dsn or "", environ)
    except config_env.UnsetVariable as exc:
        raise ConfigError(source, [("sink.dsn", f"environment variable {exc.name} is not set; export it (a postgresql:// URL for the healthboard_writer role) or remove the sink block")]) from None
    except OSError as exc:
        raise ConfigError(source, [("sink.dsn_file", f"can't be read: {exc.strerror or exc}")]) from None
    if not value.startswith(("postgres://", "postgresql://")):
        raise ConfigError(source, [("sink.dsn", "must be a postgresql:// URL, e.g. postgresql://healthboard_writer:PASSWORD@HOST:6543/postgres")])
    password = urllib.parse.urlsplit(value).password
    if password:
        Secret(password)
        Secret(urllib.parse.unquote(password))
    return Secret(value)


def build_plan(config: Config, environ: Mapping[str, str] | None = None, source: str = "<config>") -> Plan:
    environ = os.environ if environ is None else environ
    targets: list[Target] = []
    skipped: list[Skipped] = []
    for provider in config.providers:
        if not provider.enabled:
            skipped.append(Skipped(provider.name, "enabled: false"))
            continue
        key, reason = resolve_api_key(provider, environ)
        if key is None:
            skipped.append(Skipped(provider.name, reason or "no key"))
            continue
        targets.extend(_target(config, provider, model, key) for model in provider.models)
    suspicion = suspicion_of(config)
    cost = monthly_cost(targets, suspicion)
    factor = 1.0
    if config.monthly_budget_usd is not None and cost > config.monthly_budget_usd:
        # cost is nearly inversely proportional to the interval (the re-check share shifts a little with it):
        # a few rounds of stretching by cost / budget converge
        wanted = targets
        for _ in range(8):
            factor *= cost / config.monthly_budget_usd
            targets = [dataclasses.replace(t, interval=t.interval * factor) for t in wanted]
            cost = monthly_cost(targets, suspicion)
            if cost <= config.monthly_budget_usd * (1 + 1e-9):
                break
    sink_dsn, sink_problem = None, None
    if config.sink is not None:
        try:
            sink_dsn = resolve_dsn(config.sink, environ, source)
        except ConfigError as exc:
            sink_problem = exc
    return Plan(targets, skipped, factor, cost, resolve_secret(config.api_token, environ), suspicion, sink_dsn, sink_problem,
                pages_for(config), _reader_dsn(config.status_page.history_dsn, environ))
