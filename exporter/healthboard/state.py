"""Per-target state kept in memory: the recent-checks ring, per-target windows, and the figures the JSON API
serves (/api/metrics over 15 minutes, /api/health over the health window)."""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Iterable, Iterator

from healthboard.config.model import HealthConfig
from healthboard.evidence import RECOVERED_SUCCESSES, Evidence, Suspicion
from healthboard.record import MISCONFIGURATION_TYPES, OUTAGE_TYPES, CheckRecord, ErrorType
from healthboard.targets import Target

METRICS_WINDOW = 900.0  # /api/metrics covers the last 15 minutes
_WINDOW_CAP = 20_000  # per target: bounded even at a 50 ms interval

#: What the windows keep of a record: (ts, scheduled, ok, error type value or None, latency ms, cost USD).
#: A plain tuple of atoms, which the garbage collector stops tracking; a window of whole records (dicts and
#: all) kept ~30 tracked objects per probe alive for 15 minutes, and full collections over them stalled the
#: event loop at thousands of targets (docs/PERFORMANCE.md).
Sample = tuple[float, bool, bool, "str | None", float, float]
TS, SCHEDULED, OK, ERROR_TYPE, LATENCY_MS, COST_USD = range(6)


def sample_of(record: CheckRecord) -> Sample:
    return (record.ts, record.scheduled, record.ok, record.error_type.value if record.error_type else None,
            record.latency_ms, record.cost_usd)


@dataclasses.dataclass
class TargetState:
    target: Target
    consecutive: int = 0
    consecutive_outage: int = 0
    backoff_level: int = 0
    effective_interval: float = 0.0
    paused: bool = False
    last: CheckRecord | None = None
    evidence: Evidence = dataclasses.field(default_factory=Evidence)
    suspicion: Suspicion = dataclasses.field(default_factory=Suspicion)
    window: collections.deque[Sample] = dataclasses.field(default_factory=lambda: collections.deque(maxlen=_WINDOW_CAP))

    def __post_init__(self) -> None:
        if not self.effective_interval:
            self.effective_interval = self.target.interval

    def record(self, record: CheckRecord) -> None:
        self.last = record
        if record.ok:
            self.consecutive = self.consecutive_outage = 0
        else:
            self.consecutive += 1
            self.consecutive_outage = self.consecutive_outage + 1 if record.error_type in OUTAGE_TYPES else 0
        self.evidence.add(record.ts, record.ok, record.error_type)
        self.window.append(sample_of(record))
        self._trim(time.time())

    def _trim(self, now: float) -> None:
        while self.window and self.window[0][TS] < now - METRICS_WINDOW:
            self.window.popleft()

    def recent(self, seconds: float, now: float | None = None) -> list[Sample]:
        since = (time.time() if now is None else now) - seconds
        return [s for s in self.window if s[TS] >= since]


class RecentChecks:
    """The newest checks of all targets, for drill-down (/api/checks)."""

    def __init__(self, size: int) -> None:
        self._ring: collections.deque[CheckRecord] = collections.deque(maxlen=size)

    def add(self, record: CheckRecord) -> None:
        self._ring.append(record)

    def resize(self, size: int) -> None:
        if size != self._ring.maxlen:
            self._ring = collections.deque(self._ring, maxlen=size)

    def newest_first(self) -> Iterator[CheckRecord]:
        return reversed(self._ring)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..1)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-int(q * 1000) * len(ordered) // 1000))  # ceil(q * n) without float error
    return ordered[min(rank, len(ordered)) - 1]


@dataclasses.dataclass
class WindowStats:
    requests: int
    failures: dict[str, int]
    success_ratio: float | None
    p50_ms: float | None
    p95_ms: float | None
    cost_usd: float

    @property
    def failed(self) -> int:
        return sum(self.failures.values())


def window_stats(samples: Iterable[Sample]) -> WindowStats:
    """Figures over scheduled probes only (re-checks would over-weight failures); cost over all probes."""
    samples = list(samples)
    scheduled = [s for s in samples if s[SCHEDULED]]
    failures: collections.Counter[str] = collections.Counter(
        s[ERROR_TYPE] or ErrorType.OTHER.value for s in scheduled if not s[OK]
    )
    latencies = [s[LATENCY_MS] for s in scheduled if s[OK]]
    n = len(scheduled)
    return WindowStats(
        requests=n,
        failures=dict(failures),
        success_ratio=(n - sum(failures.values())) / n if n else None,
        p50_ms=percentile(latencies, 0.50),
        p95_ms=percentile(latencies, 0.95),
        cost_usd=sum(s[COST_USD] for s in samples),
    )


HEALTH_ORDER = {"unknown": 0, "paused": 0, "healthy": 1, "recovering": 2, "degraded": 3, "misconfigured": 3, "unhealthy": 4}


def target_health(state: TargetState, config: HealthConfig, now: float | None = None) -> tuple[str, str, WindowStats]:
    """(status, reason, stats) with the operations report's semantics:
    unhealthy when the failure ratio is over the threshold, degraded when p95 is slow or 429s dominate the
    failures; misconfigured when our own key/billing/model name is the cause (never reported as a provider outage);
    recovering when the ratio is still over the threshold but the latest RECOVERED_SUCCESSES probes succeeded:
    the outage looks over and its failures are ageing out of the window."""
    stats = window_stats(state.recent(config.window, now))
    if state.paused:
        return "paused", "paused through the API", stats
    if stats.requests == 0:
        return "unknown", "no scheduled probe in the window yet", stats
    ratio = stats.failed / stats.requests
    window = f"{config.window:g}s"
    if ratio > config.unhealthy_failure_ratio:
        limited = stats.failures.get("rate_limit", 0)
        misconfigured = sum(stats.failures.get(t.value, 0) for t in MISCONFIGURATION_TYPES)
        if limited / stats.failed > config.rate_limit_share:
            return "degraded", f"rate limited: {limited} of {stats.requests} probes got 429 in {window}", stats
        if misconfigured / stats.failed > 0.5:
            kinds = ", ".join(sorted(t for t in stats.failures if ErrorType(t) in MISCONFIGURATION_TYPES))
            return "misconfigured", f"probe misconfigured ({kinds}): fix the key, billing or model name", stats
        if state.evidence.successes >= RECOVERED_SUCCESSES:
            last_failure = next((s[TS] for s in reversed(state.window) if not s[OK]), None)
            ago = f", the last {(now or time.time()) - last_failure:.0f}s ago" if last_failure is not None else ""
            return "recovering", (f"{state.evidence.successes} probes ok in a row{ago}; the {ratio:.0%} failures of the "
                                  f"{window} window are ageing out"), stats
        return "unhealthy", f"{ratio:.0%} of {stats.requests} probes failed in {window} (threshold {config.unhealthy_failure_ratio:.0%})", stats
    if stats.p95_ms is not None and stats.p95_ms > config.degraded_p95 * 1000:
        return "degraded", f"p95 latency {stats.p95_ms / 1000:.2f}s over {config.degraded_p95:g}s", stats
    return "healthy", f"{stats.requests - stats.failed} of {stats.requests} probes ok in {window}", stats


def overall_health(statuses: Iterable[str]) -> str:
    statuses = list(statuses)
    if not statuses or all(s in ("unknown", "paused") for s in statuses):
        return "unknown"
    worst = max(statuses, key=lambda s: HEALTH_ORDER[s])
    return "degraded" if worst == "misconfigured" else worst
