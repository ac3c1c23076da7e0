"""RSS 2.0 / Atom incident feeds (status.x.ai and other pages with no JSON API), parsed with feedparser.

A feed lists incidents, not components, so it yields one component, ``all``. An entry is an open incident
when it was updated within ``feed_window`` (default 24 h) and its newest words (title, then summary) don't
say it is over (resolved, completed, postmortem). Its level comes from those words: "major outage",
"unavailable" or "down" 3; "partial outage" or any other outage 2; "degraded", "elevated", "slow",
"latency" or "maintenance" 1; an open incident in other words counts as 2. ``components`` patterns, when
given, keep only entries whose title matches one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import calendar
import datetime as dt
import re
import time

from pydantic import Field

from healthboard.durations import Duration
from healthboard.options import Options

from healthboard.status.base import DEGRADED, MAJOR, OPERATIONAL, PARTIAL, Component, Fetch, Incident, Reading, StatusPageError, wanted

if TYPE_CHECKING:
    import feedparser

    from healthboard.config.model import StatusPageConfig

OVER = re.compile(r"\b(resolved|completed|postmortem|post-mortem)\b", re.IGNORECASE)
WORDS = (
    (re.compile(r"\bmajor outage\b|\bunavailable\b|\bis down\b|\bfull outage\b", re.IGNORECASE), MAJOR, "critical"),
    (re.compile(r"\boutage\b", re.IGNORECASE), PARTIAL, "major"),
    (re.compile(r"\b(degraded|elevated|slow|latency|maintenance)\b", re.IGNORECASE), DEGRADED, "minor"),
)


def level_of(text: str) -> tuple[int, str]:
    for pattern, level, impact in WORDS:
        if pattern.search(text):
            return level, impact
    return PARTIAL, "major"


def _time(entry: feedparser.FeedParserDict, *keys: str) -> dt.datetime | None:
    for key in keys:
        parsed = dict.get(entry, f"{key}_parsed")  # plain lookup: feedparser's get() maps updated → published with a warning
        if parsed:
            return dt.datetime.fromtimestamp(calendar.timegm(parsed), tz=dt.timezone.utc)
    return None


class FeedOptions(Options):
    feed_window: Duration = Field(default=86400.0, description="entries older than this are never open incidents")


class FeedAdapter:
    format = "feed"
    options = FeedOptions

    def __init__(self, clock=time.time) -> None:  # type: ignore[no-untyped-def]
        self.clock = clock

    async def read(self, page: StatusPageConfig, fetch: Fetch) -> Reading:
        body = await fetch(page.url)
        import feedparser  # here: ~1 MB that only an exporter polling a feed-only status page needs

        parsed = feedparser.parse(body)
        if not parsed.get("version"):
            problem = parsed.get("bozo_exception")
            raise StatusPageError("parse", f"{page.url} is not an RSS or Atom feed{f' ({problem})' if problem else ''}")
        now = dt.datetime.fromtimestamp(self.clock(), tz=dt.timezone.utc)
        level, newest = OPERATIONAL, None
        incidents = []
        for entry in parsed.entries:
            title = str(entry.get("title", ""))
            if not wanted(page, title):
                continue
            updated = _time(entry, "updated", "published")
            if updated is None:
                raise StatusPageError("parse", f"{page.url}: entry {title!r} has no date")
            newest = updated if newest is None or updated > newest else newest
            text = f"{title}\n{entry.get('summary', '')}"
            # the newest words decide: a title that still says "outage" with a summary ending "resolved" is over
            if (now - updated).total_seconds() > page.feed_window or OVER.search(title) or OVER.search(_first_line(entry)):
                continue
            entry_level, impact = level_of(text)
            level = max(level, entry_level)
            started = _time(entry, "published", "updated") or updated
            incidents.append(Incident(
                id=str(entry.get("id") or entry.get("link") or title), title=title, impact=impact, status="open",
                started_at=started, url=str(entry.get("link", page.url)),
            ))
        word = {OPERATIONAL: "operational", DEGRADED: "degraded", PARTIAL: "partial_outage", MAJOR: "major_outage"}[level]
        return Reading((Component("all", level, word, newest),), tuple(incidents))


def _first_line(entry: feedparser.FeedParserDict) -> str:
    """The newest update of an entry: status pages put it first in the summary ("Resolved - This incident …")."""
    summary = re.sub(r"<[^>]+>", "\n", str(entry.get("summary", "")))
    for line in summary.splitlines():
        if line.strip():
            return line.strip()
    return ""
