"""Prometheus metrics. Names and labels are a contract: rules, dashboards and users depend on them
(docs/METRICS.md lists them). Every series a rule reads is created at zero when its target is added,
so the first failure of a kind shows in rate()."""

from __future__ import annotations

import bisect
import math
import time
from array import array
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from healthboard import __version__
from healthboard.evidence import Evidence
from healthboard.exposition import Renderer
from healthboard.record import PHASES, CheckRecord, ErrorType
from healthboard.target_series import COUNTER, GAUGE, HISTOGRAM, PIECE_BUDGET, Family, TargetSeries
from healthboard.targets import Target

if TYPE_CHECKING:
    from healthboard.state import TargetState

LABELS = ("provider", "model", "region", "check")
SOURCE = " Values come from scheduled synthetic probes."

#: Successful probe latency: 50 ms … 30 s.
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0)
PHASE_BUCKETS = (0.005, 0.025, 0.1, 0.25, 1.0, 5.0)  # few: 5 phases x every target adds up on /metrics
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
RATELIMIT_RESOURCES = ("requests", "tokens", "input_tokens", "output_tokens")
STATUS_ERROR_REASONS = ("unreachable", "timeout", "http_status", "parse", "no_component")


# No `_created` series: nothing reads them and they add a sample to every counter and histogram series.
disable_created_metrics()

ERROR_TYPES = tuple(e.value for e in ErrorType)

