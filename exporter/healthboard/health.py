"""The health book: a consumer that keeps each target's recent probes in memory, and the figures the JSON API
and the demo derive from them (/api/metrics over 15 minutes, /api/health over the health window) with the
operations report's healthy / degraded / unhealthy semantics."""

from __future__ import annotations

import collections
import dataclasses
import struct
import time
from collections.abc import Iterable, Iterator

from healthboard.config.model import HealthConfig
from healthboard.events import Event, Probed, TargetAdded, TargetHandedOver, TargetPaused, TargetRemoved
from healthboard.evidence import RECOVERED_SUCCESSES
from healthboard.plan import Target
from healthboard.record import MISCONFIGURATION_TYPES, CheckRecord, ErrorType

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


_PACKED = struct.Struct("<d??Bff")  # ts, scheduled, ok, error type (its index; 255: none), latency ms, cost USD
_ERROR_VALUES = [e.value for e in ErrorType]
_ERROR_CODE = {value: code for code, value in enumerate(_ERROR_VALUES)}
_NO_ERROR = 255


class Samples:
    """A target's window of samples, oldest first, packed 19 bytes each in one bytearray (a tuple of atoms was
    ~110 bytes: 16 MB at 5,000 targets over 15 minutes; docs/PERFORMANCE.md). Latency and cost are kept as
    32-bit floats (7 significant digits). Iterating gives ``Sample`` tuples."""

    __slots__ = ("_data",)

    def __init__(self) -> None:
        self._data = bytearray()

    def append(self, sample: Sample) -> None:
        if len(self._data) >= _WINDOW_CAP * _PACKED.size:
            del self._data[:_PACKED.size]
        error = sample[ERROR_TYPE]
        self._data += _PACKED.pack(sample[TS], sample[SCHEDULED], sample[OK], _NO_ERROR if error is None else _ERROR_CODE[error],
                                   sample[LATENCY_MS], sample[COST_USD])

    def drop_before(self, ts: float) -> None:
        """Forget the samples older than ``ts`` (from the left: the window is in time order)."""
        size, data, cut = _PACKED.size, self._data, 0
        while cut < len(data) and _PACKED.unpack_from(data, cut)[0] < ts:
            cut += size
        if cut:
            del data[:cut]

    def __len__(self) -> int:
        return len(self._data) // _PACKED.size

    def __bool__(self) -> bool:
        return bool(self._data)

    def __iter__(self) -> Iterator[Sample]:
        for ts, scheduled, ok, code, latency, cost in _PACKED.iter_unpack(self._data):
            yield (ts, scheduled, ok, None if code == _NO_ERROR else _ERROR_VALUES[code], latency, cost)

    def __reversed__(self) -> Iterator[Sample]:
        return reversed(list(self))


@dataclasses.dataclass
class Entry:
    """What the health book knows of one target, from the events alone."""

    target: Target
    interval: float
    paused: bool = False
    consecutive: int = 0
    successes: int = 0
    last: CheckRecord | None = None
    window: Samples = dataclasses.field(default_factory=Samples)

    def recent(self, seconds: float, now: float | None = None) -> list[Sample]:
        since = (time.time() if now is None else now) - seconds
        return [s for s in self.window if s[TS] >= since]


class HealthBook:
    """A consumer of the scheduler's events that keeps the last 15 minutes of every target, for /api/health,
    /api/metrics and the demo's status lines."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}

    def __call__(self, event: Event) -> None:
        if type(event) is Probed:
            entry = self.entries.get(event.record.target_id)
            if entry is None:  # removed while its last probe ran
                return
            record = event.record
            entry.last, entry.interval = record, event.interval
            entry.consecutive, entry.successes = event.progress.consecutive, event.progress.successes
            entry.window.append(sample_of(record))
            entry.window.drop_before(time.time() - METRICS_WINDOW)
        elif type(event) is TargetAdded:
            entry = self.entries.get(event.target.id)
            if entry is None:
                self.entries[event.target.id] = Entry(event.target, event.target.interval)
            else:
                entry.target, entry.interval = event.target, event.target.interval
        elif type(event) is TargetRemoved or (type(event) is TargetHandedOver and not event.here):
            self.entries.pop(event.target_id if type(event) is TargetRemoved else event.target.id, None)
        elif type(event) is TargetHandedOver:
            self.entries.setdefault(event.target.id, Entry(event.target, event.target.interval))
        elif type(event) is TargetPaused and event.target_id in self.entries:
            self.entries[event.target_id].paused = event.paused


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


def target_health(state: Entry, config: HealthConfig, now: float | None = None) -> tuple[str, str, WindowStats]:
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
        if state.successes >= RECOVERED_SUCCESSES:
            last_failure = next((s[TS] for s in reversed(state.window) if not s[OK]), None)
            ago = f", the last {(now or time.time()) - last_failure:.0f}s ago" if last_failure is not None else ""
            return "recovering", (f"{state.successes} probes ok in a row{ago}; the {ratio:.0%} failures of the "
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
