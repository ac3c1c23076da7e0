"""The probe metrics: a consumer of the scheduler's events that keeps every per-target series in the compact
store (healthboard/metrics/store.py) and the scheduler's lag histogram. Every series a rule reads is created at
zero when its target is added, so the first failure of a kind shows in rate()."""

from __future__ import annotations

import bisect
import collections
import math
from array import array
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Gauge, Histogram

from healthboard.events import Event, Probed, TargetAdded, TargetHandedOver, TargetPaused, TargetRemoved
from healthboard.metrics.families import DURATION_BUCKETS, LABELS, PHASE_BUCKETS, RATELIMIT_RESOURCES, TARGET_FAMILIES, TTFT_BUCKETS
from healthboard.metrics.store import TargetSeries
from healthboard.evidence import Progress
from healthboard.prober.base import same_model_family
from healthboard.record import PHASES, CheckRecord, ErrorType

if TYPE_CHECKING:
    from healthboard.plan import Target

#: llm_quality_score_recent averages this many of the latest quality checks (the operations report's "last 5").
QUALITY_WINDOW = 5
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ProbeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.series = TargetSeries(LABELS, TARGET_FAMILIES)
        self.lag = Histogram(
            "healthboard_scheduler_lag_seconds", "Delay between when a probe was due and when it started.", buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.targets = Gauge("healthboard_targets", "Targets scheduled.", registry=registry)
        at = self.series.offsets
        self._requests, self._failures = at["llm_probe_requests"], at["llm_probe_failures"]
        self._rechecks, self._recheck_failures = at["llm_probe_rechecks"], at["llm_probe_recheck_failures"]
        self._duration, self._phase = at["llm_probe_duration_seconds"], at["llm_probe_phase_duration_seconds"]
        self._phase_stride = self.series.family("llm_probe_phase_duration_seconds").stride
        self.phases = False  # export the per-phase histograms (config phase_histograms)
        self._success, self._consecutive = at["llm_probe_success"], at["llm_probe_consecutive_failures"]
        self._consecutive_outage, self._last_run = at["llm_probe_consecutive_outage_failures"], at["llm_probe_last_run_timestamp_seconds"]
        self._evidence_probes, self._evidence_failures = at["llm_probe_evidence_probes"], at["llm_probe_evidence_failures"]
        self._run_seconds, self._run_server = at["llm_probe_outage_run_seconds"], at["llm_probe_outage_run_server_errors"]
        self._successes = at["llm_probe_consecutive_successes"]
        self._interval, self._paused = at["llm_probe_interval_seconds"], at["llm_probe_paused"]
        self._tokens, self._cost = at["llm_probe_tokens"], at["llm_probe_cost_usd"]
        self._remaining, self._limit = at["llm_probe_ratelimit_remaining"], at["llm_probe_ratelimit_limit"]
        self._ttft, self._tps, self._gap = at["llm_probe_ttft_seconds"], at["llm_probe_output_tokens_per_second"], at["llm_probe_stream_max_gap_seconds"]
        self._ttft_width = self.series.family("llm_probe_ttft_seconds").stride
        self._quality = at["llm_quality_score_recent"]
        self._mismatch = at["llm_probe_served_model_mismatch"]
        self._deprecated = at["llm_probe_model_deprecated"]
        self._maintenance = at["llm_probe_maintenance"]
        self._reasoning = at["llm_probe_reasoning_exhausted"]
        self._scores: dict[str, collections.deque[int]] = {}  # quality checks: the last QUALITY_WINDOW scores
        self._error_index = {e: i for i, e in enumerate(ErrorType)}
        self._other = self._error_index[ErrorType.OTHER]
        self._phase_index = {p: i for i, p in enumerate(PHASES)}
        self._resource_index = {r: i for i, r in enumerate(RATELIMIT_RESOURCES)}

    def __call__(self, event: Event) -> None:
        kind = type(event)
        if kind is Probed:
            self.lag.observe(event.lag)
            self.observe(event.record, event.progress)
            self.set_interval(event.record.target_id, event.interval)
        elif kind is TargetAdded:
            self.add_target(event.target)
            self.targets.set(len(self.series))
        elif kind is TargetRemoved:
            self.remove_target(event.target_id)
            self.targets.set(len(self.series))
        elif kind is TargetPaused:
            self.set_paused(event.target_id, event.paused)
        elif kind is TargetHandedOver:  # another replica's series now; Prometheus marks ours stale
            if event.here:
                self.add_target(event.target)
            else:
                self.remove_target(event.target.id)
            self.targets.set(len(self.series))

    def add_target(self, target: Target) -> None:
        """Create every series of a target at zero (kept as they are when the target already exists)."""
        slot = self.series.add(target.id, target.labels)
        slot.values[self._interval] = target.interval
        if target.maintenance:
            slot.values[self._maintenance] = 0.0
            self.series.mark(self._maintenance)

    def remove_target(self, target_id: str) -> None:
        self.series.remove(target_id)
        self._scores.pop(target_id, None)

    def set_interval(self, target_id: str, seconds: float) -> None:
        slot = self.series.get(target_id)
        if slot is not None:
            slot.values[self._interval] = seconds

    def set_paused(self, target_id: str, paused: bool) -> None:
        slot = self.series.get(target_id)
        if slot is not None:
            slot.values[self._paused] = 1.0 if paused else 0.0

    def observe(self, record: CheckRecord, progress: Progress | None = None) -> None:
        slot = self.series.get(record.target_id)
        if slot is None:  # the target was removed while this probe ran
            return
        v = slot.values
        if record.ok:
            _observe(v, self._duration, DURATION_BUCKETS, record.latency_ms / 1000)
        elif record.error_type is ErrorType.TIMEOUT:
            _observe(v, self._duration, DURATION_BUCKETS, math.inf, record.latency_ms / 1000)
        if progress is not None:
            v[self._evidence_probes] = progress.evidence_probes
            v[self._evidence_failures] = progress.evidence_failures
            v[self._run_seconds] = progress.run_seconds
            v[self._run_server] = progress.run_server_errors
            v[self._successes] = progress.successes
            v[self._consecutive] = progress.consecutive
            v[self._consecutive_outage] = progress.consecutive_outage
        if record.scheduled:
            v[self._requests] += 1
            if not record.ok:
                index = self._failures + self._error_index.get(record.error_type, self._other)
                if v[index] != v[index]:  # an error type's first failure creates its series
                    v[index] = 0.0
                    self.series.mark(index)
                v[index] += 1
            if self.phases and record.http_status is not None:  # opt-in (config phase_histograms): 45 series a target
                for phase, seconds in record.phases.items():
                    base = self._phase + self._phase_index[phase] * self._phase_stride
                    if v[base] != v[base]:  # first observation of an optional histogram: from NaN to zeros
                        for i in range(base, base + self._phase_stride):
                            v[i] = 0.0
                        self.series.mark(base)
                    _observe(v, base, PHASE_BUCKETS, seconds)
        else:
            v[self._rechecks] += 1
            if not record.ok:
                v[self._recheck_failures] += 1
        v[self._success] = 1.0 if record.ok else 0.0
        v[self._last_run] = record.ts
        if record.input_tokens:
            v[self._tokens] += record.input_tokens
        if record.output_tokens:
            v[self._tokens + 1] += record.output_tokens
        if record.cost_usd:
            v[self._cost] += record.cost_usd
        if record.ttft_ms is not None:
            if v[self._ttft] != v[self._ttft]:  # first observation of an optional histogram: from NaN to zeros
                for i in range(self._ttft, self._ttft + self._ttft_width):
                    v[i] = 0.0
                self.series.mark(self._ttft)
            _observe(v, self._ttft, TTFT_BUCKETS, record.ttft_ms / 1000)
        if record.tokens_per_s is not None:
            v[self._tps] = record.tokens_per_s
            self.series.mark(self._tps)
        if record.max_gap_ms is not None:
            v[self._gap] = record.max_gap_ms / 1000
            self.series.mark(self._gap)
        if record.reasoning_exhausted:
            if v[self._reasoning] != v[self._reasoning]:
                v[self._reasoning] = 0.0
                self.series.mark(self._reasoning)
            v[self._reasoning] += 1
        if record.maintenance or v[self._maintenance] == v[self._maintenance]:  # set once the target has a window
            v[self._maintenance] = 1.0 if record.maintenance else 0.0
            self.series.mark(self._maintenance)
        if record.http_status is not None:
            v[self._deprecated] = 1.0 if record.deprecation else 0.0
            self.series.mark(self._deprecated)
        if record.served_model is not None:
            v[self._mismatch] = 0.0 if same_model_family(record.model, record.served_model) else 1.0
            self.series.mark(self._mismatch)
        if record.quality_score is not None:
            scores = self._scores.setdefault(record.target_id, collections.deque(maxlen=QUALITY_WINDOW))
            scores.append(record.quality_score)
            v[self._quality] = sum(scores) / len(scores)
            self.series.mark(self._quality)
        for key, value in record.ratelimit.items():
            which, _, resource = key.partition("_")
            index = self._resource_index.get(resource)
            if index is not None and math.isfinite(value):
                at = (self._remaining if which == "remaining" else self._limit) + index
                v[at] = value
                self.series.mark(at)


def _observe(values: array, base: int, buckets: tuple[float, ...], value: float, adds: float | None = None) -> None:
    """A histogram observation into cumulative buckets (+Inf after the finite ones, then the sum, which gets
    ``adds`` when given: a timeout is observed at +Inf but adds its elapsed time to the sum)."""
    end = base + len(buckets)
    index = base + bisect.bisect_left(buckets, value)
    while index <= end:
        values[index] += 1
        index += 1
    values[end + 1] += value if adds is None else adds
