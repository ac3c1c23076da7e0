"""Atlassian Statuspage v2 JSON, and the compatible API that incident.io-hosted pages serve.

- ``statuspage`` (Atlassian: status.claude.com, …): ``GET {url}/api/v2/summary.json`` gives components,
  unresolved incidents and scheduled maintenances in one document.
- ``incidentio`` (status.openai.com, status.cohere.com, groqstatus.com): the same document shapes, but the
  summary may leave components out, so components come from ``{url}/api/v2/components.json`` (complete) and
  open incidents from ``summary.json``.

Component status words: operational, degraded_performance, partial_outage, major_outage, under_maintenance.
An unknown word is a parse error (the page changed), not "operational".
"""

from __future__ import annotations

import json
from typing import Any, TYPE_CHECKING

from healthboard.options import Options
from healthboard.status.base import (
    DEGRADED,
    MAJOR,
    OPERATIONAL,
    PARTIAL,
    Component,
    Fetch,
    Incident,
    Reading,
    StatusPageError,
    parse_time,
    require,
    wanted,
)

if TYPE_CHECKING:
    from healthboard.config.model import StatusPageConfig

LEVELS = {
    "operational": OPERATIONAL,
    "degraded_performance": DEGRADED,
    "under_maintenance": DEGRADED,  # documented: maintenance shows as 1, so it never reads as "all operational"
    "partial_outage": PARTIAL,
    "major_outage": MAJOR,
}
IMPACTS = ("none", "minor", "major", "critical", "maintenance")


def _document(body: bytes, url: str, key: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise StatusPageError("parse", f"{url} is not JSON (has the page moved to another platform?)") from None
    require(isinstance(data, dict) and isinstance(data.get(key), list), f"{url} has no {key!r} list: not a Statuspage v2 document")
    return data


def components_of(data: dict[str, Any], page: StatusPageConfig, url: str) -> tuple[Component, ...]:
    found = []
    names = []
    for item in data["components"]:
        require(isinstance(item, dict) and isinstance(item.get("name"), str), f"{url}: a component without a name")
        name, word = item["name"], item.get("status")
        names.append(name)
        if not wanted(page, name) or (not page.components and item.get("group")):
            continue
        if word not in LEVELS:
            raise StatusPageError("parse", f"{url}: component {name!r} has unknown status {word!r}")
        found.append(Component(name, LEVELS[word], word, parse_time(item.get("updated_at"))))
    if not found:
        shown = ", ".join(repr(n) for n in names[:20]) or "none"
        raise StatusPageError("no_component", f"{url}: no component matches {page.components}; the page lists {shown}")
    return tuple(found)


def incidents_of(data: dict[str, Any], page: StatusPageConfig, url: str) -> tuple[Incident, ...]:
    found = []
    items = list(data.get("incidents") or [])
    items += [m for m in data.get("scheduled_maintenances") or [] if isinstance(m, dict) and m.get("status") in ("in_progress", "verifying")]
    for item in items:
        require(isinstance(item, dict) and isinstance(item.get("id"), str), f"{url}: an incident without an id")
        affected = tuple(c.get("name", "") for c in item.get("components") or [] if isinstance(c, dict))
        if affected and page.components and not any(wanted(page, name) for name in affected):
            continue  # about parts of the page nobody asked about
        is_maintenance = "scheduled_for" in item
        impact = "maintenance" if is_maintenance else item.get("impact", "none")
        started = parse_time(item.get("started_at")) or parse_time(item.get("created_at"))
        require(started is not None, f"{url}: incident {item['id']} has no created_at")
        found.append(Incident(
            id=item["id"], title=str(item.get("name", "")), impact=impact if impact in IMPACTS else "none",
            status=str(item.get("status", "")), started_at=started,  # type: ignore[arg-type]
            url=str(item.get("shortlink") or f"{page.url}/incidents/{item['id']}"), components=affected,
        ))
    return tuple(found)


class StatuspageAdapter:
    format = "statuspage"
    options = Options

    async def read(self, page: StatusPageConfig, fetch: Fetch) -> Reading:
        url = f"{page.url}/api/v2/summary.json"
        summary = _document(await fetch(url), url, "components")
        return Reading(components_of(summary, page, url), incidents_of(summary, page, url))


class IncidentIoAdapter:
    format = "incidentio"
    options = Options

    async def read(self, page: StatusPageConfig, fetch: Fetch) -> Reading:
        components_url = f"{page.url}/api/v2/components.json"
        summary_url = f"{page.url}/api/v2/summary.json"
        components = _document(await fetch(components_url), components_url, "components")
        summary = _document(await fetch(summary_url), summary_url, "incidents")
        return Reading(components_of(components, page, components_url), incidents_of(summary, page, summary_url))
