"""The people's pages (/status, /badge/*) and maintenance windows, against a running exporter and the simulator.
The browser-level checks (layout, phone width, visible state changes) are in tests/test_status_browser.py."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import re
import time
import uuid

import aiohttp
import pytest

from healthboard.events import StatusEvent, TargetAdded
from healthboard.history import HistoryBook, Incident
from healthboard.maintenance import Window, active
from healthboard.record import CheckRecord, ErrorType
from healthboard.web.status import badge_svg, combined

from conftest import target
from helpers import exporter_for

pytestmark = pytest.mark.timeout(60)


def config(url: str, extra: str = "") -> str:
    return f"""
region: seoul
interval: 500ms
timeout: 300ms
recheck_interval: 200ms
providers:
  - name: openai
    kind: openai
    base_url: {url}/v1
    api_key: sk-status-openai-0123456789
    models: [gpt-4o-mini, gpt-4.1-nano]
  - name: anthropic
    kind: anthropic
    base_url: {url}
    api_key: sk-ant-status-0123456789
    models: [claude-3-haiku-20240307]
{extra}"""


async def get(url: str) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text(), dict(response.headers)


async def until(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


def window_now(minutes: int = 30) -> str:
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)
    return f"start: {start.isoformat()}\n    duration: {minutes}m"


async def test_status_page_shows_outage_incident_and_recovery(sim) -> None:  # type: ignore[no-untyped-def]
    async with exporter_for(config(sim.url)) as (exporter, url):
        await until(lambda: all(t.hours for t in exporter.history.targets.values()))
        status, text, headers = await get(url + "/status")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert "All systems operational" in text and "http://" not in text.split("<main>")[1].split("<footer>")[0]
        assert 'http-equiv="refresh"' in text and "<script" not in text

        sim.script("latency: 5ms\nrules:\n  - match: {kind: openai, model: gpt-4o-mini}\n    faults: {server_error: 1.0}\n")
        await until(lambda: any(i.severity == "major" for i in exporter.history.open.values()), 40)
        _, text, _ = await get(url + "/status")
        assert re.search(r'id="provider-openai" data-state="partial_outage"', text), "one of two models down: partial for openai"
        assert 'aria-label="openai/gpt-4o-mini"' in text and "Major outage" in text
        assert 'data-open="true"' in text and "openai/gpt-4o-mini</b>: major outage" in text and "5xx" in text
        _, svg, _ = await get(url + "/badge/openai/gpt-4o-mini.svg")
        assert "major outage" in svg and svg.startswith("<svg")

        sim.script("latency: 5ms\n")
        await until(lambda: not exporter.history.open, 40)
        _, text, _ = await get(url + "/status")
        assert 'data-open="false"' in text and "not posted officially" in text
        assert 'id="provider-openai" data-state="operational"' in text or 'data-state="degraded"' in text


async def test_maintenance_window_flags_records_metrics_api_and_page(sim) -> None:  # type: ignore[no-untyped-def]
    extra = f"maintenance:\n  - name: db upgrade\n    provider: anthropic\n    {window_now()}\n"
    sim.script("latency: 5ms\nrules:\n  - match: {kind: anthropic}\n    faults: {server_error: 1.0}\n")
    async with exporter_for(config(sim.url, extra)) as (exporter, url):
        await until(lambda: len([r for r in exporter.recent_checks() if r.provider == "anthropic"]) >= 8)
        records = [r for r in exporter.recent_checks() if r.provider == "anthropic"]
        assert all(r.maintenance for r in records) and not any(r.maintenance for r in exporter.recent_checks() if r.provider == "openai")
        assert not exporter.history.open, "no incident opens in a maintenance window"
        _, text, _ = await get(url + "/metrics")
        assert re.search(r'llm_probe_maintenance\{provider="anthropic",model="claude-3-haiku-20240307",region="seoul",check="chat"\} 1', text)
        assert 'llm_probe_maintenance{provider="openai"' not in text, "only targets a window applies to have the series"
        _, body, _ = await get(url + "/api/checks?provider=anthropic&limit=1")
        assert '"maintenance": true' in body
        _, page, _ = await get(url + "/status")
        assert 'id="provider-anthropic" data-state="maintenance"' in page
        assert "db upgrade" in page and "in progress" in page
        # availability leaves maintenance out: the failing probes in the window don't count
        hours = exporter.history.targets["anthropic/claude-3-haiku-20240307/chat"].hours
        assert sum(h.requests for h in hours.values()) == 0 and sum(h.maintenance for h in hours.values()) > 0


async def test_public_view_hides_internal_details(sim) -> None:  # type: ignore[no-untyped-def]
    extra = "status_page:\n  public: true\n  title: Acme AI status\n"
    sim.script("latency: 5ms\nrules:\n  - match: {kind: openai, model: gpt-4o-mini}\n    faults: {server_error: 1.0}\n")
    async with exporter_for(config(sim.url, extra)) as (exporter, url):
        await until(lambda: bool(exporter.history.open), 40)
        _, public, _ = await get(url + "/status")
        _, internal, _ = await get(url + "/status/internal")
        assert "Acme AI status" in public
        for secret in ("seoul", "api/health", "/metrics", sim.url, "127.0.0.1", "HTTP 500", "probes failed in", "sk-"):
            assert secret not in public, secret
        assert "seoul" in internal and 'href="../api/health"' in internal  # relative from /status/internal
        for link in re.findall(r'href="([^"#]+)"', internal):  # every link of the full view resolves here
            if not link.startswith("http"):
                status, _, _ = await get(url + "/status/" + link)
                assert status != 404, link  # /api/health answers 503 while a target is unhealthy
        assert re.search(r"openai/gpt-4o-mini</b>: (major|partial) outage", public), "the incident itself is public"


async def test_badges(sim) -> None:  # type: ignore[no-untyped-def]
    async with exporter_for(config(sim.url)) as (exporter, url):
        await until(lambda: all(t.hours for t in exporter.history.targets.values()))
        status, svg, headers = await get(url + "/badge/openai.svg")
        assert status == 200 and headers["Content-Type"].startswith("image/svg+xml")
        assert ">openai<" in svg and re.search(r">operational · 100%<", svg), svg
        status, svg, _ = await get(url + "/badge/nope/model.svg")
        assert status == 404 and "not probed" in svg


def test_badge_escapes_its_text() -> None:
    assert "<script>" not in badge_svg("<script>", "x & y", "unknown") and "x &amp; y" in badge_svg("a", "x & y", "unknown")


def test_recurring_window_covers_each_occurrence_and_scope() -> None:
    start = dt.datetime(2026, 11, 1, 2, tzinfo=dt.timezone.utc).timestamp()
    nightly = Window("nightly", start, 3600, 86400, provider="openai", region="seoul")
    assert nightly.occurrence(start + 5 * 86400 + 1800) == (start + 5 * 86400, start + 5 * 86400 + 3600)
    assert nightly.occurrence(start + 5 * 86400 + 3600) is None and nightly.occurrence(start - 1) is None
    assert nightly.next_start(start + 10) == start + 86400
    assert nightly.applies_to("openai", "gpt-4o", "seoul") and not nightly.applies_to("openai", "gpt-4o", "tokyo")
    once = Window("once", start, 600)
    assert active([nightly, once], start + 100) is nightly and once.next_start(start + 1) is None


def test_provider_state_is_major_only_when_every_model_is_down() -> None:
    assert combined(["major_outage", "major_outage"]) == "major_outage"
    assert combined(["major_outage", "operational"]) == "partial_outage"
    assert combined(["maintenance", "maintenance"]) == "maintenance"
    assert combined(["misconfigured", "operational"]) == "misconfigured"
    assert combined(["unknown", "operational"]) == "operational"


def record(ts: float, ok: bool, error: ErrorType | None = None, maintenance: bool = False) -> CheckRecord:
    return CheckRecord(ts=ts, provider="openai", model="m", region="r", check="chat", ok=ok, http_status=None if ok else 500,
                       error_type=error, latency_ms=200, maintenance=maintenance)


def test_history_counts_availability_like_the_sink_views_and_matches_official_incidents() -> None:
    book = HistoryBook(days=2)
    book(TargetAdded(dataclasses.replace(target("http://127.0.0.1:9"), model="m")))
    t0 = 1_800_000_000.0
    book.add(record(t0, False, ErrorType.AUTH))  # ours: not the provider's availability
    book.add(record(t0 + 1, False, ErrorType.RATE_LIMIT))
    book.add(record(t0 + 2, True))
    hour = next(iter(book.targets["openai/m/chat"].hours.values()))
    assert (hour.requests, hour.failures, hour.misconfigured) == (3, 0, 1)
    for i in range(3):
        book.add(record(t0 + 10 + i, False, ErrorType.SERVER_ERROR))
    incident = next(iter(book.open.values()))
    assert isinstance(incident, Incident) and incident.started == t0 + 10 and incident.severity == "partial"
    book.status_event(StatusEvent(uuid.uuid4(), t0 + 100, "openai", "incident", "API", "open", "Elevated errors", "https://status.example/1"))
    for i in range(6):
        book.add(record(t0 + 200 + i, True), successes=i + 1)
    assert not book.open and book.closed[0].ended == t0 + 205
    official = book.matching(book.closed[0])
    assert official is not None and official.started - book.closed[0].detected == pytest.approx(100 - 12)
    # two days later the first hour is gone (memory_days bounds the memory)
    book.add(record(t0 + 3 * 86400, True))
    assert len(book.targets["openai/m/chat"].hours) == 1
