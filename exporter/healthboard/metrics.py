"""Prometheus metrics. Names and labels are a contract: rules, dashboards and users depend on them
(docs/METRICS.md lists them). Every series a rule reads is created at zero when its target is added,
so the first failure of a kind shows in rate()."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from healthboard import __version__
from healthboard.exposition import Renderer
from healthboard.record import PHASES, CheckRecord, ErrorType
from healthboard.targets import Target

if TYPE_CHECKING:
    from healthboard.state import TargetState

LABELS = ("provider", "model", "region", "check")
SOURCE = " Values come from scheduled synthetic probes."

#: Successful probe latency: 50 ms … 30 s.
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0)
PHASE_BUCKETS = (0.005, 0.025, 0.1, 0.25, 1.0, 5.0)  # few: 5 phases x every target adds up on /metrics
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
RATELIMIT_RESOURCES = ("requests", "tokens", "input_tokens", "output_tokens")
STATUS_ERROR_REASONS = ("unreachable", "timeout", "http_status", "parse", "no_component")


# No `_created` series: nothing reads them and they add a sample to every counter and histogram series.
disable_created_metrics()


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "llm_probe_requests", "Scheduled probes sent (re-checks excluded, so ratios aren't biased)." + SOURCE, LABELS, registry=r
        )
        self.failures = Counter(
            "llm_probe_failures", "Scheduled probes that failed, by error type (re-checks excluded)." + SOURCE, (*LABELS, "error_type"), registry=r
        )
        self.rechecks = Counter(
            "llm_probe_rechecks", "Extra probes sent sooner after an outage-like failure, to confirm it fast." + SOURCE, LABELS, registry=r
        )
        self.recheck_failures = Counter(
            "llm_probe_recheck_failures", "Re-checks that failed." + SOURCE, LABELS, registry=r
        )
        self.duration = Histogram(
            "llm_probe_duration_seconds", "Whole-probe latency of successful scheduled probes." + SOURCE, LABELS, buckets=DURATION_BUCKETS, registry=r
        )
        self.phase = Histogram(
            "llm_probe_phase_duration_seconds",
            "Latency by phase (dns, connect, tls, ttfb, transfer) of scheduled probes that got a response." + SOURCE,
            (*LABELS, "phase"),
            buckets=PHASE_BUCKETS,
            registry=r,
        )
        self.success = Gauge("llm_probe_success", "1 if the last probe (scheduled or re-check) succeeded, else 0." + SOURCE, LABELS, registry=r)
        self.consecutive = Gauge(
            "llm_probe_consecutive_failures", "Failed probes in a row, re-checks included; 0 after a success." + SOURCE, LABELS, registry=r
        )
        self.consecutive_outage = Gauge(
            "llm_probe_consecutive_outage_failures",
            "Failed probes in a row whose error type suggests an outage (auth, quota, not_found, bad_request and rate_limit excluded)." + SOURCE,
            LABELS,
            registry=r,
        )
        self.last_run = Gauge("llm_probe_last_run_timestamp_seconds", "Unix time the last probe started." + SOURCE, LABELS, registry=r)
        self.interval = Gauge(
            "llm_probe_interval_seconds", "Effective probe interval: the configured one, stretched by 429 backoff or the budget." + SOURCE, LABELS, registry=r
        )
        self.paused = Gauge("llm_probe_paused", "1 while the target is paused through the API (kill switch)." + SOURCE, LABELS, registry=r)
        self.tokens = Counter("llm_probe_tokens", "Tokens the providers reported for probes." + SOURCE, (*LABELS, "direction"), registry=r)
        self.cost = Counter("llm_probe_cost_usd", "Estimated cost of probes in USD, from the price table." + SOURCE, LABELS, registry=r)
        self.ratelimit_remaining = Gauge(
            "llm_probe_ratelimit_remaining", "Rate-limit headroom the provider advertised on the last reply." + SOURCE, (*LABELS, "resource"), registry=r
        )
        self.ratelimit_limit = Gauge(
            "llm_probe_ratelimit_limit", "Rate limit the provider advertised on the last reply." + SOURCE, (*LABELS, "resource"), registry=r
        )
        self.build_info = Gauge("healthboard_build_info", "Build information of this exporter.", ("version",), registry=r)
        self.build_info.labels(__version__).set(1)
        self.start_time = Gauge("healthboard_start_time_seconds", "Unix time this exporter started.", registry=r)
        self.start_time.set(time.time())
        self.reload_ok = Gauge("healthboard_config_last_reload_successful", "1 if the last config (re)load succeeded.", registry=r)
        self.reload_time = Gauge(
            "healthboard_config_last_reload_success_timestamp_seconds", "Unix time of the last successful config load.", registry=r
        )
        self.lag = Histogram(
            "healthboard_scheduler_lag_seconds", "Delay between when a probe was due and when it started.", buckets=LAG_BUCKETS, registry=r
        )
        self.targets = Gauge("healthboard_targets", "Targets scheduled.", registry=r)
        self.budget_factor = Gauge(
            "healthboard_budget_interval_factor", "How much the monthly budget stretched probe intervals (1 = not at all).", registry=r
        )
        self.monthly_cost = Gauge(
            "healthboard_estimated_monthly_cost_usd", "Estimated monthly cost of scheduled probes at the effective intervals.", registry=r
        )
        self.sink_rows_written = Counter("healthboard_sink_rows_written", "Check records written to Postgres by the sink.", registry=r)
        self.sink_write_errors = Counter("healthboard_sink_write_errors", "Failed batch writes to Postgres (each is retried).", registry=r)
        self.sink_spool_rows = Gauge("healthboard_sink_spool_rows", "Check records waiting in the on-disk spool.", registry=r)
        self.sink_dropped_rows = Counter(
            "healthboard_sink_dropped_rows", "Records dropped from the spool because it reached spool_max_rows (oldest first).", registry=r
        )
        self.sink_last_success = Gauge(
            "healthboard_sink_last_success_timestamp_seconds", "Unix time of the last successful batch write.", registry=r
        )
        self.sink_batch_duration = Histogram(
            "healthboard_sink_batch_duration_seconds", "Time to write one batch to Postgres (successful writes).",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0), registry=r,
        )
        # the official status poller (healthboard/status/)
        self.official_status = Gauge(
            "llm_provider_official_status",
            "What the provider's status page says of a component: 0 operational, 1 degraded performance or maintenance, "
            "2 partial outage, 3 major outage. Absent while the page can't be read.", ("provider", "component"), registry=r,
        )
        self.incident_info = Gauge(
            "llm_provider_official_incident_info", "1 for each incident open on the provider's status page.",
            ("provider", "incident_id", "impact", "title", "url"), registry=r,
        )
        self.status_up = Gauge("llm_provider_status_poll_success", "1 if the last poll of the provider's status page was read, else 0.", ("provider",), registry=r)
        self.status_errors = Counter(
            "llm_provider_status_poll_errors", "Status page polls that failed, by reason (unreachable, timeout, http_status, parse, no_component).",
            ("provider", "reason"), registry=r,
        )
        self.status_last_success = Gauge(
            "llm_provider_status_last_success_timestamp_seconds", "Unix time the provider's status page was last read.", ("provider",), registry=r,
        )
        self.status_poll_duration = Gauge(
            "llm_provider_status_poll_duration_seconds", "How long the last poll of the provider's status page took.", ("provider",), registry=r,
        )
        self.detection_lead = Gauge(
            "llm_provider_detection_lead_seconds",
            "For the newest official incident: its start minus the time our probes alerted (positive: we were first).", ("provider",), registry=r,
        )
        self.official_incidents = Counter(
            "llm_provider_official_incidents", "Official incidents seen, by whether our probes alerted first.", ("provider", "probes_first"), registry=r,
        )
        self._known: dict[str, tuple[str, ...]] = {}
        self.renderer = Renderer(m for m in vars(self).values() if isinstance(m, (Counter, Gauge, Histogram)))

    def render(self) -> bytes:
        """The text exposition of every metric (fast path; see healthboard/exposition.py)."""
        return self.renderer.render()

    def add_target(self, target: Target) -> None:
        """Create every series of a target at zero."""
        labels = target.labels
        self._known[target.id] = labels
        self.requests.labels(*labels)
        self.rechecks.labels(*labels)
        self.recheck_failures.labels(*labels)
        for error_type in ErrorType:
            self.failures.labels(*labels, error_type.value)
        self.duration.labels(*labels)
        for phase in PHASES:
            self.phase.labels(*labels, phase)
        self.success.labels(*labels)
        self.consecutive.labels(*labels)
        self.consecutive_outage.labels(*labels)
        self.last_run.labels(*labels)
        self.interval.labels(*labels).set(target.interval)
        self.paused.labels(*labels)
        for direction in ("input", "output"):
            self.tokens.labels(*labels, direction)
        self.cost.labels(*labels)

    def remove_target(self, target_id: str) -> None:
        labels = self._known.pop(target_id, None)
        if labels is None:
            return
        self.renderer.forget()
        for metric in (self.requests, self.rechecks, self.duration, self.success, self.consecutive, self.consecutive_outage,
                       self.last_run, self.interval, self.paused, self.cost):
            _remove(metric, labels)
        _remove(self.recheck_failures, labels)
        for error_type in ErrorType:
            _remove(self.failures, (*labels, error_type.value))
        for phase in PHASES:
            _remove(self.phase, (*labels, phase))
        for direction in ("input", "output"):
            _remove(self.tokens, (*labels, direction))
        for resource in RATELIMIT_RESOURCES:
            _remove(self.ratelimit_remaining, (*labels, resource))
            _remove(self.ratelimit_limit, (*labels, resource))

    def observe(self, record: CheckRecord, consecutive: int, consecutive_outage: int) -> None:
        labels = (record.provider, record.model, record.region, record.check)
        if record.scheduled:
            self.requests.labels(*labels).inc()
            if record.ok:
                self.duration.labels(*labels).observe(record.latency_ms / 1000)
            else:
                self.failures.labels(*labels, record.error_type.value if record.error_type else "other").inc()
            if record.http_status is not None:
                for phase, seconds in record.phases.items():
                    self.phase.labels(*labels, phase).observe(seconds)
        else:
            self.rechecks.labels(*labels).inc()
            if not record.ok:
                self.recheck_failures.labels(*labels).inc()
        self.success.labels(*labels).set(1 if record.ok else 0)
        self.consecutive.labels(*labels).set(consecutive)
        self.consecutive_outage.labels(*labels).set(consecutive_outage)
        self.last_run.labels(*labels).set(record.ts)
        if record.input_tokens:
            self.tokens.labels(*labels, "input").inc(record.input_tokens)
        if record.output_tokens:
            self.tokens.labels(*labels, "output").inc(record.output_tokens)
        if record.cost_usd:
            self.cost.labels(*labels).inc(record.cost_usd)
        for key, value in record.ratelimit.items():
            which, _, resource = key.partition("_")
            gauge = self.ratelimit_remaining if which == "remaining" else self.ratelimit_limit
            gauge.labels(*labels, resource).set(value)

    def on_record(self, record: CheckRecord, state: "TargetState") -> None:
        """Scheduler listener."""
        self.observe(record, state.consecutive, state.consecutive_outage)

    def status_page_added(self, provider: str) -> None:
        for reason in STATUS_ERROR_REASONS:
            self.status_errors.labels(provider, reason)
        for first in ("true", "false"):
            self.official_incidents.labels(provider, first)

    def forget_status_page(self, provider: str) -> None:
        for metric in (self.status_up, self.status_last_success, self.status_poll_duration, self.detection_lead):
            self.remove_series(metric, (provider,))
        for reason in STATUS_ERROR_REASONS:
            self.remove_series(self.status_errors, (provider, reason))
        for first in ("true", "false"):
            self.remove_series(self.official_incidents, (provider, first))

    def remove_series(self, metric: object, labels: tuple[str, ...]) -> None:
        self.renderer.forget()
        _remove(metric, labels)

    def config_loaded(self, ok: bool) -> None:
        self.reload_ok.set(1 if ok else 0)
        if ok:
            self.reload_time.set(time.time())


def _remove(metric: object, labels: tuple[str, ...]) -> None:
    try:
        metric.remove(*labels)  # type: ignore[attr-defined]
    except KeyError:
        pass
