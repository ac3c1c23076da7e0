"""The history book: a consumer of the scheduler's events that keeps, per target, hourly figures for the status page
and badges (a bounded in-memory window: ``status_page.memory_days``), and the incidents our probes detected.

Availability is counted the same way everywhere it is reported (status page, badges, the sink's views, the
monthly report): scheduled probes outside maintenance windows; a probe fails availability when its error is an
outage type (healthboard/record.py OUTAGE_TYPES): our own misconfiguration and rate limiting are not the
provider being down.

Incidents: per provider/model (its checks and regions together), one opens when a target's run of failures meets
the detector's hard branch (``Progress.hard_outage``: "major") or when OPEN_FAILURES of its last OPEN_WINDOW
scheduled probes failed availability ("partial"); it closes after RECOVERED_SUCCESSES probes in a row succeeded
(the same rule as the health book's "recovering"). Probes in a maintenance window never open one.
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import time
import uuid
from array import array
from collections.abc import Callable, Iterator

from healthboard.events import Event, IncidentChange, Probed, StatusEvent, TargetAdded, TargetRemoved
from healthboard.evidence import RECOVERED_SUCCESSES
from healthboard.plan import Target
from healthboard.record import OUTAGE_TYPES, CheckRecord

HOUR = 3600.0
#: Latency buckets of the hourly figures (seconds, upper bounds): p50/p95 are read off them (to the bucket's
#: bound; the sink's history is exact).
LATENCY_BOUNDS = (0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0, float("inf"))
OPEN_WINDOW = 10
OPEN_FAILURES = 3
_INCIDENT_NS = uuid.UUID("6f1d3c1e-3b0a-4c55-9b7e-1c2f1f0a7d42")
_KEEP_CLOSED = 200  # closed incidents kept in memory (the sink keeps them all)


def fails_availability(record: CheckRecord) -> bool:
    return not record.ok and record.error_type in OUTAGE_TYPES


@dataclasses.dataclass(slots=True)
class Hour:
    """One target's figures over one hour."""

    requests: int = 0  # scheduled probes outside maintenance
    failures: int = 0  # of those, failing availability
    maintenance: int = 0  # scheduled probes in a maintenance window
    misconfigured: int = 0  # scheduled probes failing for our own reasons (key, quota, model name)
    latency: list[int] = dataclasses.field(default_factory=lambda: [0] * len(LATENCY_BOUNDS))  # successes
    ttft: list[int] | None = None  # stream checks' first tokens; made with the first (most targets are chat checks)


_COUNTS = 4  # requests, failures, maintenance, misconfigured
_BUCKETS = len(LATENCY_BOUNDS)


