"""Google Cloud Service Health: ``incidents.json`` (status.cloud.google.com), for the Vertex Gemini API.

The document is a JSON array of incidents, newest first; an incident is open while its ``end`` is absent,
null or empty. Products carry no status of their own, so a configured product (``components``: exact product
titles, case-insensitive, e.g. "Vertex Gemini API") is operational unless an open incident names it in
``affected_products``; then its level follows ``status_impact``: SERVICE_INFORMATION 1, SERVICE_DISRUPTION 2,
SERVICE_OUTAGE 3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import json

from pydantic import model_validator

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
)

if TYPE_CHECKING:
    from healthboard.config.model import StatusPageConfig

LEVELS = {"SERVICE_INFORMATION": DEGRADED, "SERVICE_DISRUPTION": PARTIAL, "SERVICE_OUTAGE": MAJOR}
IMPACTS = {"SERVICE_INFORMATION": "minor", "SERVICE_DISRUPTION": "major", "SERVICE_OUTAGE": "critical"}


class GoogleCloudOptions(Options):
    @model_validator(mode="after")
    def _products_named(self) -> "GoogleCloudOptions":
        if not getattr(self, "components", None):  # the page schema's own key
            raise ValueError("format google-cloud needs components: the product titles to watch, e.g. [Vertex Gemini API]")
        return self


class GoogleCloudAdapter:
    format = "google-cloud"
    options = GoogleCloudOptions

    async def read(self, page: StatusPageConfig, fetch: Fetch) -> Reading:
        url = page.url
        try:
            data = json.loads(await fetch(url))
        except (ValueError, UnicodeDecodeError):
            raise StatusPageError("parse", f"{url} is not JSON (has the page moved?)") from None
        require(isinstance(data, list), f"{url}: expected a JSON array of incidents")
        wanted = {name.lower(): name for name in page.components}
        levels = dict.fromkeys(wanted.values(), OPERATIONAL)
        words = dict.fromkeys(wanted.values(), "AVAILABLE")
        changed: dict[str, object] = {}
        incidents = []
        site = url.rsplit("/", 1)[0]
        for item in data:
            require(isinstance(item, dict) and isinstance(item.get("id"), str), f"{url}: an incident without an id")
            products = [p.get("title", "") for p in item.get("affected_products") or [] if isinstance(p, dict)]
            mine = [wanted[p.lower()] for p in products if p.lower() in wanted]
            if not mine:
                continue
            begin = parse_time(item.get("begin"))
            require(begin is not None, f"{url}: incident {item['id']} has no begin time")
            impact = item.get("status_impact")
            if impact not in LEVELS:
                raise StatusPageError("parse", f"{url}: incident {item['id']} has unknown status_impact {impact!r}")
            end = parse_time(item.get("end"))
            for product in mine:  # the newest change we know of (its time makes the event id stable)
                when = begin if end is None else end
                if product not in changed or when > changed[product]:  # type: ignore[operator]
                    changed[product] = when
            if end is not None:
                continue
            for product in mine:
                if LEVELS[impact] > levels[product]:
                    levels[product], words[product] = LEVELS[impact], impact
            update = item.get("most_recent_update") or {}
            incidents.append(Incident(
                id=item["id"], title=str(item.get("external_desc", "")), impact=IMPACTS[impact],
                status=str(update.get("status", "")) if isinstance(update, dict) else "", started_at=begin,  # type: ignore[arg-type]
                url=f"{site}/{item['uri']}" if isinstance(item.get("uri"), str) else site, components=tuple(mine),
            ))
        components = tuple(Component(name, levels[name], words[name], changed.get(name)) for name in wanted.values())  # type: ignore[arg-type]
        return Reading(components, tuple(incidents))
