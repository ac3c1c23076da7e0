"""The official status poller: each page format read from documented-shape fixtures and from the simulator
over loopback; failures never read as operational; status events; the detection lead."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from healthboard.config import parse_config
from healthboard.config.model import STATUS_PAGE_VARIANTS, StatusPageConfig
from healthboard.metrics import Metrics
from healthboard.record import CheckRecord, ErrorType
from healthboard.simulator.status import StatusPageScript, StatusPageView
from healthboard.events import Probed, Progress
from healthboard.status.pages import DEFAULT_PAGES, adapter_for, pages_for
from healthboard.status.base import StatusPageError
from healthboard.status.feed import FeedAdapter

from conftest import Sim, config_text
from helpers import poller_config, poller_for

FIXTURES = Path(__file__).parent / "status_fixtures"
NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.timezone.utc).timestamp()


def page(fmt: str, url: str = "https://status.example", components: list[str] | None = None, **extra: object) -> StatusPageConfig:
    return STATUS_PAGE_VARIANTS[fmt](provider="p", format=fmt, url=url, components=components or [], **extra)  # type: ignore[arg-type]


def files(**paths: str):  # type: ignore[no-untyped-def]
    """A fetch that serves fixture files by the end of the URL."""
    async def fetch(url: str) -> bytes:
        for suffix, name in paths.items():
            if url.endswith(suffix.replace("__", "/").replace("_", ".")):
                return (FIXTURES / name).read_bytes()
        raise AssertionError(f"unexpected fetch {url}")
    return fetch


async def test_atlassian_summary_components_incidents_and_maintenance() -> None:
    reading = await adapter_for(page("statuspage", components=["API", "Claude Code"])).read(
        page("statuspage", components=["API", "Claude Code"]), files(summary_json="statuspage-summary.json"))
    levels = {c.name: c.level for c in reading.components}
    assert levels == {"Claude API (api.anthropic.com)": 2, "Claude Code": 1}  # maintenance documented as 1
    assert {i.title: i.impact for i in reading.incidents} == {
        "Elevated errors on the Claude API": "major", "Claude Code backend upgrade": "maintenance"}  # claude.ai incident not wanted
    api = next(i for i in reading.incidents if i.impact == "major")
    assert api.started_at == dt.datetime(2026, 11, 20, 8, 55, tzinfo=dt.timezone.utc)
    assert api.url == "https://stspg.io/p3mxd2bf"


async def test_atlassian_without_components_takes_every_leaf_not_groups() -> None:
    p = page("statuspage")
    reading = await adapter_for(p).read(p, files(summary_json="statuspage-summary.json"))
    assert [c.name for c in reading.components] == ["claude.ai", "Claude API (api.anthropic.com)", "Claude Code"]


async def test_incidentio_takes_components_from_components_json() -> None:
    p = page("incidentio", components=["Chat Completions", "Responses"])
    fetch = files(components_json="incidentio-components.json", summary_json="incidentio-summary.json")
    reading = await adapter_for(p).read(p, fetch)
    assert {c.name: (c.level, c.status) for c in reading.components} == {
        "Chat Completions": (1, "degraded_performance"), "Responses": (0, "operational")}  # neither is in summary.json
    assert [i.title for i in reading.incidents] == ["Increased latency for Chat Completions"]


async def test_google_cloud_open_incident_of_the_product_only() -> None:
    p = page("google-cloud", url="https://status.cloud.google.com/incidents.json", components=["Vertex Gemini API"])
    reading = await adapter_for(p).read(p, files(incidents_json="google-incidents.json"))
    (component,) = reading.components
    assert (component.name, component.level, component.status) == ("Vertex Gemini API", 2, "SERVICE_DISRUPTION")
    (incident,) = reading.incidents  # the resolved Gemini one and the open BigQuery one are left out
    assert incident.url == "https://status.cloud.google.com/incidents/xVSEV3kVaJBmS7SZbnre"
    assert incident.impact == "major"


@pytest.mark.parametrize(("name", "level", "titles"), [
    ("feed.rss", 1, ["Elevated error rates on the API"]),  # resolved and too-old entries are not open
    ("feed.atom", 3, ["API unavailable in all regions"]),
])
async def test_feeds(name: str, level: int, titles: list[str]) -> None:
    p = page("feed", url=f"https://status.example/{name}")
    reading = await FeedAdapter(clock=lambda: NOW).read(p, files(**{name.replace(".", "_"): name}))
    assert [(c.name, c.level) for c in reading.components] == [("all", level)]
    assert [i.title for i in reading.incidents] == titles


@pytest.mark.parametrize(("fmt", "body", "reason"), [
    ("statuspage", b"<html>moved</html>", "parse"),
    ("statuspage", b'{"data": []}', "parse"),
    ("statuspage", b'{"components": [{"name": "API", "status": "sort_of_ok"}], "incidents": []}', "parse"),
    ("statuspage", b'{"components": [{"name": "Other", "status": "operational"}], "incidents": []}', "no_component"),
    ("google-cloud", b'{"incidents": []}', "parse"),
    ("feed", b"<html><body>not a feed</body></html>", "parse"),
])
async def test_unreadable_pages_are_errors_never_operational(fmt: str, body: bytes, reason: str) -> None:
    p = page(fmt, components=["API"] if fmt != "feed" else [])

    async def fetch(url: str) -> bytes:
        return body

    with pytest.raises(StatusPageError) as caught:
        await adapter_for(p).read(p, fetch)
    assert caught.value.reason == reason


def test_defaults_follow_the_api_host_and_explicit_pages_win() -> None:
    config = parse_config(
        "providers:\n"
        "  - {name: openai, kind: openai, base_url: https://api.openai.com/v1, api_key: k, models: [m]}\n"
        "  - {name: claude, kind: anthropic, base_url: https://api.anthropic.com, api_key: k, models: [m]}\n"
        "  - {name: local, kind: openai, base_url: http://vllm:8000/v1, api_key: k, models: [m]}\n"
        "status:\n  pages:\n    - {provider: claude, format: statuspage, url: https://status.claude.com, components: [API]}\n", "t", {})
    pages = {p.provider: p for p in pages_for(config)}
    assert set(pages) == {"openai", "claude"}  # no page known for a self-hosted endpoint
    assert pages["openai"].url == DEFAULT_PAGES["api.openai.com"]["url"]
    assert pages["claude"].url == "https://status.claude.com"
    off = parse_config(config_text("http://x", ["openai"]) + "status: {enabled: false}\n", "t", {})
    assert pages_for(off) == []


# -- the simulator's pages and the poller over loopback ----------------------------------------------

SCRIPT = """
status_pages:
  {key}:
    format: {fmt}
    components: [API, Console]
    events:
      - {{from: {start}, components: [API], status: major_outage, title: "API errors"}}
