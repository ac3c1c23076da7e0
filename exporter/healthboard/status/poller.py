"""Polls the official status pages on their own interval; exports what they say, records changes to the
sink, and measures the detection lead (how long before the provider's incident our probes had alerted).

Flow: config → StatusPoller → adapter.read() → Reading → (metrics, status events to the sink). A page that
can't be fetched or read raises StatusPageError: its status series are removed (unknown, never
"operational"), ``llm_provider_status_poll_success`` drops to 0 and the error is counted by reason.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable

import aiohttp
from prometheus_client import CollectorRegistry

from healthboard import __version__
from healthboard.config.model import Config, StatusPageConfig
from healthboard.events import Event, Probed, StatusEvent
from healthboard.plan import Plan
from healthboard.status.metrics import StatusMetrics, remove
from healthboard.status.pages import adapter_for
from healthboard.status.base import LEVEL_NAMES, Incident, Reading, StatusPageError


log = logging.getLogger(__name__)

MAX_DOCUMENT = 8 * 1024 * 1024
LEAD_LOOKBACK = 7200.0  # an alert more than 2 h before an incident is about something else
MIN_POLL_GAP = 30.0  # status.interval is at least this; a config change never polls sooner after the last poll
_EVENT_NS = uuid.UUID("6f1c7f2e-3c1b-4c55-9a8e-5f0c2b7d9e11")


def _event(provider: str, kind: str, component: str, status: str, when: dt.datetime | None, title: str | None = None,
           url: str | None = None, lead: float | None = None, key: str | None = None) -> StatusEvent:
    ts = when.timestamp() if when else time.time()
    ident = uuid.uuid5(_EVENT_NS, f"{kind}|{provider}|{key or component}|{status}|{when.isoformat() if when else ts}")
    return StatusEvent(ident, ts, provider, kind, component, status, title, url, lead)


@dataclasses.dataclass
class _PageState:
    levels: dict[str, tuple[int, str]] = dataclasses.field(default_factory=dict)  # component → (level, word)
    incidents: dict[str, Incident] = dataclasses.field(default_factory=dict)
    leads: dict[str, float] = dataclasses.field(default_factory=dict)  # incident id → lead seconds
    exported_components: set[str] = dataclasses.field(default_factory=set)
    exported_incidents: set[tuple[str, str, str, str]] = dataclasses.field(default_factory=set)
    failing: bool = False


class StatusPoller:
    """Polls the official status pages (a producer of ``StatusEvent``s, handed to ``listeners``: the sink) and
    consumes the scheduler's events to time our own detection against theirs (the detection lead)."""

    def __init__(self, config: Config, plan: Plan, registry: CollectorRegistry | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.metrics = StatusMetrics(registry)
        self.listeners: list[Callable[[StatusEvent], None]] = []
        self.clock = clock
        self.states: dict[str, _PageState] = {}
        self.alerts: dict[str, collections.deque[float]] = collections.defaultdict(lambda: collections.deque(maxlen=50))
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._wake = asyncio.Event()
        self._in_outage: set[str] = set()  # targets whose current run met the hard branch
        self.polls = 0  # rounds of polling started (tests: reloads must not add any)
        self.pages: list[StatusPageConfig] = []
        self.configure(config, plan)

    def configure(self, config: Config, plan: Plan) -> None:
        """Apply (new) status settings. Polls at once only when a page was added or changed, and never sooner
        than MIN_POLL_GAP after the last poll: a reload storm must not hammer a third party's status page."""
        self.interval = config.status.interval
        self.timeout = config.status.timeout
        previous = self.pages
        self.pages = plan.status_pages
        polled = {page.provider for page in self.pages}
        for provider in list(self.states):
            if provider not in polled:
                self._forget(provider)
                del self.states[provider]
                self.metrics.forget_page(provider)
        for page in self.pages:
            self.states.setdefault(page.provider, _PageState())
            self.metrics.page_added(page.provider)
        if any(page not in previous for page in self.pages):
            self._wake.set()

    # -- detection lead: a consumer of the scheduler's events ------------------------------------

    def __call__(self, event: Event) -> None:
        """Our alert time for the lead: the first probe of a run that meets the detector's hard branch
        (``Progress.hard_outage``, the rules' own thresholds): when the page goes out, give or take a scrape."""
        if type(event) is not Probed or event.record.provider not in self.states:
            return
        record, progress = event.record, event.progress
        if not progress.hard_outage:
            if progress.run_failures == 0:
                self._in_outage.discard(record.target_id)  # the run is over
            return
        if record.target_id in self._in_outage:
            return
        self._in_outage.add(record.target_id)
        self.alerts[record.provider].append(record.ts)
        page = self.states[record.provider]
        for incident in page.incidents.values():  # official first: our alert came during its incident
            if incident.id not in page.leads:
                self._set_lead(record.provider, page, incident, incident.started_at.timestamp() - record.ts)

    def _lead_at_first_sight(self, provider: str, incident: Incident) -> float | None:
        started = incident.started_at.timestamp()
        before = [t for t in self.alerts[provider] if started - LEAD_LOOKBACK <= t <= started]
        if before:
            return started - max(before)
        after = [t for t in self.alerts[provider] if t > started]
        return started - min(after) if after else None

    def _set_lead(self, provider: str, page: _PageState, incident: Incident, lead: float) -> None:
        page.leads[incident.id] = lead
        self.metrics.detection_lead.labels(provider).set(lead)
        self.metrics.official_incidents.labels(provider, "true" if lead >= 0 else "false").inc()

    # -- polling ----------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None and self.pages:
            self._task = asyncio.create_task(self._run(), name="status-poller")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            self.polls += 1
            last = loop.time()
            await self.poll_all()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):  # not wait_for: on 3.11 it can swallow a cancellation
                    await self._wake.wait()
            gap = MIN_POLL_GAP - (loop.time() - last)
            if gap > 0:  # woken by a config change right after a poll: wait out the gap
                await asyncio.sleep(gap)

    async def poll_all(self) -> None:
        await asyncio.gather(*(self.poll(page) for page in list(self.pages)))

    async def poll(self, page: StatusPageConfig) -> Reading | None:
        started = time.perf_counter()
        try:
            reading = await adapter_for(page).read(page, self._fetch)
        except StatusPageError as exc:
            self._failed(page, exc)
            return None
        finally:
            self.metrics.status_poll_duration.labels(page.provider).set(time.perf_counter() - started)
        self._apply(page, reading)
        return reading

    async def _fetch(self, url: str) -> bytes:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers={"User-Agent": f"llm-healthboard/{__version__} (status poller)", "Accept": "application/json, application/xml;q=0.9, */*;q=0.5"},
            )
        try:
            async with self._session.get(url, timeout=aiohttp.ClientTimeout(total=self.timeout)) as response:
                if response.status != 200:
                    raise StatusPageError("http_status", f"{url} answered HTTP {response.status}")
                body = await response.content.read(MAX_DOCUMENT + 1)
        except TimeoutError:
            raise StatusPageError("timeout", f"{url} did not answer within {self.timeout:g}s") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise StatusPageError("unreachable", f"{url} can't be reached: {type(exc).__name__}: {exc}") from None
        if len(body) > MAX_DOCUMENT:
            raise StatusPageError("parse", f"{url} is larger than {MAX_DOCUMENT // (1024 * 1024)} MiB")
        return body

    def _failed(self, page: StatusPageConfig, exc: StatusPageError) -> None:
        state = self.states[page.provider]
        self.metrics.status_errors.labels(page.provider, exc.reason).inc()
        self.metrics.status_up.labels(page.provider).set(0)
        self._forget(page.provider)
        if not state.failing:
            log.warning("status page of %s unusable (%s): %s; its official status is unknown until it reads again",
                        page.provider, exc.reason, exc)
        state.failing = True

    def _forget(self, provider: str) -> None:
        """Remove the exported status of a provider: unknown, not operational."""
        state = self.states[provider]
        for component in state.exported_components:
            remove(self.metrics.official_status, (provider, component))
        for labels in state.exported_incidents:
            remove(self.metrics.incident_info, (provider, *labels))
        state.exported_components.clear()
        state.exported_incidents.clear()

    def _apply(self, page: StatusPageConfig, reading: Reading) -> None:
        provider = page.provider
        state = self.states[provider]
        if state.failing:
            log.info("status page of %s reads again", provider)
        state.failing = False
        self.metrics.status_up.labels(provider).set(1)
        self.metrics.status_last_success.labels(provider).set(self.clock())
        components = {c.name for c in reading.components}
        for gone in state.exported_components - components:
            remove(self.metrics.official_status, (provider, gone))
        state.exported_components = components
        for component in reading.components:
            self.metrics.official_status.labels(provider, component.name).set(component.level)
            if state.levels.get(component.name) != (component.level, component.status):
                state.levels[component.name] = (component.level, component.status)
                word = "under_maintenance" if component.status == "under_maintenance" else LEVEL_NAMES[component.level]
                self._emit(_event(provider, "component", component.name, word, component.changed_at, url=page.url))
        open_now = {incident.id: incident for incident in reading.incidents}
        labels_now = set()
        for incident in reading.incidents:
            labels = (incident.id, incident.impact, incident.title[:200], incident.url)
            labels_now.add(labels)
            self.metrics.incident_info.labels(provider, *labels).set(1)
            if incident.id not in state.incidents:
                lead = self._lead_at_first_sight(provider, incident)
                if lead is not None:
                    self._set_lead(provider, state, incident, lead)
                else:
                    remove(self.metrics.detection_lead, (provider,))
                self._emit(_event(provider, "incident", ", ".join(incident.components), "open", incident.started_at,
                                  incident.title, incident.url, lead, key=incident.id))
        for labels in state.exported_incidents - labels_now:
            remove(self.metrics.incident_info, (provider, *labels))
        state.exported_incidents = labels_now
        for ident, incident in state.incidents.items():
            if ident not in open_now:
                self._emit(_event(provider, "incident", ", ".join(incident.components), "resolved", None, incident.title,
                                  incident.url, state.leads.get(ident), key=ident))
                state.leads.pop(ident, None)
        state.incidents = open_now

    def _emit(self, event: StatusEvent) -> None:
        for listener in self.listeners:
            listener(event)