class Hours:
    """One target's hourly figures, keyed by hour index (ts // 3600), in a few flat arrays of unsigned ints: the
    hour indexes ascending, four counts an hour, the latency histogram of each hour, and first-token
    histograms once a stream probe has one. A dict of ``Hour`` objects (each with its own lists) was ~400
    bytes an hour: 48 hours of 5,000 targets, ~100 MB; this is ~90 bytes an hour (docs/PERFORMANCE.md).
    Readers get ``Hour`` snapshots (``get``, ``values``, ``pop``); the book writes through ``count``,
    ``observe_latency`` and ``observe_ttft``."""

    __slots__ = ("_index", "_counts", "_latency", "_ttft")

    def __init__(self) -> None:
        self._index = array("q")
        self._counts = array("I")
        self._latency = array("I")
        self._ttft: array | None = None

    def __len__(self) -> int:
        return len(self._index)

    def __bool__(self) -> bool:
        return len(self._index) > 0

    def __iter__(self) -> Iterator[int]:
        return iter(list(self._index))

    def __contains__(self, index: object) -> bool:
        return self._position(index) is not None if isinstance(index, int) else False

    def _position(self, index: int) -> int | None:
        position = bisect.bisect_left(self._index, index)
        return position if position < len(self._index) and self._index[position] == index else None

    def slot(self, index: int) -> int:
        """The position of hour ``index``, made (zeroed) if new."""
        position = bisect.bisect_left(self._index, index)
        if position < len(self._index) and self._index[position] == index:
            return position
        self._index.insert(position, index)
        for offset in range(_COUNTS):
            self._counts.insert(position * _COUNTS + offset, 0)
        self._latency[position * _BUCKETS:position * _BUCKETS] = array("I", bytes(4 * _BUCKETS))
        if self._ttft is not None:
            self._ttft[position * _BUCKETS:position * _BUCKETS] = array("I", bytes(4 * _BUCKETS))
        return position

    def count(self, position: int, requests: int = 0, failures: int = 0, maintenance: int = 0, misconfigured: int = 0) -> None:
        base = position * _COUNTS
        counts = self._counts
        counts[base] += requests
        counts[base + 1] += failures
        counts[base + 2] += maintenance
        counts[base + 3] += misconfigured

    def observe_latency(self, position: int, seconds: float) -> None:
        self._latency[position * _BUCKETS + bisect.bisect_left(LATENCY_BOUNDS, seconds)] += 1

    def observe_ttft(self, position: int, seconds: float) -> None:
        if self._ttft is None:
            self._ttft = array("I", bytes(4 * _BUCKETS * len(self._index)))
        self._ttft[position * _BUCKETS + bisect.bisect_left(LATENCY_BOUNDS, seconds)] += 1

    def _hour(self, position: int) -> Hour:
        base, start = position * _COUNTS, position * _BUCKETS
        requests, failures, maintenance, misconfigured = self._counts[base:base + _COUNTS]
        ttft = None
        if self._ttft is not None and any(self._ttft[start:start + _BUCKETS]):
            ttft = self._ttft[start:start + _BUCKETS].tolist()
        return Hour(requests, failures, maintenance, misconfigured, self._latency[start:start + _BUCKETS].tolist(), ttft)

    def totals(self, first: int, last: int) -> tuple[int, int, int]:
        """(requests, failures, maintenance probes) of the hours ``first`` … ``last`` together."""
        requests = failures = maintenance = 0
        counts = self._counts
        for position in range(bisect.bisect_left(self._index, first), bisect.bisect_right(self._index, last)):
            base = position * _COUNTS
            requests += counts[base]
            failures += counts[base + 1]
            maintenance += counts[base + 2]
        return (requests, failures, maintenance)

    def get(self, index: int) -> Hour | None:
        position = self._position(index)
        return None if position is None else self._hour(position)

    def values(self) -> list[Hour]:
        return [self._hour(position) for position in range(len(self._index))]

    def pop(self, index: int) -> Hour:
        position = self._position(index)
        if position is None:
            raise KeyError(index)
        hour = self._hour(position)
        del self._index[position]
        del self._counts[position * _COUNTS:(position + 1) * _COUNTS]
        del self._latency[position * _BUCKETS:(position + 1) * _BUCKETS]
        if self._ttft is not None:
            del self._ttft[position * _BUCKETS:(position + 1) * _BUCKETS]
        return hour


def quantile(counts: list[int] | None, q: float) -> float | None:
    """The upper bound of the bucket holding quantile ``q`` of a LATENCY_BOUNDS histogram (None: empty)."""
    if counts is None:
        return None
    total = sum(counts)
    if not total:
        return None
    rank, seen = q * total, 0
    for bound, count in zip(LATENCY_BOUNDS, counts, strict=True):
        seen += count
        if seen >= rank:
            return bound if bound != float("inf") else LATENCY_BOUNDS[-2]
    return None


@dataclasses.dataclass(slots=True)
class Incident:
    provider: str
    model: str
    started: float  # the first failed probe
    detected: float  # when the incident opened (what the lead is measured from)
    ended: float | None = None
    severity: str = "partial"  # partial | major
    error_types: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    regions: set[str] = dataclasses.field(default_factory=set)
    failing: set[str] = dataclasses.field(default_factory=set)  # target ids still failing

    @property
    def id(self) -> uuid.UUID:
        """Idempotent: the same incident seen again (after a restart, by another exporter) has the same id."""
        return uuid.uuid5(_INCIDENT_NS, f"{self.provider}|{self.model}|{int(self.started)}")

    @property
    def duration(self) -> float:
        return (self.ended or time.time()) - self.started


