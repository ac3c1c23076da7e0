"""The exporter service: config → plan → scheduler → listeners (metrics, recent-checks ring, sink)."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Mapping
from typing import Any

from healthboard.config import Config, ConfigError, load_config, parse_config
from healthboard.metrics import Metrics
from healthboard.prober.engine import ProbeEngine
from healthboard.record import CheckRecord
from healthboard.scheduler import Scheduler
from healthboard.secrets import REDACTED, Secret
from healthboard.state import RecentChecks, TargetState
from healthboard.status.poller import StatusPoller
from healthboard.targets import Plan, build_plan
from healthboard.transitions import TransitionLog

log = logging.getLogger(__name__)


class NoTargets(ConfigError):
    """The config is valid but nothing can be probed (every provider skipped)."""

    def headline(self) -> str:
        skipped = sum(1 for where, _ in self.problems if where.startswith("provider "))
        return f"nothing to probe: {skipped} provider{'s' if skipped != 1 else ''} skipped" if skipped else "nothing to probe: no providers configured"


def plan_or_fail(config: Config, source: str, environ: Mapping[str, str] | None = None) -> Plan:
    plan = build_plan(config, environ)
    if not plan.targets:
        reasons = [(f"provider {s.provider}", f"skipped: {s.reason}") for s in plan.skipped] or [("providers", "none configured")]
        reasons.append((
            "what to do",
            "export the API key variables the config names (e.g. OPENAI_API_KEY), set api_key_file, "
            "or run `make demo` to try it against the built-in simulator",
        ))
        raise NoTargets(source, reasons)
    return plan


def log_plan(plan: Plan) -> None:
    for skipped in plan.skipped:
        log.warning("provider %s skipped: %s", skipped.provider, skipped.reason)
    if plan.budget_factor > 1:
        log.warning(
            "monthly budget: probe intervals stretched %.2fx to stay within budget (estimated $%.2f/month)",
            plan.budget_factor,
            plan.monthly_cost_usd,
        )
    log.info("probing %d targets (estimated $%.2f/month)", len(plan.targets), plan.monthly_cost_usd)


class Exporter:
    def __init__(self, config_path: str | None, config: Config, plan: Plan, engine: ProbeEngine, metrics: Metrics | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        self.config_path = config_path
        self.config = config
        self.plan = plan
        self.environ = environ
        self.engine = engine
        self.metrics = metrics or Metrics()
        self.recent = RecentChecks(config.recent_checks)
        self.scheduler = Scheduler(
            engine, self.metrics, concurrency=config.concurrency, suspicion=plan.suspicion,
            slow_threshold=config.slow_threshold, backoff_max=config.backoff_max
        )
        self.scheduler.listeners += [self.metrics.on_record, self._remember, TransitionLog()]
        self.sink = build_sink(config, config_path or "<config>", self.metrics, environ)
        if self.sink is not None:
            self.scheduler.listeners.append(self.sink.submit)
        self.status = StatusPoller(config, self.metrics, on_event=self.sink.submit_status_event if self.sink else None)
        self.scheduler.listeners.append(self.status.on_record)
        self.scheduler.configure(plan.targets)
        self._set_plan_metrics()
        self.metrics.config_loaded(True)
        self.last_reload_error: str | None = None

    def _remember(self, record: CheckRecord, state: TargetState) -> None:
        self.recent.add(record)

    def _set_plan_metrics(self) -> None:
        self.metrics.budget_factor.set(self.plan.budget_factor)
        self.metrics.monthly_cost.set(self.plan.monthly_cost_usd)

    @property
    def api_token(self) -> Secret | None:
        return self.plan.api_token

    def start(self) -> None:
        if self.sink is not None:
            self.sink.start()
        self.scheduler.start()
        self.status.start()
        _freeze_long_lived()  # with the scheduler's tasks (long-lived too), before they first run

    async def stop(self) -> None:
        await self.scheduler.stop()
        await self.status.stop()
        if self.sink is not None:
            await self.sink.stop()
        await self.engine.close()

    def reload(self, text: str | None = None) -> None:
        """Load the config file again (or ``text``). A bad config raises ConfigError and changes nothing."""
        source = self.config_path or "<config>"
        try:
            if text is not None:
                config = parse_config(text, source, self.environ)
            elif self.config_path:
                config = load_config(self.config_path, self.environ)
            else:
                raise ConfigError(source, [("reload", "this exporter runs an embedded config; there is no file to reload")])
            plan = plan_or_fail(config, source, self.environ)
        except ConfigError as exc:
            self.metrics.config_loaded(False)
            self.last_reload_error = str(exc)
            log.error("config reload refused, the previous config keeps running:\n%s", exc)
            raise
        if config.sink != self.config.sink:
            log.warning("sink settings changed: they take effect at the next restart (the running sink keeps its spool and DSN)")
        self.config, self.plan = config, plan
        self.engine.max_body_bytes = config.max_body_bytes
        self.recent.resize(config.recent_checks)
        self.scheduler.configure(plan.targets, concurrency=config.concurrency, suspicion=plan.suspicion,
                                 slow_threshold=config.slow_threshold, backoff_max=config.backoff_max)
        self.status.configure(config)
        self.status.start()
        self._set_plan_metrics()
        self.metrics.config_loaded(True)
        self.last_reload_error = None
        _freeze_long_lived()
        log_plan(plan)
        log.info("config reloaded from %s", source)

    def redacted_config(self) -> dict[str, Any]:
        data = self.config.model_dump(mode="json", by_alias=True)
        if data.get("api_token"):
            data["api_token"] = REDACTED
        if data.get("sink") and data["sink"].get("dsn"):
            data["sink"]["dsn"] = REDACTED
        for provider in data.get("providers", []):
            if provider.get("api_key"):
                provider["api_key"] = REDACTED
            for name in list(provider.get("headers", {})):
                provider["headers"][name] = REDACTED  # extra headers often carry credentials
        return {
            "source": self.config_path or "(embedded)",
            "config": data,
            "targets": [
                {"id": t.id, "interval_seconds": self.scheduler.states[t.id].effective_interval, "timeout_seconds": t.timeout,
                 "max_tokens": t.max_tokens, "keep_alive": t.keep_alive}
                for t in self.plan.targets
            ],
            "skipped": [{"provider": s.provider, "reason": s.reason} for s in self.plan.skipped],
            "status_pages": [page.model_dump(mode="json") for page in self.status.pages],
            "budget_interval_factor": self.plan.budget_factor,
            "estimated_monthly_cost_usd": round(self.plan.monthly_cost_usd, 4),
            "kill_switch": "enabled" if self.api_token else "disabled (no api_token configured)",
        }


def _freeze_long_lived() -> None:
    """Exempt what exists now (metric children, targets, config: ~200 objects per target, long-lived) from
    the cyclic garbage collector. A full collection over them took ~110 ms at 5,000 targets and stalled the
    event loop, which showed as probe overhead and schedule lag (bench/probe_engine.py)."""
    gc.collect()
    gc.freeze()


def build_sink(config: Config, source: str, metrics: Metrics, environ: Mapping[str, str] | None = None):  # type: ignore[no-untyped-def]
    """The Postgres sink when the config has a ``sink:`` block (a ConfigError when its DSN can't be resolved)."""
    if config.sink is None:
        return None
    from healthboard.sink import PostgresSink, resolve_dsn
    from healthboard.sink.spool import SpoolUnusable

    dsn = resolve_dsn(config.sink, os.environ if environ is None else environ, source)
    try:
        return PostgresSink(config.sink, dsn, metrics)
    except SpoolUnusable as exc:
        raise ConfigError(source, [("sink.spool_dir", str(exc))]) from None
