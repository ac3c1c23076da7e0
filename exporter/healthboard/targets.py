"""Targets: what the scheduler probes, one per provider × model × check, with every setting resolved."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from healthboard.config import Config, ModelConfig, Price, ProviderConfig
from healthboard.config import env as config_env
from healthboard.evidence import DEFAULT_FAST, Suspicion, extra_probe_factor
from healthboard.pricing import ASSUMED_INPUT_TOKENS, ASSUMED_OUTPUT_TOKENS, cost_usd, price_for, probes_per_month
from healthboard.secrets import Secret

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
    token_param: str | None
    prompt: str
    keep_alive: bool
    price: Price | None
    thinking: bool | None
    api_version: str | None

    @property
    def id(self) -> str:
        return f"{self.provider}/{self.model}/{self.check}"

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


def resolve_api_key(provider: ProviderConfig, environ: Mapping[str, str]) -> tuple[Secret | None, str | None]:
    """Return (key, None) or (None, reason the provider is skipped)."""
    if provider.api_key_file is not None:
        path = Path(config_env.expand(provider.api_key_file, environ))
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
        interval=model.interval or provider.interval or config.interval,
        timeout=model.timeout or provider.timeout or config.timeout,
        max_tokens=model.max_tokens or provider.max_tokens or config.max_tokens,
        token_param=model.token_param,
        prompt=model.prompt or provider.prompt or config.prompt,
        keep_alive=config.keep_alive if provider.keep_alive is None else provider.keep_alive,
        price=price_for(config, model.name, model.price),
        thinking=model.thinking,
        api_version=provider.api_version,
    )


def suspicion_of(config: Config) -> Suspicion:
    """The adaptive sampling settings of a config (a window of 0: four probe intervals of each target)."""
    fast = config.recheck_fast_interval if config.recheck_fast_interval is not None else min(DEFAULT_FAST, config.recheck_interval)
    return Suspicion(window=config.suspicion_window or 0.0, recheck=config.recheck_interval, fast=fast)


def monthly_cost(targets: list[Target], suspicion: Suspicion) -> float:
    """Scheduled probes at the effective intervals, times the re-checks adaptive sampling adds at its assumed
    share of suspicious outcomes."""
    total = 0.0
    for t in targets:
        per_probe = cost_usd(t.price, ASSUMED_INPUT_TOKENS, ASSUMED_OUTPUT_TOKENS)
        total += per_probe * probes_per_month(t.interval) * extra_probe_factor(t.interval, suspicion)
    return total


def build_plan(config: Config, environ: Mapping[str, str] | None = None) -> Plan:
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
    return Plan(targets, skipped, factor, cost, resolve_secret(config.api_token, environ), suspicion)
