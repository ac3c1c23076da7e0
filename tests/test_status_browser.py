"""/status in a real headless Chromium (Debian's, driven by the PyPI playwright package; nothing downloads at run
time), with JavaScript off as a reader behind a strict proxy might have it. The exporter probes the simulator, which
plays a scripted incident; Prometheus and Alertmanager run the project's rules and routes, so the maintenance
window's muting is Alertmanager's own inhibition. Screenshots at desktop and phone widths go to
test-artifacts/status/ (CI keeps that folder), each checked for horizontal overflow."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import time
from pathlib import Path

import aiohttp
import pytest

from healthboard.app.exporter import plan_or_fail
from healthboard.app.run import running_exporter
from healthboard.config import parse_config
from healthboard.demo.stack import ALERTMANAGER_BINARIES, running_stack

from conftest import Sim, require_binary

pytestmark = pytest.mark.timeout(240)

ARTIFACTS = Path(os.environ.get("HEALTHBOARD_ARTIFACTS", Path(__file__).parents[1] / "test-artifacts")) / "status"
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}


def config(url: str) -> str:
    start = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)).isoformat()
    return f"""
region: e2e
interval: 1s
timeout: 500ms
recheck_interval: 500ms
status_page:
  title: Example Corp LLM status
  public: true                 # /status is the public view; /status/internal the full one
providers:
  - name: openai
    kind: openai
    base_url: {url}/v1
    api_key: sk-browser-openai-0123456789
    models: [gpt-4o-mini, gpt-4.1-nano]
  - name: anthropic
    kind: anthropic
    base_url: {url}
    api_key: sk-ant-browser-0123456789
    models: [claude-3-haiku-20240307]
maintenance:
  - name: Anthropic key rotation
    provider: anthropic
    start: {start}
    duration: 1h
"""


def chromium_path() -> str:
    """Debian's chromium (Playwright is pointed at it: `playwright install` is never run)."""
    return shutil.which("chromium-browser") or require_binary("chromium")


async def wait_for_state(page, url: str, selector: str, state: str, timeout: float) -> None:  # type: ignore[no-untyped-def]
    """Reload (as the page's own refresh would, faster) until ``selector`` has data-state ``state``."""
    deadline = time.monotonic() + timeout
    while True:
        await page.goto(url)
        if await page.get_attribute(selector, "data-state") == state:
            return
        assert time.monotonic() < deadline, f"{selector} never showed {state}; it shows {await page.get_attribute(selector, 'data-state')}"
        await asyncio.sleep(1)


async def screenshots(browser, url: str, name: str, schemes: tuple[str, ...] = ("light",)) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for label, (width, height) in WIDTHS.items():
        for scheme in schemes:
            context = await browser.new_context(viewport={"width": width, "height": height}, java_script_enabled=False,
                                                color_scheme=scheme)
            page = await context.new_page()
            await page.goto(url)
            path = ARTIFACTS / f"{name}-{label}-{scheme}.png"
            await page.screenshot(path=str(path), full_page=True)
            overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{path.name}: {overflow}px of horizontal overflow"
            await context.close()


async def alerts(am_url: str, name: str) -> list[dict]:
    async with aiohttp.ClientSession() as session:
        async with session.get(am_url + "/api/v2/alerts", params={"filter": f'alertname="{name}"'}) as response:
            return await response.json()


async def test_status_page_in_a_browser_through_an_incident_and_a_maintenance_window(sim: Sim) -> None:
    from playwright.async_api import async_playwright

    chromium = chromium_path()
    require_binary("prometheus")
    require_binary(ALERTMANAGER_BINARIES[0])
    sim.script("latency: 5ms\nrules:\n  - match: {kind: anthropic}\n    faults: {server_error: 1.0}\n")  # in its window
    parsed = parse_config(config(sim.url), "browser", {})
    async with running_exporter(parsed, plan_or_fail(parsed, "browser", {}), None, "127.0.0.1:0", environ={}) as (_, exporter_url), \
            running_stack(exporter_url.removeprefix("http://"), interval="1s") as stack, async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        try:
            context = await browser.new_context(java_script_enabled=False)
            page = await context.new_page()
            status_url = exporter_url + "/status"
            await wait_for_state(page, status_url, "#provider-openai", "operational", 30)
            assert (await page.title()).endswith("· Example Corp LLM status")
            assert await page.get_attribute("#provider-anthropic", "data-state") == "maintenance"
            assert "Anthropic key rotation" in await page.locator(".maintenance-window").inner_text()
            assert "in progress" in await page.locator(".maintenance-window").inner_text()
            await screenshots(browser, status_url, "1-operational")

            # the incident: openai/gpt-4o-mini fails hard
            sim.script("latency: 5ms\nrules:\n  - match: {kind: anthropic}\n    faults: {server_error: 1.0}\n"
                       "  - match: {kind: openai, model: gpt-4o-mini}\n    faults: {server_error: 1.0}\n")
            model = 'section.model[aria-label="openai/gpt-4o-mini"]'
            await wait_for_state(page, status_url, model, "major_outage", 60)
            assert await page.get_attribute("#provider-openai", "data-state") == "partial_outage"  # its other model is fine
            # a provider that isn't operational shows its models without a click
            assert await page.locator(model).is_visible()
            assert "Major outage" in await page.locator(model).inner_text()
            await page.locator("#provider-openai summary").click()  # <details> folds without JavaScript
            assert not await page.locator(model).is_visible()
            await page.locator("#provider-openai summary").click()
            assert "Partial outage" in await page.locator("#overall").inner_text()
            row = page.locator('tr.incident[data-open="true"]').first
            assert "openai/gpt-4o-mini" in await row.inner_text() and "5xx" in await row.inner_text()
            # the public view: no error messages, reasons, regions or internal URLs, as the browser renders it
            visible = await page.locator("body").inner_text()
            html = await page.content()
            for internal in ("HTTP 500", "The server had an error", "probes failed in", "(e2e)", "e2e · chat", "api/health",
                             "/metrics", "127.0.0.1", "sk-"):
                assert internal not in visible and internal not in html, internal
            await page.goto(exporter_url + "/status/internal")
            assert "e2e · chat" in await page.locator("body").inner_text()
            await screenshots(browser, status_url, "2-major-outage", ("light", "dark"))
            await screenshots(browser, exporter_url + "/status/internal", "2-major-outage-internal")

            # maintenance mutes: anthropic has failed hard all along, and Alertmanager holds its page back
            deadline = time.monotonic() + 60
            while not [a for a in await alerts(stack.alertmanager_url, "LLMModelOutage")
                       if a["labels"].get("provider") == "anthropic"]:
                assert time.monotonic() < deadline, "the anthropic outage never reached Alertmanager"
                await asyncio.sleep(1)
            muted = [a for a in await alerts(stack.alertmanager_url, "LLMModelOutage") if a["labels"]["provider"] == "anthropic"]
            assert all(a["status"]["state"] == "suppressed" and a["status"]["inhibitedBy"] for a in muted), muted
            assert not [n for n in stack.receiver.notifications if "anthropic" in n.title + n.text], "a maintenance window must not page"

            # recovery: the incident closes and stays in the history
            sim.script("latency: 5ms\nrules:\n  - match: {kind: anthropic}\n    faults: {server_error: 1.0}\n")
            await wait_for_state(page, status_url, model, "operational", 60)
            closed = page.locator('tr.incident[data-open="false"]').first
            text = await closed.inner_text()
            assert "openai/gpt-4o-mini" in text and "major outage" in text and "not posted officially" in text
            await screenshots(browser, status_url, "3-resolved")
        finally:
            await browser.close()