@dataclasses.dataclass(slots=True)
class TargetHistory:
    target: Target
    hours: Hours = dataclasses.field(default_factory=Hours)  # hour index (ts // 3600) → figures
    # the last scheduled probes outside maintenance: (ts, failed availability, error type)
    # (a list trimmed to OPEN_WINDOW: an empty deque is a 64-slot block, ~500 bytes more a target)
    recent: list[tuple[float, bool, str | None]] = dataclasses.field(default_factory=list)
    maintenance: bool = False  # the last probe was in a maintenance window
    # days before yesterday, folded out of ``hours``: (requests, failures, maintenance). Hours (with their latency
    # histograms, for the last 24 hours' figures) are kept for today and yesterday only: at 5,000 targets a
    # month of hourly histograms would be gigabytes, a month of these tuples is a few megabytes.
    days: dict[int, tuple[int, int, int]] = dataclasses.field(default_factory=dict)
    archived: dict[int, tuple[int, int, int]] = dataclasses.field(default_factory=dict)  # the same, from the sink (archive.py)

    def day(self, index: int, today: int) -> tuple[int, int, int]:
        """(requests, failures, maintenance probes) of a day (index: unix days): the sink's full day when it has
        it (memory holds only what this exporter saw since it started), else memory's."""
        if index < today - 1 and index in self.archived:
            return self.archived[index]
        folded = self.days.get(index)
        if folded is not None:
            return folded
        return self.hours.totals(index * 24, index * 24 + 23)

    def days_until(self, first: int, today: int) -> list[tuple[int, int, int]]:
        """day() of each day from ``first`` to ``today``, without scanning 24 hours of a day memory has none of."""
        with_hours = {i // 24 for i in self.hours}
        return [self.day(index, today) if index in with_hours or index in self.days or index in self.archived else (0, 0, 0)
                for index in range(first, today + 1)]

    def fold(self, before_day: int) -> None:
        """Fold the hours of days before ``before_day`` into ``days``."""
        for index in [i for i in self.hours if i // 24 < before_day]:
            hour = self.hours.pop(index)
            r, f, m = self.days.get(index // 24, (0, 0, 0))
            self.days[index // 24] = (r + hour.requests, f + hour.failures, m + hour.maintenance)


@dataclasses.dataclass(slots=True)
class OfficialIncident:
    """An incident the provider's status page posted (the status poller's events)."""

    provider: str
    started: float
    title: str
    url: str | None
    ended: float | None = None


class HistoryBook:
    def __init__(self, days: int = 30) -> None:
        self.days = days
        self.targets: dict[str, TargetHistory] = {}
        self.open: dict[tuple[str, str], Incident] = {}
        self.closed: collections.deque[Incident] = collections.deque(maxlen=_KEEP_CLOSED)
        self.official: dict[str, OfficialIncident] = {}  # key: provider and title
        # from the Postgres sink, when status_page.history_dsn is set (healthboard/archive.py)
        self.archived: dict[str, dict[int, tuple[int, int, int]]] = {}  # target id → unix day → totals
        self.archived_incidents: list[Incident] = []
        self.listeners: list[Callable[[IncidentChange], None]] = []  # the sink: each incident opening, turning major, resolving
        self.started = time.time()

    def __call__(self, event: Event) -> None:
        kind = type(event)
        if kind is Probed:
            self.add(event.record, event.progress.hard_outage, event.progress.successes)
        elif kind is TargetAdded:
            entry = self.targets.get(event.target.id)
            if entry is None:
                self.targets[event.target.id] = TargetHistory(event.target, archived=self.archived.setdefault(event.target.id, {}))
            else:
                entry.target = event.target
        elif kind is TargetRemoved:
            self.targets.pop(event.target_id, None)

    def add(self, record: CheckRecord, hard_outage: bool = False, successes: int = 0) -> None:
        entry = self.targets.get(record.target_id)
        if entry is None:
            return
        entry.maintenance = record.maintenance
        hour_index = int(record.ts // HOUR)
        hours = entry.hours
        if hour_index not in hours:
            self._prune(entry, hour_index)
        position = hours.slot(hour_index)
        failed = fails_availability(record)
        if record.scheduled:
            if record.maintenance:
                hours.count(position, maintenance=1)
            else:
                misconfigured = not record.ok and not failed and record.error_type is not None and record.error_type.value != "rate_limit"
                hours.count(position, requests=1, failures=int(failed), misconfigured=int(misconfigured))
            if record.ok:
                hours.observe_latency(position, record.latency_ms / 1000)
                if record.ttft_ms is not None:
                    hours.observe_ttft(position, record.ttft_ms / 1000)
            if not record.maintenance:
                entry.recent.append((record.ts, failed, record.error_type.value if record.error_type else None))
                if len(entry.recent) > OPEN_WINDOW:
                    del entry.recent[0]
        self._track(entry, record, failed, hard_outage, successes)

    def _prune(self, entry: TargetHistory, now_index: int) -> None:
        """On a new hour: fold days before yesterday, forget days past the window."""
        today = now_index // 24
        entry.fold(today - 1)
        for index in [d for d in entry.days if d <= today - self.days]:
            del entry.days[index]

    def _track(self, entry: TargetHistory, record: CheckRecord, failed: bool, hard_outage: bool, successes: int) -> None:
        key = (record.provider, record.model)
        incident = self.open.get(key)
        if incident is None:
            if record.maintenance or not failed:
                return
            partial = sum(f for _, f, _ in entry.recent) >= OPEN_FAILURES
            if not (hard_outage or partial):
                return
            incident = self.open[key] = Incident(record.provider, record.model, _first_failure(entry, record), record.ts)
            incident.severity = "major" if hard_outage else "partial"
            incident.regions.add(record.region)
            incident.failing.add(record.target_id)
            # the failures that opened it (the recent scheduled ones; this one among them when scheduled)
            incident.error_types.update(e for _, f, e in entry.recent if f and e)
            if not record.scheduled and record.error_type is not None:
                incident.error_types[record.error_type.value] += 1
            self._tell(incident)
            return
        if failed:
            incident.failing.add(record.target_id)
            incident.regions.add(record.region)
            if record.error_type is not None:
                incident.error_types[record.error_type.value] += 1
            if hard_outage and incident.severity != "major":
                incident.severity = "major"
                self._tell(incident)
        elif record.ok and successes >= RECOVERED_SUCCESSES:
            incident.failing.discard(record.target_id)
            if not incident.failing:
                incident.ended = record.ts
                del self.open[key]
                self.closed.append(incident)
                self._tell(incident)

    def _tell(self, incident: Incident) -> None:
        change = "resolved" if incident.ended is not None else ("major" if incident.severity == "major" else "opened")
        event = IncidentChange(incident.id, change, incident.ended or time.time(), incident.provider, incident.model,
                               incident.severity, incident.started, incident.detected, incident.ended,
                               tuple(sorted(incident.error_types.items())), tuple(sorted(incident.regions)))
        for listener in self.listeners:
            listener(event)

    def status_event(self, event: StatusEvent) -> None:
        """A listener of the status poller: the official incidents, to match ours against."""
        if event.kind != "incident":
            return
        key = f"{event.provider}|{event.title}|{event.url}"
        if event.status == "open":
            self.official.setdefault(key, OfficialIncident(event.provider, event.ts, event.title or "(untitled)", event.url))
        elif key in self.official and self.official[key].ended is None:
            self.official[key].ended = event.ts
        if len(self.official) > _KEEP_CLOSED:
            del self.official[next(iter(self.official))]

    def matching(self, incident: Incident) -> OfficialIncident | None:
        """The official incident posted for ours: the provider's, started from an hour before ours until its end."""
        end = incident.ended or time.time()
        found = [o for o in self.official.values()
                 if o.provider == incident.provider and incident.started - HOUR <= o.started <= end]
        return min(found, key=lambda o: abs(o.started - incident.detected), default=None)

    def incidents(self) -> list[Incident]:
        """Open incidents first, then closed ones, newest first; the sink's too (the same incident once, and only
        of models this exporter probes)."""
        seen = {i.id for i in self.open.values()} | {i.id for i in self.closed}
        probed = {(t.target.provider, t.target.model) for t in self.targets.values()}
        closed = [*self.closed, *(i for i in self.archived_incidents if i.id not in seen and (i.provider, i.model) in probed)]
        return sorted(self.open.values(), key=lambda i: -i.started) + sorted(closed, key=lambda i: -i.started)



def _first_failure(entry: TargetHistory, record: CheckRecord) -> float:
    """When the failures that opened an incident began: the first failed probe among the recent scheduled ones."""
    return min((ts for ts, failed, _ in entry.recent if failed), default=record.ts)
