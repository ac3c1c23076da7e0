"""The scheduler: every target on its own interval, spread across it, with adaptive re-checks while a
target looks suspicious (healthboard/evidence.py: ``Suspicion``) and interval doubling on 429s.

Data flows one way: the scheduler runs a probe and hands an immutable event (healthboard/events.py) to its
consumers: metrics, the health book, the recent-checks ring, the sink, the status poller. It never reads
anything back from them, and it writes no metric itself.

Unbiased counters: the regular ticks of a target are fixed in time (a grid of ``offset + k × interval``),
whatever happens in between. Only those *scheduled* probes are counted in ``llm_probe_requests_total`` and
``llm_probe_failures_total``, so their ratio samples the provider at a constant rate. The extra re-checks
sent while a target is suspicious are counted apart (``llm_probe_rechecks_total``); together with the
scheduled probes they feed the detector's evidence (``llm_probe_evidence_*``, docs/ALERTING.md), which
is what makes an outage visible within a minute and a partial one within minutes.

Replicas (healthboard/cluster/): with an ``ownership``, the grid is laid on the wall clock (the same ticks on
every replica of a region) and each regular tick is probed only where ``ownership.owns(target, tick)``; a target
whose ticks move to another replica is handed over (``TargetHandedOver``) and starts afresh when it comes back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from typing import Protocol

from healthboard import maintenance
from healthboard.events import Consumer, Event, Probed, TargetAdded, TargetHandedOver, TargetPaused, TargetRemoved
from healthboard.evidence import DEFAULT_SLOW, Evidence, Progress, Suspicion, UsualLatency, is_suspicious
from healthboard.plan import Target
from healthboard.prober.base import short
from healthboard.prober.engine import ProbeEngine
from healthboard.record import BACKOFF_TYPES, OUTAGE_TYPES, CheckRecord, ErrorType

log = logging.getLogger(__name__)


class Ownership(Protocol):
    def owns(self, target_id: str, at: float) -> bool:
        """Whether this replica probes the target's tick due at ``at`` (unix seconds)."""
        ...


@dataclasses.dataclass
class TargetState:
    """What the scheduler keeps of a target: its timing, and the counts each probe updates (handed on as a
    ``Progress`` snapshot, never as this object)."""

    target: Target
    consecutive: int = 0
    consecutive_outage: int = 0
    backoff_level: int = 0
    effective_interval: float = 0.0
    paused: bool = False
    here: bool = True  # with replicas: this one probes it now
    evidence: Evidence = dataclasses.field(default_factory=Evidence)
    suspicion: Suspicion = dataclasses.field(default_factory=Suspicion)
    usual_latency: UsualLatency = dataclasses.field(default_factory=UsualLatency)

    def __post_init__(self) -> None:
        if not self.effective_interval:
            self.effective_interval = self.target.interval

    def count(self, record: CheckRecord) -> Progress:
        if record.ok:
            self.consecutive = self.consecutive_outage = 0
        else:
            self.consecutive += 1
            self.consecutive_outage = self.consecutive_outage + 1 if record.error_type in OUTAGE_TYPES else 0
        self.evidence.add(record.ts, record.ok, record.error_type)
        return self.evidence.progress(self.consecutive, self.consecutive_outage)

    def start_afresh(self) -> None:
        """Handed over to or from another replica: what this one knew of the target's last probes is stale."""
        self.consecutive = self.consecutive_outage = self.backoff_level = 0
        self.effective_interval = self.target.interval
        self.evidence = Evidence()
        self.suspicion.reset()


def spread_offsets(targets: list[Target]) -> dict[str, float]:
    """Evenly spaced start offsets per interval group, in a stable order (by target id)."""
    groups: dict[float, list[Target]] = {}
    for target in targets:
        groups.setdefault(target.interval, []).append(target)
    offsets: dict[str, float] = {}
    for interval, members in groups.items():
        members.sort(key=lambda t: t.id)
        for index, target in enumerate(members):
            offsets[target.id] = interval * index / len(members)
    return offsets