"""


@pytest.mark.parametrize(("fmt", "path", "components"), [
    ("statuspage", "", ["API"]),
    ("incidentio", "", ["API"]),
    ("google-cloud", "/incidents.json", ["API"]),
    ("feed", "/feed.xml", []),
    ("feed", "/feed.atom", []),
])
async def test_poller_reads_each_simulated_format(sim: Sim, fmt: str, path: str, components: list[str]) -> None:
    sim.script(SCRIPT.format(key="p", fmt=fmt, start="0s"))
    config = poller_config(f"{sim.url}/status/p{path}", fmt, str(components))
    metrics = Metrics()
    events = []
    poller = poller_for(config, metrics, events.append)
    try:
        reading = await poller.poll(poller.pages[0])
    finally:
        await poller.stop()
    assert reading is not None
    assert max(c.level for c in reading.components) == 3
    assert [i.title for i in reading.incidents] == ["API errors"]
    text = metrics.render().decode()
    component = "all" if fmt == "feed" else "API"
    assert f'llm_provider_official_status{{component="{component}",provider="openai"}} 3.0' in text
    assert 'llm_provider_official_incident_info{impact=' in text
    assert 'llm_provider_status_poll_success{provider="openai"} 1.0' in text
    assert {e.kind for e in events} == {"component", "incident"}


@pytest.mark.parametrize(("broken", "reason"), [("html", "parse"), ("schema", "parse"), ("http_500", "http_status"), ("hang", "timeout")])
async def test_broken_page_removes_status_and_counts_reason(sim: Sim, broken: str, reason: str) -> None:
    sim.script("""
status_pages:
  p:
    format: statuspage
    components: [API]
    events:
      - {from: 0.5s, broken: %s}