#: The per-target families, in a compact store (healthboard/target_series.py), in exposition order.
TARGET_FAMILIES = (
    Family("llm_probe_requests", COUNTER, "Scheduled probes sent (re-checks excluded, so ratios aren't biased)." + SOURCE),
    Family("llm_probe_failures", COUNTER, "Scheduled probes that failed, by error type (re-checks excluded)." + SOURCE, "error_type", ERROR_TYPES),
    Family("llm_probe_rechecks", COUNTER, "Extra probes sent sooner after an outage-like failure, to confirm it fast." + SOURCE),
    Family("llm_probe_recheck_failures", COUNTER, "Re-checks that failed." + SOURCE),
    Family(
        "llm_probe_duration_seconds", HISTOGRAM,
        "Whole-probe latency of successful probes and of timed-out ones (counted in +Inf: slower than the timeout), "
        "re-checks included: the latency evidence." + SOURCE, buckets=DURATION_BUCKETS,
    ),
    Family(
        "llm_probe_phase_duration_seconds", HISTOGRAM,
        "Latency by phase (dns, connect, tls, ttfb, transfer) of scheduled probes that got a response." + SOURCE,
        "phase", PHASES, buckets=PHASE_BUCKETS,
    ),
    Family("llm_probe_success", GAUGE, "1 if the last probe (scheduled or re-check) succeeded, else 0." + SOURCE),
    Family("llm_probe_consecutive_failures", GAUGE, "Failed probes in a row, re-checks included; 0 after a success." + SOURCE),
    Family(
        "llm_probe_consecutive_outage_failures", GAUGE,
        "Failed probes in a row whose error type suggests an outage (auth, quota, not_found, bad_request and rate_limit excluded)." + SOURCE,
    ),
    Family(
        "llm_probe_evidence_probes", COUNTER,
        "Probes that are availability evidence: successes, server errors and transient failures, re-checks included "
        "(docs/ALERTING.md)." + SOURCE,
    ),
    Family(
        "llm_probe_evidence_failures", COUNTER,
        "Failed evidence probes, de-clustered: at most 2 per run of server errors, at most 1 transient failure a minute." + SOURCE,
    ),
    Family(
        "llm_probe_outage_run_seconds", GAUGE,
        "Seconds from the first to the latest failure of the current run of outage-like failures; 0 after a success." + SOURCE,
    ),
    Family("llm_probe_outage_run_server_errors", GAUGE, "Server errors (5xx, malformed replies) in the current run of failures." + SOURCE),
    Family("llm_probe_consecutive_successes", GAUGE, "Successful probes in a row, re-checks included." + SOURCE),
    Family("llm_probe_last_run_timestamp_seconds", GAUGE, "Unix time the last probe started." + SOURCE),
    Family("llm_probe_interval_seconds", GAUGE, "Effective probe interval: the configured one, stretched by 429 backoff or the budget." + SOURCE),
    Family("llm_probe_paused", GAUGE, "1 while the target is paused through the API (kill switch)." + SOURCE),
    Family("llm_probe_tokens", COUNTER, "Tokens the providers reported for probes." + SOURCE, "direction", ("input", "output")),
    Family("llm_probe_cost_usd", COUNTER, "Estimated cost of probes in USD, from the price table." + SOURCE),
    Family("llm_probe_ratelimit_remaining", GAUGE, "Rate-limit headroom the provider advertised on the last reply." + SOURCE,
           "resource", RATELIMIT_RESOURCES, optional=True),
    Family("llm_probe_ratelimit_limit", GAUGE, "Rate limit the provider advertised on the last reply." + SOURCE,
           "resource", RATELIMIT_RESOURCES, optional=True),
)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.series = TargetSeries(LABELS, TARGET_FAMILIES)
        r.register(self.series)  # type: ignore[arg-type]  # a collector: get_sample_value and generate_latest see it
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
        self.sink_spool_rows = Gauge("healthboard_sink_spool_rows", "Check records waiting to be written: in the on-disk spool, or in memory while the disk refuses them.", registry=r)
        self.sink_spool_errors = Counter(
            "healthboard_sink_spool_errors", "Records the on-disk spool refused (disk full, I/O error); they wait in memory.", registry=r
        )
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
        at = self.series.offsets
        self._requests, self._failures = at["llm_probe_requests"], at["llm_probe_failures"]
        self._rechecks, self._recheck_failures = at["llm_probe_rechecks"], at["llm_probe_recheck_failures"]
        self._duration, self._phase = at["llm_probe_duration_seconds"], at["llm_probe_phase_duration_seconds"]
        self._phase_stride = self.series.family("llm_probe_phase_duration_seconds").stride
        self._success, self._consecutive = at["llm_probe_success"], at["llm_probe_consecutive_failures"]
        self._consecutive_outage, self._last_run = at["llm_probe_consecutive_outage_failures"], at["llm_probe_last_run_timestamp_seconds"]
        self._evidence_probes, self._evidence_failures = at["llm_probe_evidence_probes"], at["llm_probe_evidence_failures"]
        self._run_seconds, self._run_server = at["llm_probe_outage_run_seconds"], at["llm_probe_outage_run_server_errors"]
        self._successes = at["llm_probe_consecutive_successes"]
        self._interval, self._paused = at["llm_probe_interval_seconds"], at["llm_probe_paused"]
        self._tokens, self._cost = at["llm_probe_tokens"], at["llm_probe_cost_usd"]
        self._remaining, self._limit = at["llm_probe_ratelimit_remaining"], at["llm_probe_ratelimit_limit"]
        self._error_index = {e: i for i, e in enumerate(ErrorType)}
        self._other = self._error_index[ErrorType.OTHER]
        self._phase_index = {p: i for i, p in enumerate(PHASES)}
        self._resource_index = {r: i for i, r in enumerate(RATELIMIT_RESOURCES)}
        self.renderer = Renderer(m for m in vars(self).values() if isinstance(m, (Counter, Gauge, Histogram)))

    def render(self) -> bytes:
        """The text exposition of every metric (fast path; see healthboard/target_series.py)."""
        return b"".join(chunk.encode() for chunk in self.render_chunks())

    def render_chunks(self, budget: float = PIECE_BUDGET) -> Iterator[str]:
        """The exposition in pieces of about ``budget`` seconds of work, for streaming: the per-target families,
        then the exporter's own metrics."""
        yield from self.series.render_chunks(budget)
        yield self.renderer.render().decode()

    def add_target(self, target: Target) -> None:
        """Create every series of a target at zero (kept as they are when the target already exists)."""
        slot = self.series.add(target.id, target.labels)
        slot.values[self._interval] = target.interval

    def remove_target(self, target_id: str) -> None:
        self.series.remove(target_id)

    def set_interval(self, target_id: str, seconds: float) -> None:
        slot = self.series.get(target_id)
        if slot is not None:
            slot.values[self._interval] = seconds

    def set_paused(self, target_id: str, paused: bool) -> None:
        slot = self.series.get(target_id)
        if slot is not None:
            slot.values[self._paused] = 1.0 if paused else 0.0

    def observe(self, record: CheckRecord, consecutive: int, consecutive_outage: int, evidence: Evidence | None = None) -> None:
        slot = self.series.get(record.target_id)
        if slot is None:  # the target was removed while this probe ran
            return
        v = slot.values
        if record.ok:
            _observe(v, self._duration, DURATION_BUCKETS, record.latency_ms / 1000)
        elif record.error_type is ErrorType.TIMEOUT:
            _observe(v, self._duration, DURATION_BUCKETS, math.inf, record.latency_ms / 1000)
        if evidence is not None:
            v[self._evidence_probes] = evidence.probes
            v[self._evidence_failures] = evidence.failures
            v[self._run_seconds] = evidence.run_seconds
            v[self._run_server] = evidence.run_server_errors
            v[self._successes] = evidence.successes
        if record.scheduled:
            v[self._requests] += 1
            if not record.ok:
                v[self._failures + self._error_index.get(record.error_type, self._other)] += 1
            if record.http_status is not None:
                for phase, seconds in record.phases.items():
                    _observe(v, self._phase + self._phase_index[phase] * self._phase_stride, PHASE_BUCKETS, seconds)
        else:
            v[self._rechecks] += 1
            if not record.ok:
                v[self._recheck_failures] += 1
        v[self._success] = 1.0 if record.ok else 0.0
        v[self._consecutive] = consecutive
        v[self._consecutive_outage] = consecutive_outage
        v[self._last_run] = record.ts
        if record.input_tokens:
            v[self._tokens] += record.input_tokens
        if record.output_tokens:
            v[self._tokens + 1] += record.output_tokens
        if record.cost_usd:
            v[self._cost] += record.cost_usd
        for key, value in record.ratelimit.items():
            which, _, resource = key.partition("_")
            index = self._resource_index.get(resource)
            if index is not None and math.isfinite(value):
                v[(self._remaining if which == "remaining" else self._limit) + index] = value

    def on_record(self, record: CheckRecord, state: "TargetState") -> None:
        """Scheduler listener."""
        self.observe(record, state.consecutive, state.consecutive_outage, state.evidence)

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


def _observe(values: array, base: int, buckets: tuple[float, ...], value: float, adds: float | None = None) -> None:
    """A histogram observation into cumulative buckets (+Inf after the finite ones, then the sum, which gets
    ``adds`` when given: a timeout is observed at +Inf but adds its elapsed time to the sum)."""
    end = base + len(buckets)
    index = base + bisect.bisect_left(buckets, value)
    while index <= end:
        values[index] += 1
        index += 1
    values[end + 1] += value if adds is None else adds


def _remove(metric: object, labels: tuple[str, ...]) -> None:
    try:
        metric.remove(*labels)  # type: ignore[attr-defined]
    except KeyError:
        pass
