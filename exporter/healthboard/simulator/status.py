"""Scripted official status pages, served in each documented format (docs/SIMULATOR.md, "status pages").

A scenario's ``status_pages`` maps a page name to its format, components and timed events; the page is
served under ``/status/<name>/`` at the paths the real platforms use:

- statuspage / incidentio: ``api/v2/summary.json``, ``api/v2/components.json``, ``api/v2/incidents/unresolved.json``
- google-cloud: ``incidents.json``
- feed: ``feed.xml`` (RSS 2.0) and ``feed.atom`` (Atom 1.0)

Each event is one incident, open from ``from`` until ``until``, putting its components in ``status``; an
event with ``broken`` instead makes the page unusable while active (the platform moved, an error, a hang).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
from typing import Literal
from xml.sax.saxutils import escape

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from healthboard.durations import Duration

ComponentStatus = Literal["operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"]
ORDER = {"operational": 0, "under_maintenance": 1, "degraded_performance": 1, "partial_outage": 2, "major_outage": 3}
IMPACT = {"degraded_performance": "minor", "under_maintenance": "maintenance", "partial_outage": "major", "major_outage": "critical"}
GOOGLE_IMPACT = {"degraded_performance": "SERVICE_INFORMATION", "under_maintenance": "SERVICE_INFORMATION",
                 "partial_outage": "SERVICE_DISRUPTION", "major_outage": "SERVICE_OUTAGE"}
FEED_WORDS = {"degraded_performance": "Degraded performance", "under_maintenance": "Maintenance",
              "partial_outage": "Partial outage", "major_outage": "Major outage"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class StatusEventScript(_Strict):
    start: Duration = Field(default=0.0, alias="from")
    until: Duration | None = None
    components: list[str] = Field(default_factory=list)  # none listed: every component
    status: ComponentStatus = "major_outage"
    title: str = "Elevated error rates"
    broken: Literal["html", "schema", "http_500", "hang"] | None = None

    def active(self, elapsed: float) -> bool:
        return elapsed >= self.start and (self.until is None or elapsed < self.until)


class StatusPageScript(_Strict):
    format: Literal["statuspage", "incidentio", "google-cloud", "feed"]
    name: str = "Simulated provider"
    components: list[str] = Field(default_factory=lambda: ["API"])
    events: list[StatusEventScript] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_components(self) -> "StatusPageScript":
        for event in self.events:
            unknown = set(event.components) - set(self.components)
            if unknown:
                raise ValueError(f"event components {sorted(unknown)} are not among the page's components {self.components}")
        return self


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _id(*parts: object) -> str:
    return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:12]


class StatusPageView:
    """One scripted page at one moment: ``elapsed`` seconds after ``started`` (Unix time)."""

    def __init__(self, key: str, script: StatusPageScript, started: float, elapsed: float) -> None:
        self.key, self.script, self.started, self.elapsed = key, script, started, elapsed
        self.page_id = _id("page", key)
        self.now = started + elapsed

    def broken(self) -> str | None:
        for event in self.script.events:
            if event.broken and event.active(self.elapsed):
                return event.broken
        return None

    def incidents(self) -> list[tuple[int, StatusEventScript, bool]]:
        """(index, event, still open) of every started incident, newest first."""
        started = [(i, e, e.active(self.elapsed)) for i, e in enumerate(self.script.events) if not e.broken and self.elapsed >= e.start]
        return sorted(started, key=lambda item: item[1].start, reverse=True)

    def component_status(self, name: str) -> tuple[str, float]:
        status, since = "operational", self.started
        for _, event, is_open in self.incidents():
            affected = not event.components or name in event.components
            if affected and is_open and ORDER[event.status] > ORDER[status]:
                status, since = event.status, self.started + event.start
            elif affected and not is_open and status == "operational" and event.until is not None:
                since = max(since, self.started + event.until)
        return status, since

    # -- Atlassian Statuspage v2 (also what incident.io pages serve) ---------------------------------

    def _page(self) -> dict[str, object]:
        return {"id": self.page_id, "name": self.script.name, "url": f"https://status.example/{self.key}",
                "time_zone": "Etc/UTC", "updated_at": _iso(self.now)}

    def _component(self, position: int, name: str) -> dict[str, object]:
        status, since = self.component_status(name)
        return {"id": _id("component", self.key, name), "name": name, "status": status, "created_at": _iso(self.started - 86400 * 365),
                "updated_at": _iso(since), "position": position, "description": None, "showcase": True, "start_date": None,
                "group_id": None, "page_id": self.page_id, "group": False, "only_show_if_degraded": False}

    def _incident(self, index: int, event: StatusEventScript, is_open: bool) -> dict[str, object]:
        ident = _id("incident", self.key, index)
        created = self.started + event.start
        status = "investigating" if is_open else "resolved"
        names = event.components or self.script.components
        return {
            "id": ident, "name": event.title, "status": status, "created_at": _iso(created), "updated_at": _iso(created),
            "monitoring_at": None, "resolved_at": None if is_open else _iso(self.started + (event.until or 0)),
            "impact": IMPACT[event.status], "shortlink": f"https://stspg.io/{ident[:7]}", "started_at": _iso(created),
            "page_id": self.page_id,
            "incident_updates": [{"id": _id("update", ident), "status": status, "body": f"We are investigating: {event.title}.",
                                  "incident_id": ident, "created_at": _iso(created), "updated_at": _iso(created),
                                  "display_at": _iso(created), "affected_components": None, "deliver_notifications": True,
                                  "custom_tweet": None, "tweet_id": None}],
            "components": [self._component(self.script.components.index(n), n) for n in names],
        }

    def summary(self) -> dict[str, object]:
        components = [self._component(i, n) for i, n in enumerate(self.script.components)]
        worst = max((ORDER[c["status"]] for c in components), default=0)  # type: ignore[index]
        indicator, description = [("none", "All Systems Operational"), ("minor", "Minor Service Outage"),
                                  ("major", "Partial System Outage"), ("critical", "Major System Outage")][worst]
        return {
            "page": self._page(), "status": {"indicator": indicator, "description": description}, "components": components,
            "incidents": [self._incident(i, e, o) for i, e, o in self.incidents() if o], "scheduled_maintenances": [],
        }

    def components(self) -> dict[str, object]:
        return {"page": self._page(), "components": [self._component(i, n) for i, n in enumerate(self.script.components)]}

    def unresolved(self) -> dict[str, object]:
        return {"page": self._page(), "incidents": [self._incident(i, e, o) for i, e, o in self.incidents() if o]}

    # -- Google Cloud incidents.json ----------------------------------------------------------------

    def google_incidents(self) -> list[dict[str, object]]:
        out = []
        for index, event, is_open in self.incidents():
            ident = _id("incident", self.key, index)
            begin = _iso(self.started + event.start)
            products = [{"title": n, "id": _id("product", n)} for n in (event.components or self.script.components)]
            update = {"created": begin, "modified": begin, "when": begin, "text": f"# Summary\n{event.title}",
                      "status": GOOGLE_IMPACT[event.status] if is_open else "AVAILABLE", "affected_locations": []}
            out.append({
                "id": ident, "number": str(int(ident, 16)), "begin": begin, "created": begin,
                **({} if is_open else {"end": _iso(self.started + (event.until or 0))}),
                "modified": begin, "external_desc": event.title, "updates": [update], "most_recent_update": update,
                "status_impact": GOOGLE_IMPACT[event.status], "severity": "high" if event.status == "major_outage" else "medium",
                "service_key": products[0]["id"], "service_name": products[0]["title"], "affected_products": products,
                "uri": f"incidents/{ident}", "currently_affected_locations": [], "previously_affected_locations": [],
            })
        return out

    # -- RSS 2.0 and Atom 1.0 -------------------------------------------------------------------------

    def _entries(self) -> list[tuple[str, str, float, float, str]]:
        """(id, title, published, updated, html summary, newest update first) per incident."""
        out = []
        for index, event, is_open in self.incidents():
            ident = _id("incident", self.key, index)
            start = self.started + event.start
            words = f"{FEED_WORDS[event.status]}: {event.title}"
            updates = [f"<p><strong>Investigating</strong> - {escape(words)}.</p>"]
            updated = start
            if not is_open:
                updated = self.started + (event.until or event.start)
                updates.insert(0, "<p><strong>Resolved</strong> - This incident has been resolved.</p>")
            out.append((ident, event.title, start, updated, "".join(updates)))
        return out

    def rss(self) -> str:
        items = "".join(
            f"<item><title>{escape(title)}</title><description>{escape(summary)}</description>"
            f"<pubDate>{_rfc822(published)}</pubDate><link>https://status.example/{self.key}/incidents/{ident}</link>"
            f"<guid>https://status.example/{self.key}/incidents/{ident}</guid></item>"
            for ident, title, published, _updated, summary in self._entries()
        )
        return ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
                f"<title>{escape(self.script.name)} status</title><link>https://status.example/{self.key}</link>"
                f"<description>Status updates</description>{items}</channel></rss>")

    def atom(self) -> str:
        entries = "".join(
            f"<entry><id>tag:status.example,2024:{ident}</id><title>{escape(title)}</title>"
            f"<published>{_iso(published)}</published><updated>{_iso(updated)}</updated>"
            f'<link rel="alternate" type="text/html" href="https://status.example/{self.key}/incidents/{ident}"/>'
            f'<content type="html">{escape(summary)}</content></entry>'
            for ident, title, published, updated, summary in self._entries()
        )
        return ('<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
                f"<id>tag:status.example,2024:{self.key}</id><title>{escape(self.script.name)} status</title>"
                f"<updated>{_iso(self.now)}</updated>{entries}</feed>")


def _rfc822(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S +0000")


PATHS = {
    "statuspage": ("api/v2/summary.json", "api/v2/components.json", "api/v2/incidents/unresolved.json"),
    "incidentio": ("api/v2/summary.json", "api/v2/components.json", "api/v2/incidents/unresolved.json"),
    "google-cloud": ("incidents.json",),
    "feed": ("feed.xml", "feed.atom"),
}


async def serve(view: StatusPageView, path: str) -> web.Response:
    if path not in PATHS[view.script.format]:
        return web.json_response({"error": "Not found"}, status=404)
    broken = view.broken()
    if broken == "html":
        return web.Response(text="<!doctype html><html><body><h1>Our status page has moved</h1></body></html>", content_type="text/html")
    if broken == "schema":
        return web.json_response({"data": {"affected_components": [], "summary": "new platform"}})
    if broken == "http_500":
        return web.Response(status=500, text="Internal Server Error")
    if broken == "hang":
        await asyncio.sleep(30)  # bounded; the poller's timeout is shorter
    if path == "api/v2/summary.json":
        return web.json_response(view.summary())
    if path == "api/v2/components.json":
        return web.json_response(view.components())
    if path == "api/v2/incidents/unresolved.json":
        return web.json_response(view.unresolved())
    if path == "incidents.json":
        return web.Response(text=json.dumps(view.google_incidents()), content_type="application/json")
    if path == "feed.xml":
        return web.Response(text=view.rss(), content_type="application/rss+xml")
    return web.Response(text=view.atom(), content_type="application/atom+xml")