""" % broken)
    config = poller_config(f"{sim.url}/status/p", timeout="1s")
    metrics = Metrics()
    poller = poller_for(config, metrics)
    try:
        assert await poller.poll(poller.pages[0]) is not None
        assert 'llm_provider_official_status{component="API",provider="openai"} 0.0' in metrics.render().decode()
        await asyncio.sleep(0.6)
        assert await poller.poll(poller.pages[0]) is None
    finally:
        await poller.stop()
    text = metrics.render().decode()
    assert "llm_provider_official_status{" not in text  # unknown, not operational: S3 can't fire on it
    assert 'llm_provider_status_poll_success{provider="openai"} 0.0' in text
    assert f'llm_provider_status_poll_errors_total{{provider="openai",reason="{reason}"}} 1.0' in text


async def test_unreachable_page(sim: Sim) -> None:
    config = poller_config("http://127.0.0.1:9")
    metrics = Metrics()
    poller = poller_for(config, metrics)
    try:
        assert await poller.poll(poller.pages[0]) is None
    finally:
        await poller.stop()
    assert 'llm_provider_status_poll_errors_total{provider="openai",reason="unreachable"} 1.0' in metrics.render().decode()


def _failure(ts: float, provider: str = "openai") -> CheckRecord:
    return CheckRecord(ts=ts, provider=provider, model="m", region="r", check="chat", ok=False, http_status=500,
                       error_type=ErrorType.SERVER_ERROR, latency_ms=10.0)


def _probed(ts: float, failures: int, span: float) -> Probed:
    """A failed probe, the ``failures``-th of a run of server errors spanning ``span`` seconds."""
    return Probed(_failure(ts), Progress(failures, failures, 0, 100, 10, failures, span, failures), 30.0, 0.0)


async def test_detection_lead_before_and_after_the_official_incident(sim: Sim) -> None:
    # the page's incident starts 0 s after the simulator (re)starts; our alert came 90 s earlier
    sim.script(SCRIPT.format(key="p", fmt="statuspage", start="0s"))
    started = sim.simulator.started_wall
    config = poller_config(f"{sim.url}/status/p")
    metrics = Metrics()
    events = []
    poller = poller_for(config, metrics, events.append)
    poller(_probed(started - 200, 3, 15.0))  # a run, not yet the detector's hard branch
    poller(_probed(started - 90, 4, 21.0))  # four failures over 21 s: our page
    poller(_probed(started - 80, 5, 31.0))  # the same run going on: not a new alert
    try:
        await poller.poll(poller.pages[0])
    finally:
        await poller.stop()
    text = metrics.render().decode()
    lead = float(next(line for line in text.splitlines() if line.startswith("llm_provider_detection_lead_seconds{")).split()[-1])
    assert lead == pytest.approx(90, abs=0.01)
    assert 'llm_provider_official_incidents_total{probes_first="true",provider="openai"} 1.0' in text
    (incident_event,) = [e for e in events if e.kind == "incident"]
    assert incident_event.detection_lead_seconds == pytest.approx(90, abs=0.01)


async def test_detection_lead_negative_when_the_status_page_was_first(sim: Sim) -> None:
    sim.script(SCRIPT.format(key="p", fmt="statuspage", start="0s"))
    started = sim.simulator.started_wall
    config = poller_config(f"{sim.url}/status/p")
    metrics = Metrics()
    poller = poller_for(config, metrics)
    try:
        await poller.poll(poller.pages[0])
        assert "llm_provider_detection_lead_seconds{" not in metrics.render().decode()  # not detected (yet)
        poller(_probed(started + 120, 4, 20.0))
    finally:
        await poller.stop()
    assert 'llm_provider_detection_lead_seconds{provider="openai"} -120.0' in metrics.render().decode()


async def test_status_events_have_stable_ids_and_resolution(sim: Sim) -> None:
    sim.script("""
status_pages:
  p:
    format: statuspage
    components: [API]
    events:
      - {from: 0s, until: 0.4s, status: partial_outage, title: "API errors"}
""")
    config = poller_config(f"{sim.url}/status/p")
    first, second = [], []
    for sink in (first, second):  # two exporters (regions, or a restart) see the same page
        poller = poller_for(config, Metrics(), sink.append)
        try:
            await poller.poll(poller.pages[0])
        finally:
            await poller.stop()
    assert [e.id for e in first] == [e.id for e in second]
    poller = poller_for(config, Metrics(), first.append)
    try:
        await poller.poll(poller.pages[0])
        await asyncio.sleep(0.5)
        await poller.poll(poller.pages[0])
    finally:
        await poller.stop()
    assert [(e.kind, e.status) for e in first[-2:]] == [("component", "operational"), ("incident", "resolved")]


def test_simulated_pages_validate_their_components() -> None:
    with pytest.raises(ValueError, match="not among the page's components"):
        StatusPageScript.model_validate({"format": "statuspage", "components": ["API"], "events": [{"components": ["Nope"]}]})
    view = StatusPageView("p", StatusPageScript(format="statuspage"), NOW, 0)
    assert view.summary()["status"] == {"indicator": "none", "description": "All Systems Operational"}
