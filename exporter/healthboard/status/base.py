"""What a status page says, whatever its format: component levels and open incidents.

Levels (the value of ``llm_provider_official_status``): 0 operational, 1 degraded performance (also
scheduled maintenance in progress), 2 partial outage, 3 major outage. A page that can't be fetched or read
yields a StatusPageError, never a reading: "unknown" must not look like "operational".
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Protocol, TYPE_CHECKING

if TYPE_CHECKING:
    from healthboard.config.model import StatusPageConfig


OPERATIONAL, DEGRADED, PARTIAL, MAJOR = 0, 1, 2, 3
LEVEL_NAMES = {OPERATIONAL: "operational", DEGRADED: "degraded_performance", PARTIAL: "partial_outage", MAJOR: "major_outage"}


class StatusPageError(Exception):
    """The page could not be used. ``reason`` is a metric label: unreachable, timeout, http_status, parse, no_component."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclasses.dataclass(frozen=True)
class Component:
    name: str
    level: int
    status: str  # the page's own word (operational, under_maintenance, SERVICE_OUTAGE, …)
    changed_at: dt.datetime | None  # when the page says this status began, if it says


@dataclasses.dataclass(frozen=True)
class Incident:
    id: str
    title: str
    impact: str  # none | minor | major | critical | maintenance (feeds and Google mapped onto these)
    status: str  # investigating | identified | monitoring | … as the page words it
    started_at: dt.datetime
    url: str
    components: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Reading:
    components: tuple[Component, ...]
    incidents: tuple[Incident, ...]


class Fetch(Protocol):
    async def __call__(self, url: str) -> bytes: ...


class Adapter(Protocol):
    """One page format: which documents to fetch and how to read them."""

    async def read(self, page: StatusPageConfig, fetch: Fetch) -> Reading: ...


def parse_time(value: object) -> dt.datetime | None:
    """ISO 8601 as the pages write it (2024-06-04T18:27:00.123Z, …+00:00, …-07:00); None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def wanted(page: StatusPageConfig, name: str) -> bool:
    """Whether a component (or product) of the page is one the config cares about (case-insensitive regex search)."""
    return not page.components or any(re.search(p, name, re.IGNORECASE) for p in page.components)


def require(condition: bool, message: str) -> None:
    if not condition:
        raise StatusPageError("parse", message)
