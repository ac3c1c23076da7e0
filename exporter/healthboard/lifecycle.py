"""Model lifecycle from the providers' model listings: OpenAI documents monitoring shutdowns by its Retrieve model
endpoint (GET /v1/models/{model}), whose optional ``shutdown_date`` (YYYY-MM-DD) is the announced retirement.
Every ``lifecycle_interval`` (default 6 h) this asks once per probed model of the `openai` kind and exports
``llm_model_shutdown_date_seconds{provider, model}`` while a date is announced; LLMModelShutdownScheduled turns
it into a ticket months before the model goes. The other signals (Sunset/Deprecation headers, 404/410 retirement
bodies) come with every probe (``CheckRecord.deprecation``). An API without the endpoint (many OpenAI-compatible
servers list models but can't retrieve one) just has no date: nothing is exported and nothing alerts.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from urllib.parse import quote

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Gauge

from healthboard.plan import Plan, Target
from healthboard.secrets import scrub

log = logging.getLogger(__name__)

KINDS = ("openai",)


def shutdown_of(body: object) -> float | None:
    """The announced shutdown (unix seconds, midnight UTC) of a Retrieve model reply, or None."""
    value = body.get("shutdown_date") if isinstance(body, dict) else None
    if not isinstance(value, str):
        return None
    try:
        day = dt.date.fromisoformat(value[:10])
    except ValueError:
        return None
    return dt.datetime.combine(day, dt.time(), dt.timezone.utc).timestamp()


LISTING_CONCURRENCY = 4  # model listing reads in flight at once


def _chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


class LifecyclePoller:
    def __init__(self, plan: Plan, interval: float, registry: CollectorRegistry | None = None, timeout: float = 10.0) -> None:
        self.shutdown = Gauge("llm_model_shutdown_date_seconds", "The shutdown date the provider's model listing announces "
                              "for the model (OpenAI shutdown_date), as unix seconds; absent while none is announced.",
                              ["provider", "model"], registry=registry)
        self.errors = Counter("llm_model_lifecycle_poll_errors", "Model listing requests that failed (network, 5xx, unreadable reply).",
                              ["provider"], registry=registry)
        self.interval, self.timeout = interval, timeout
        self.targets: dict[tuple[str, str], Target] = {}
        self._exported: set[tuple[str, str]] = set()
        self._task: asyncio.Task[None] | None = None
        self.configure(plan, interval)

    def configure(self, plan: Plan, interval: float) -> None:
        self.interval = interval
        self.targets = {(t.provider, t.model): t for t in plan.targets if t.kind in KINDS}
        for gone in self._exported - set(self.targets):
            with contextlib.suppress(KeyError):
                self.shutdown.remove(*gone)
            self._exported.discard(gone)

    def start(self) -> None:
        if self._task is None and self.interval > 0 and self.targets:
            self._task = asyncio.create_task(self._run(), name="model-lifecycle")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await self.poll_all()
            await asyncio.sleep(self.interval)

    async def poll_all(self) -> None:
        """Every model's listing, a few at a time: the probes share the event loop and the network with these reads
        (all 5,000 at once at start stalled the probe schedule by up to 2 s, bench/probe_engine.py)."""
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        gate = asyncio.Semaphore(LISTING_CONCURRENCY)

        async def gated(session: aiohttp.ClientSession, key: tuple[str, str], target: Target) -> None:
            async with gate:
                await self.poll(session, key, target)

        async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=LISTING_CONCURRENCY)) as session:
            for chunk in _chunks(list(self.targets.items()), 64):  # a bounded number of tasks at once
                await asyncio.gather(*(gated(session, key, target) for key, target in chunk))

    async def poll(self, session: aiohttp.ClientSession, key: tuple[str, str], target: Target) -> None:
        url = f"{target.base_url}/models/{quote(target.model, safe='')}"
        headers = {"Authorization": f"Bearer {target.api_key.reveal()}", **target.headers}
        try:
            async with session.get(url, headers=headers) as response:
                if response.status in (404, 405, 501):  # no Retrieve model here, or the model isn't listed: no date
                    when = None
                elif response.status != 200:
                    raise aiohttp.ClientResponseError(response.request_info, (), status=response.status, message=response.reason or "")
                else:
                    when = shutdown_of(await response.json(content_type=None))
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self.errors.labels(target.provider).inc()
            log.debug("model listing of %s/%s unreadable: %s", *key, scrub(f"{type(exc).__name__}: {exc}"))
            return
        if when is None:
            if key in self._exported:
                self.shutdown.remove(*key)
                self._exported.discard(key)
            return
        if key not in self._exported:
            log.warning("%s/%s: the provider announces its shutdown on %s", *key, dt.datetime.fromtimestamp(when, dt.timezone.utc).date())
        self.shutdown.labels(*key).set(when)
        self._exported.add(key)