class Scheduler:
    def __init__(
        self,
        engine: ProbeEngine,
        *,
        concurrency: int = 64,
        suspicion: Suspicion | None = None,
        slow_threshold: float = DEFAULT_SLOW,
        backoff_max: float = 600.0,
        ownership: Ownership | None = None,
    ) -> None:
        self.engine = engine
        self.ownership = ownership
        self.suspicion = suspicion or Suspicion()
        self.slow_threshold = slow_threshold
        self.backoff_max = backoff_max
        self.consumers: list[Consumer] = []
        self.states: dict[str, TargetState] = {}
        self._offsets: dict[str, float] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._resumed: dict[str, asyncio.Event] = {}
        # A probe in flight is never cancelled by a reload (it is billed; its record must arrive): a changed
        # target picks up its new settings after it, a removed one ends after it.
        self._in_flight: dict[str, int] = {}
        self._retarget: set[str] = set()
        self._retired: dict[str, TargetState] = {}
        self._semaphore = asyncio.Semaphore(concurrency)
        self._epoch = asyncio.get_running_loop().time()
        self._started = False

    # -- configuration ---------------------------------------------------------------------------

    def configure(self, targets: list[Target], *, concurrency: int | None = None, suspicion: Suspicion | None = None,
                  slow_threshold: float | None = None, backoff_max: float | None = None) -> None:
        """Apply a (new) target list: keep state of targets that stay, start new ones, stop removed ones."""
        if concurrency is not None and concurrency != self._semaphore._value:  # noqa: SLF001
            self._semaphore = asyncio.Semaphore(concurrency)
        if suspicion is not None and not suspicion.same_settings(self.suspicion):
            self.suspicion = suspicion  # new settings: every target starts over; same settings keep their history
            for state in self.states.values():
                state.suspicion = self._suspicion_for(state.target)
        if slow_threshold is not None:
            self.slow_threshold = slow_threshold
        if backoff_max is not None:
            self.backoff_max = backoff_max
        wanted = {t.id: t for t in targets}
        for target_id in [i for i in self.states if i not in wanted]:
            if target_id in self._in_flight:
                self._retired[target_id] = self.states[target_id]  # its task ends once the probe is recorded
                self._tasks.pop(target_id, None)
            else:
                self._stop(target_id)
            del self.states[target_id]
            self._emit(TargetRemoved(target_id))
        self._offsets = spread_offsets(targets)
        for target in targets:
            state = self.states.get(target.id)
            if state is None:
                self.states[target.id] = TargetState(target, suspicion=self._suspicion_for(target), here=self.ownership is None)
                self._emit(TargetAdded(target))
                if self.ownership is not None:  # its first tick decides which replica probes it
                    self._emit(TargetHandedOver(target, False))
            elif state.target != target:
                state.target = target
                state.suspicion = self._suspicion_for(target)
                state.effective_interval = target.interval
                state.backoff_level = 0
                self._emit(TargetAdded(target))
                if not state.here:  # another replica probes it: its series stay there
                    self._emit(TargetHandedOver(target, False))
                if state.paused:
                    self._emit(TargetPaused(target.id, True))
                if target.id in self._in_flight:
                    self._retarget.add(target.id)  # new timing once the probe in flight is recorded
                else:
                    self._stop(target.id)
        if self._started:
            for target_id in self.states:
                if target_id not in self._tasks:
                    self._start(target_id)

    def _suspicion_for(self, target: Target) -> Suspicion:
        return self.suspicion.for_check(target.check).for_interval(target.interval)

    def start(self) -> None:
        if not self._tasks:
            loop = asyncio.get_running_loop()
            # with replicas, the grid of every replica is the same: laid on the wall clock
            self._epoch = loop.time() if self.ownership is None else loop.time() - time.time()
        self._started = True
        for target_id in self.states:
            if target_id not in self._tasks:
                self._start(target_id)

    async def stop(self, grace: float = 15.0) -> None:
        """Stop probing. Probes in flight may finish (up to ``grace`` seconds) so that their records, already
        paid for, reach the consumers; the rest stop at once."""
        self._started = False
        tasks, self._tasks = self._tasks, {}
        busy = [task for target_id, task in tasks.items() if target_id in self._in_flight]
        for target_id, task in tasks.items():
            if target_id not in self._in_flight:
                task.cancel()
        if busy:
            _, late = await asyncio.wait(busy, timeout=grace)
            for task in late:
                task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)

    def _start(self, target_id: str) -> None:
        self._tasks[target_id] = asyncio.create_task(self._run(target_id), name=f"probe {target_id}")

    def _stop(self, target_id: str) -> None:
        task = self._tasks.pop(target_id, None)
        if task is not None:
            task.cancel()

    # -- kill switch ------------------------------------------------------------------------------

    def pause(self, target_id: str) -> None:
        self.states[target_id].paused = True
        self._resumed.setdefault(target_id, asyncio.Event()).clear()  # only paused targets have one (~380 bytes each)
        self._emit(TargetPaused(target_id, True))

    def resume(self, target_id: str) -> None:
        self.states[target_id].paused = False
        resumed = self._resumed.pop(target_id, None)
        if resumed is not None:
            resumed.set()
        self._emit(TargetPaused(target_id, False))

    def _emit(self, event: Event) -> None:
        for consumer in self.consumers:
            try:
                consumer(event)
            except Exception:  # a broken consumer must not stop probing
                log.exception("consumer %r failed on %s", consumer, type(event).__name__)

    # -- the loop --------------------------------------------------------------------------------

    def next_tick(self, target_id: str, now: float, *, first: bool = False) -> float:
        """The first grid point after ``now`` for this target (at or just before ``now`` for its first probe)."""
        state = self.states[target_id]
        interval = state.target.interval
        offset = self._offsets.get(target_id, 0.0)
        if first:
            k = math.ceil((now - self._epoch - offset - 0.05) / interval)
        else:
            k = math.floor((now - self._epoch - offset) / interval) + 1
        return self._epoch + offset + k * interval

    async def _run(self, target_id: str) -> None:
        loop = asyncio.get_running_loop()
        next_regular = self.next_tick(target_id, loop.time(), first=True)
        next_recheck: float | None = None
        while True:
            state = self.states.get(target_id)
            if state is None or self._tasks.get(target_id) is not asyncio.current_task():
                return  # removed (or replaced) while its last probe ran
            scheduled = next_recheck is None or next_recheck >= next_regular
            due = next_regular if scheduled else next_recheck
            assert due is not None
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if state.paused:
                await self._resumed.setdefault(target_id, asyncio.Event()).wait()
                next_regular, next_recheck = self.next_tick(target_id, loop.time()), None
                continue
            if self.ownership is not None and not self._owned(state, due):
                if scheduled:
                    next_regular = self.next_tick(target_id, max(loop.time(), due))
                next_recheck = None
                continue
            async with self._semaphore:
                started = loop.time()
                lag = max(0.0, started - due)
                self._in_flight[target_id] = self._in_flight.get(target_id, 0) + 1
                try:
                    record = await self._probe(state.target, scheduled)
                finally:
                    self._in_flight[target_id] -= 1
                    if not self._in_flight[target_id]:
                        del self._in_flight[target_id]
            retired = self._retired.pop(target_id, None)
            state = retired or self.states.get(target_id, state)
            progress = state.count(record)
            if retired is not None or target_id not in self.states:  # removed while probing: hand on its record, stop
                self._emit(Probed(record, progress, state.effective_interval, lag))
                return
            now = loop.time()
            next_recheck, cadence = None, 0.0
            was_backing_off = state.backoff_level > 0
            if record.error_type in BACKOFF_TYPES:
                state.backoff_level += 1
                state.suspicion.reset()  # throttled: slow down, don't probe faster
            else:
                state.backoff_level = 0
                latency = record.latency_ms / 1000
                slow = state.usual_latency.slow_threshold(self.slow_threshold)
                state.suspicion.observe(now, is_suspicious(record.ok, record.error_type, latency, slow))
                if record.ok and scheduled:
                    state.usual_latency.add(latency)
                # counted from the probe's start: while a provider is slow, its latency must not thin the samples
                next_recheck = state.suspicion.next_recheck(started)
                if next_recheck is not None:
                    cadence = next_recheck - started
                    next_recheck = max(next_recheck, now)
            if scheduled or state.backoff_level or was_backing_off:
                next_regular = self._after(state, target_id, now, record)
            if next_recheck is not None and next_recheck > next_regular - cadence / 2:
                next_recheck = None  # the regular tick comes soon enough
            if target_id in self._retarget:  # reconfigured while probing: the new target's grid from here
                self._retarget.discard(target_id)
                next_regular, next_recheck = self.next_tick(target_id, now), None
            self._emit(Probed(record, progress, state.effective_interval, lag))

    def _owned(self, state: TargetState, due: float) -> bool:
        """Whether this replica probes the tick due at ``due`` (loop time); hands the target over when that changes."""
        assert self.ownership is not None
        here = self.ownership.owns(state.target.id, due - self._epoch)
        if here != state.here:
            state.here = here
            state.start_afresh()
            self._emit(TargetHandedOver(state.target, here))
        return here

    async def _probe(self, target: Target, scheduled: bool) -> CheckRecord:
        """The engine's record, or, should it raise (a bug: it turns every outcome into a record), a record of
        error type ``other`` saying so: a target must never stop probing silently."""
        try:
            record = await self.engine.probe(target, scheduled=scheduled)
        except Exception as exc:  # noqa: BLE001 - see above
            log.exception("probe of %s failed inside the exporter; recorded as error type other", target.id)
            record = CheckRecord(ts=time.time(), provider=target.provider, model=target.model, region=target.region,
                                 check=target.check, ok=False, http_status=None, error_type=ErrorType.OTHER,
                                 error_message=short(f"internal error: {type(exc).__name__}: {exc}"), latency_ms=0.0,
                                 scheduled=scheduled)
        if target.maintenance:
            record.maintenance = maintenance.active(target.maintenance, record.ts) is not None
        return record

    def _after(self, state: TargetState, target_id: str, now: float, record: CheckRecord) -> float:
        if state.backoff_level == 0:
            state.effective_interval = state.target.interval
            return self.next_tick(target_id, now)
        stretched = state.target.interval * 2 ** state.backoff_level
        wait = min(self.backoff_max, max(stretched, record.retry_after or 0.0))
        wait = max(wait, state.target.interval)
        state.effective_interval = wait
        return now + wait
