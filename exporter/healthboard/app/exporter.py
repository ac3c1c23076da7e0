"""The exporter, composed: config → plan → scheduler → prober → record → consumers.

This is the one place that wires the pipeline. The scheduler hands its events (healthboard/events.py), in this
order, to: the probe metrics, the health book, the recent-checks ring, the transition log, the sink (when
configured) and the status poller; the status poller's own events go to the sink. Nothing downstream holds a
reference back upstream. The web layer (healthboard/web/) sees only the methods below.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import os
import socket
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

from healthboard.config import Config, load_config, parse_config
from healthboard.durations import format_duration
from healthboard.errors import ConfigError, NoTargets
from healthboard.history import HistoryBook
from healthboard.lifecycle import LifecyclePoller
from healthboard.health import METRICS_WINDOW, HealthBook, WindowStats, overall_health, target_health, window_stats
from healthboard.maintenance import of_config
from healthboard.metrics import Metrics
from healthboard.metrics.otel import OtelMetrics
from healthboard.plan import Plan, build_plan
from healthboard.prober.engine import ProbeEngine
from healthboard.recent import RecentChecks
from healthboard.record import CheckRecord
from healthboard.scheduler import Scheduler
from healthboard.secrets import REDACTED, Secret
from healthboard.status.base import LEVEL_NAMES
from healthboard.status.poller import StatusPoller
from healthboard.transitions import TransitionLog

if TYPE_CHECKING:  # imported where used: asyncpg (~4 MB) loads only when a sink, cluster or archive is configured
    from healthboard.cluster.lease import PostgresLease
    from healthboard.sink.postgres import PostgresSink

log = logging.getLogger(__name__)


def plan_or_fail(config: Config, source: str, environ: Mapping[str, str] | None = None) -> Plan:
    plan = build_plan(config, environ, source)
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


def build_sink(config: Config, plan: Plan, source: str, registry: CollectorRegistry | None = None) -> PostgresSink | None:
    """The Postgres sink when the config has a ``sink:`` block (a ConfigError when its DSN didn't resolve or its
    spool can't be used). Its metric group goes on ``registry`` (a registry of its own when None)."""
    if config.sink is None:
        return None
    if plan.sink_problem is not None:
        raise plan.sink_problem
    assert plan.sink_dsn is not None
    from healthboard.sink.postgres import PostgresSink
    from healthboard.sink.spool import SpoolUnusable

    try:
        return PostgresSink(config.sink, plan.sink_dsn, registry)
    except SpoolUnusable as exc:
        raise ConfigError(source, [("sink.spool_dir", str(exc))]) from None


def build_cluster(config: Config, plan: Plan, environ: Mapping[str, str] | None,
                  registry: CollectorRegistry) -> PostgresLease | None:
    """The replica's lease when the config has a ``cluster:`` block (it coordinates through the sink's database)."""
    if config.cluster is None:
        return None
    assert plan.sink_dsn is not None and config.sink is not None  # the loader requires sink: with cluster:
    env = os.environ if environ is None else environ
    member = config.cluster.member or env.get("HOSTNAME") or socket.gethostname()
    from healthboard.cluster.lease import PostgresLease

    return PostgresLease(plan.sink_dsn, config.region, member, config.cluster.lease, registry,
                         connect_timeout=config.sink.connect_timeout)


class Exporter:
    def __init__(self, config_path: str | None, config: Config, plan: Plan, engine: ProbeEngine, metrics: Metrics | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        self.config_path = config_path
        self.config = config
        self.plan = plan
        self.environ = environ
        self.engine = engine
        self.metrics = metrics or Metrics()
        self.metrics.probes.phases = config.phase_histograms
        self.health = HealthBook()
        self.recent = RecentChecks(config.recent_checks)
        self.history = HistoryBook(config.status_page.memory_days)
        self.archive = None
        if plan.history_dsn:
            from healthboard.archive import ArchiveLoader

            self.archive = ArchiveLoader(plan.history_dsn, self.history, config.region)
        self.sink = build_sink(config, plan, config_path or "<config>", self.metrics.own)
        self.cluster = build_cluster(config, plan, environ, self.metrics.own)
        self.scheduler = Scheduler(
            engine, concurrency=config.concurrency, suspicion=plan.suspicion,
            slow_threshold=config.slow_threshold, backoff_max=config.backoff_max, ownership=self.cluster
        )
        self.status = StatusPoller(config, plan, self.metrics.own)
        self.lifecycle = LifecyclePoller(plan, config.lifecycle_interval, self.metrics.own)
        consumers: list = [self.metrics.probes, self.health, self.recent, self.history, TransitionLog()]
        if config.otel_names:  # set at start: a reload doesn't add or drop metric families
            consumers.append(OtelMetrics(self.metrics.own))
        if self.sink is not None:
            consumers.append(self.sink)
            self.status.listeners.append(self.sink.submit_status_event)
            self.history.listeners.append(self.sink.submit_incident)
        self.status.listeners.append(self.history.status_event)
        consumers.append(self.status)
        self.scheduler.consumers += consumers
        self.scheduler.configure(plan.targets)
        self.metrics.exporter.plan_applied(plan.budget_factor, plan.monthly_cost_usd)
        self.metrics.exporter.config_loaded(True)
        self.last_reload_error: str | None = None

    @property
    def api_token(self) -> Secret | None:
        return self.plan.api_token

    def start(self) -> None:
        if self.sink is not None:
            self.sink.start()
        if self.cluster is not None:
            self.cluster.start()
        self.scheduler.start()
        self.status.start()
        self.lifecycle.start()
        if self.archive is not None:
            self.archive.start()
        _freeze_long_lived()  # with the scheduler's tasks (long-lived too), before they first run

    async def stop(self) -> None:
        if self.cluster is not None:
            await self.cluster.leave()  # probes go on while the other replicas take this one's targets over
        await self.scheduler.stop()
        await self.status.stop()
        await self.lifecycle.stop()
        if self.archive is not None:
            await self.archive.stop()
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
            self.metrics.exporter.config_loaded(False)
            self.last_reload_error = str(exc)
            log.error("config reload refused, the previous config keeps running:\n%s", exc)
            raise
        if config.sink != self.config.sink:
            log.warning("sink settings changed: they take effect at the next restart (the running sink keeps its spool and DSN)")
        if config.cluster != self.config.cluster or (config.cluster is not None and config.region != self.config.region):
            log.warning("cluster settings changed: they take effect at the next restart (the running replica keeps its lease)")
        self.config, self.plan = config, plan
        self.engine.max_body_bytes = config.max_body_bytes
        self.metrics.probes.phases = config.phase_histograms
        self.recent.resize(config.recent_checks)
        self.scheduler.configure(plan.targets, concurrency=config.concurrency, suspicion=plan.suspicion,
                                 slow_threshold=config.slow_threshold, backoff_max=config.backoff_max)
        self.status.configure(config, plan)
        self.status.start()
        self.lifecycle.configure(plan, config.lifecycle_interval)
        self.lifecycle.start()
        self.metrics.exporter.plan_applied(plan.budget_factor, plan.monthly_cost_usd)
        self.metrics.exporter.config_loaded(True)
        self.last_reload_error = None
        _freeze_long_lived()
        log_plan(plan)
        log.info("config reloaded from %s", source)

    # -- what the web layer and the demo read ----------------------------------------------------

    def target_ids(self) -> list[str]:
        return list(self.health.entries)

    def ready(self) -> bool:
        """Something to probe: targets of its own, or, as a replica, a share of the configured ones to come."""
        return bool(self.target_ids()) or (self.cluster is not None and bool(self.plan.targets))

    def pause(self, target_id: str, paused: bool) -> bool:
        """The kill switch; returns the target's paused state (KeyError: no such target)."""
        (self.scheduler.pause if paused else self.scheduler.resume)(target_id)
        return self.health.entries[target_id].paused

    def health_rows(self, now: float | None = None) -> list[dict[str, Any]]:
        now = time.time() if now is None else now
        rows = []
        for entry in self.health.entries.values():
            status, reason, stats = target_health(entry, self.config.health, now)
            rows.append({
                **_summary(entry.target), "status": status, "reason": reason, "requests": stats.requests, "failures": stats.failures,
                "failure_ratio": round(stats.failed / stats.requests, 4) if stats.requests else None,
                "p95_ms": round(stats.p95_ms, 1) if stats.p95_ms is not None else None, "consecutive_failures": entry.consecutive,
            })
        return rows

    def overall_health(self, rows: list[dict[str, Any]]) -> str:
        return overall_health(r["status"] for r in rows)

    def metrics_rows(self, now: float | None = None) -> list[dict[str, Any]]:
        now = time.time() if now is None else now
        rows = []
        for entry in self.health.entries.values():
            stats: WindowStats = window_stats(entry.recent(METRICS_WINDOW, now))
            rows.append({
                **_summary(entry.target), "window_seconds": METRICS_WINDOW, "requests": stats.requests, "failures": stats.failures,
                "success_ratio": round(stats.success_ratio, 4) if stats.success_ratio is not None else None,
                "p50_ms": round(stats.p50_ms, 1) if stats.p50_ms is not None else None,
                "p95_ms": round(stats.p95_ms, 1) if stats.p95_ms is not None else None,
                "last": entry.last.to_json() if entry.last else None, "consecutive_failures": entry.consecutive,
                "interval_seconds": entry.interval, "configured_interval_seconds": entry.target.interval, "paused": entry.paused,
                "cost_usd": round(stats.cost_usd, 8),
            })
        return rows

    @property
    def history_days(self) -> int:
        """Days of history the status page shows: the sink's 90 when it reads them, else what memory keeps."""
        return 90 if self.archive is not None else self.config.status_page.memory_days

    @property
    def history_source(self) -> str:
        if self.archive is None:
            return "memory"
        return "sink" if self.archive.loaded_until is not None else "sink-pending"

    def official_status(self) -> dict[str, str]:
        """Provider → what its official status page says now (the worst of its watched components)."""
        out = {}
        for provider, state in self.status.states.items():
            if state.levels and not state.failing:
                level, word = max(state.levels.values())
                out[provider] = "under_maintenance" if word == "under_maintenance" else LEVEL_NAMES[level]
        return out

    def maintenance_rows(self, now: float | None = None) -> list[dict[str, Any]]:
        """The configured maintenance windows, for the status page: scope, next or current occurrence."""
        now = time.time() if now is None else now
        rows = []
        for window in of_config(self.config.maintenance):
            current = window.occurrence(now)
            start = current[0] if current else window.next_start(now)
            if start is None:
                continue  # a one-off window in the past
            every = {86400.0: ", every day", 604800.0: ", every week"}.get(window.period, "")
            rows.append({"name": window.name, "scope": window.scope, "region": window.region, "active": current is not None,
                         "when": f"{_utc(start)} for {format_duration(window.length)}{every}"})
        return rows

    def recent_checks(self) -> Iterator[CheckRecord]:
        return self.recent.newest_first()

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
        entries = self.health.entries
        return {
            "source": self.config_path or "(embedded)",
            "config": data,
            "targets": [
                {"id": t.id, "interval_seconds": entries[t.id].interval if t.id in entries else t.interval, "timeout_seconds": t.timeout,
                 "max_tokens": t.max_tokens, "keep_alive": t.keep_alive}
                for t in self.plan.targets
            ],
            "skipped": [{"provider": s.provider, "reason": s.reason} for s in self.plan.skipped],
            "status_pages": [page.model_dump(mode="json") for page in self.status.pages],
            "budget_interval_factor": self.plan.budget_factor,
            "estimated_monthly_cost_usd": round(self.plan.monthly_cost_usd, 4),
            "kill_switch": "enabled" if self.api_token else "disabled (no api_token configured)",
        }


def _summary(target: Any) -> dict[str, Any]:
    return {"id": target.id, "provider": target.provider, "model": target.model, "region": target.region, "check": target.check}


def _utc(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _freeze_long_lived() -> None:
    """Exempt what exists now (metric children, targets, config: ~200 objects per target, long-lived) from
    the cyclic garbage collector. A full collection over them took ~110 ms at 5,000 targets and stalled the
    event loop, which showed as probe overhead and schedule lag (bench/probe_engine.py)."""
    gc.collect()
    gc.freeze()
