"""The people's pages: /status (server-rendered HTML, no JavaScript, no external assets) and /badge/*.svg.

What a row says is derived, in order, from: the probes' maintenance flag, the health book's state over its window
(misconfigured, unhealthy, degraded, recovering, healthy) and the history book's open incidents (major: a hard
run of failures; partial). Uptime bars and latency come from the history book's hourly figures, with
availability counted as everywhere else (healthboard/history.py). The templates are Jinja2 with autoescaping.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import time
from collections.abc import Iterable
from typing import Any

import jinja2
from markupsafe import Markup, escape

from healthboard.history import HOUR, HistoryBook, Hour, Incident, TargetHistory, quantile

STATES = {  # state → (rank for "worst of", label people read, short word for badges)
    "operational": (0, "Operational", "operational"),
    "unknown": (0, "No data yet", "unknown"),
    "maintenance": (1, "Maintenance", "maintenance"),
    "misconfigured": (1, "Probe misconfigured (ours)", "misconfigured"),
    "degraded": (2, "Degraded performance", "degraded"),
    "partial_outage": (3, "Partial outage", "partial outage"),
    "major_outage": (4, "Major outage", "major outage"),
}
#: The official page's words (status poller) on our scale, to mark where the two disagree.
OFFICIAL = {"operational": "operational", "degraded_performance": "degraded", "partial_outage": "partial_outage",
            "major_outage": "major_outage", "under_maintenance": "maintenance"}

_ENV = jinja2.Environment(loader=jinja2.PackageLoader("healthboard", "templates"), autoescape=True,
                          trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)


@dataclasses.dataclass
class Bar:
    label: str  # the hour or day, for people
    state: str  # ok | minor | major | maintenance | none
    text: str  # what the bar means, for screen readers and tooltips


@dataclasses.dataclass
class Row:
    name: str
    state: str
    reason: str
    availability_24h: float | None
    availability_long: float | None
    p50_s: float | None
    p95_s: float | None
    ttft_p50_s: float | None
    bars_24h: list[Bar]
    bars_long: list[Bar]
    official: str | None = None  # the official page's state for this provider, on our scale
    disagree: bool = False
    children: list["Row"] = dataclasses.field(default_factory=list)
    where: str = ""  # the regions and checks a model row covers (private view)

    @property
    def label(self) -> str:
        return STATES[self.state][1]


def target_state(health: dict[str, Any], maintenance: bool, incident: Incident | None) -> tuple[str, str]:
    """(state, reason) of one target."""
    status, reason = health["status"], health["reason"]
    if maintenance:
        return "maintenance", "in a configured maintenance window"
    if status == "paused":
        return "unknown", "probes paused"
    if status == "misconfigured":
        return "misconfigured", reason
    if incident is not None and incident.ended is None:
        return ("major_outage" if incident.severity == "major" else "partial_outage"), reason
    if status == "unhealthy":
        return "partial_outage", reason
    if status == "degraded":
        return "degraded", reason
    if status == "recovering":  # no open incident: the failures in the health window are history
        return "operational", reason
    if status == "unknown":
        return "unknown", reason
    return "operational", reason


def combined(states: list[str]) -> str:
    """A provider's (or model's) state from its parts': a major outage only when every part has one."""
    if not states:
        return "unknown"
    if all(s == "major_outage" for s in states):
        return "major_outage"
    if any(s in ("major_outage", "partial_outage") for s in states):
        return "partial_outage"
    if any(s == "degraded" for s in states):
        return "degraded"
    for shared in ("maintenance", "unknown"):
        if all(s == shared for s in states):
            return shared
    if any(s == "misconfigured" for s in states):
        return "misconfigured"
    return "operational"


def merged(hours: Iterable[Hour]) -> Hour:
    total = Hour()
    hours = list(hours)
    for hour in hours:
        total.requests += hour.requests
        total.failures += hour.failures
        total.maintenance += hour.maintenance
        total.misconfigured += hour.misconfigured
    if hours:
        total.latency = [sum(column) for column in zip(*(h.latency for h in hours))]
        ttfts = [h.ttft for h in hours if h.ttft is not None]
        total.ttft = [sum(column) for column in zip(*ttfts)] if ttfts else None
    return total


def availability(hour: Hour) -> float | None:
    return (hour.requests - hour.failures) / hour.requests if hour.requests else None


def bar(label: str, requests: int, failures: int, maintenance: int) -> Bar:
    if not requests:
        if maintenance:
            return Bar(label, "maintenance", f"{label}: maintenance")
        return Bar(label, "none", f"{label}: no data")
    value = (requests - failures) / requests
    state = "ok" if value >= 0.99 else "minor" if value >= 0.90 else "major"
    extra = ", part in maintenance" if maintenance else ""
    return Bar(label, state, f"{label}: {value:.2%} available ({requests - failures} of {requests} probes ok{extra})")


@dataclasses.dataclass(slots=True)
class Window:
    """One target's history over the page's windows, read once per render and summed upwards (region → model →
    provider): its last 24 hours (None: no probe that hour) and its days, oldest first, as (requests, failures,
    maintenance probes)."""

    hours: list[Hour | None]
    days: list[tuple[int, int, int]]
    last_day: Hour  # the 24 hours together


_NO_DAY = (0, 0, 0)


def window(entry: TargetHistory, now: float, days: int) -> Window:
    current, today = int(now // HOUR), int(now // 86400)
    last_24 = [entry.hours.get(i) for i in range(current - 23, current + 1)]
    return Window(last_24, entry.days_until(today - days + 1, today), merged(h for h in last_24 if h is not None))


def figures(windows: list[Window], now: float, days: int, long: bool = True) -> dict[str, Any]:
    """Bars and figures over the last 24 hours and ``days`` days of some targets' history, together (``long``:
    the day bars too; model rows show the 24 hours only)."""
    current, today = int(now // HOUR), int(now // 86400)
    last_day = windows[0].last_day if len(windows) == 1 else merged(w.last_day for w in windows)
    bars_24h = []
    for offset, i in enumerate(range(current - 23, current + 1)):
        hours = [h for w in windows if (h := w.hours[offset]) is not None]
        bars_24h.append(bar(_HOUR_LABELS[i % 24], sum(h.requests for h in hours), sum(h.failures for h in hours),
                            sum(h.maintenance for h in hours)))
    # day by day, each day's (requests, failures, maintenance) summed over the targets in C (zip and sum)
    per_day = ([tuple(map(sum, zip(*targets))) for targets in zip(*(w.days for w in windows))] if windows
               else [_NO_DAY] * days)
    total_requests, total_failures, _ = map(sum, zip(*per_day)) if per_day else _NO_DAY
    bars_long = ([bar(_day_label(day), *figures_of_day) for day, figures_of_day in zip(range(today - days + 1, today + 1), per_day)]
                 if long else [bar(_day_label(today), *per_day[-1])])
    return {"availability_24h": availability(last_day),
            "availability_long": (total_requests - total_failures) / total_requests if total_requests else None,
            "p50_s": quantile(last_day.latency, 0.50), "p95_s": quantile(last_day.latency, 0.95),
            "ttft_p50_s": quantile(last_day.ttft, 0.50), "bars_24h": bars_24h, "bars_long": bars_long}


_HOUR_LABELS = [f"{h:02d}:00 UTC" for h in range(24)]


@functools.lru_cache(maxsize=512)
def _day_label(day: int) -> str:
    return dt.datetime.fromtimestamp(day * 86400, dt.timezone.utc).strftime("%Y-%m-%d")


def build_rows(health_rows: list[dict[str, Any]], history: HistoryBook, official: dict[str, str], days: int,
               now: float | None = None) -> list[Row]:
    """One row per provider, with one child per model (and, within it, per region and check in the private view)."""
    now = time.time() if now is None else now
    open_by_model = {(i.provider, i.model): i for i in history.open.values()}
    providers: dict[str, dict[str, list[tuple[dict[str, Any], str, str]]]] = {}
    for health in health_rows:
        entry = history.targets.get(health["id"])
        state, reason = target_state(health, entry.maintenance if entry else False,
                                     open_by_model.get((health["provider"], health["model"])))
        providers.setdefault(health["provider"], {}).setdefault(health["model"], []).append((health, state, reason))
    windows = {h["id"]: window(history.targets[h["id"]], now, days) for h in health_rows if h["id"] in history.targets}
    rows = []
    for provider, models in providers.items():
        children = []
        for model, targets in models.items():
            entries = [windows[h["id"]] for h, _, _ in targets if h["id"] in windows]
            parts = ([Row(f"{h['region']} · {h['check']}", s, r, **figures([windows[h["id"]]], now, days, long=False))
                      for h, s, r in targets if h["id"] in windows] if len(targets) > 1 else [])
            state = combined([s for _, s, _ in targets])
            reason = next((r for _, s, r in targets if s == state), targets[0][2])
            children.append(Row(model, state, reason, **figures(entries, now, days, long=False), children=parts,
                                where=", ".join(f"{h['region']} · {h['check']}" for h, _, _ in targets)))
        all_entries = [windows[h["id"]] for m in models.values() for h, _, _ in m if h["id"] in windows]
        state = combined([c.state for c in children])
        word = official.get(provider)
        ours = OFFICIAL.get(word) if word else None
        disagree = ours is not None and _differs(state, ours)
        rows.append(Row(provider, state, next((c.reason for c in children if c.state == state), ""),
                        **figures(all_entries, now, days), official=ours, disagree=disagree, children=children))
    return rows


def _differs(ours: str, theirs: str) -> bool:
    """Whether the two say different things that matter: down against up (either way), or maintenance against not."""
    down = {"partial_outage", "major_outage"}
    if ours in ("unknown", "misconfigured"):
        return False
    return (ours in down) != (theirs in down) or ((ours == "maintenance") != (theirs == "maintenance") and ours in down | {"maintenance"})


def incident_rows(history: HistoryBook, public: bool, limit: int = 50) -> list[dict[str, Any]]:
    out = []
    for incident in history.incidents()[:limit]:
        official = history.matching(incident)
        lead = official.started - incident.detected if official is not None else None
        out.append({
            "id": str(incident.id), "provider": incident.provider, "model": incident.model, "severity": incident.severity,
            "started": _when(incident.started), "ended": _when(incident.ended) if incident.ended else None,
            "duration": _duration(incident.duration), "error_types": sorted(incident.error_types),
            "regions": [] if public else sorted(incident.regions),
            "official_title": official.title if official else None, "official_url": official.url if official else None,
            "lead": _lead(lead) if lead is not None else None,
        })
    return out


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def _lead(seconds: float) -> str:
    if seconds >= 0:
        return f"we saw it {_duration(seconds)} before the official post"
    return f"the official post came {_duration(-seconds)} before we saw it"


def bars_html(items: list[Bar], caption: str) -> Markup:
    """A row of uptime bars: an ordered list, each bar's meaning in words for screen readers and as a tooltip.
    Built here rather than in the template: a page holds thousands of them."""
    cells = "".join(f'<li class="bar {b.state}" title="{text}"><span class="vh">{text}</span></li>'
                    for b in items for text in (escape(b.text),))
    return Markup(f'<ol class="bars" aria-label="{escape(caption)}" style="grid-template-columns: repeat({len(items)}, 1fr)">{cells}</ol>')


_ENV.globals["bars_html"] = bars_html


def render_status(*, title: str, rows: list[Row], incidents: list[dict[str, Any]], public: bool, show_models: bool,
                  refresh: float, history_note: str, days: int, maintenance: list[dict[str, Any]], now: float | None = None,
                  root: str = "") -> str:
    """``root``: the relative path from the page to the exporter's root ("" for /status, "../" for
    /status/internal): every link is relative, so the page works under a reverse proxy's sub-path."""
    now = time.time() if now is None else now
    overall = combined([r.state for r in rows]) if rows else "unknown"
    return _ENV.get_template("status.html.j2").render(
        title=title, rows=rows, incidents=incidents, public=public, show_models=show_models, refresh=int(refresh), history_note=history_note,
        days=days, overall=overall, overall_label=STATES[overall][1], maintenance=maintenance,
        updated=_when(now).replace(" UTC", ":%02d UTC" % (int(now) % 60)), states=STATES, root=root,
    )


# -- badges ----------------------------------------------------------------------------------------

_BADGE_COLOURS = {"operational": "#2e7d32", "degraded": "#b26a00", "partial_outage": "#c62828", "major_outage": "#b71c1c",
                  "maintenance": "#1565c0", "misconfigured": "#6d4c41", "unknown": "#616161"}


def _text_width(text: str) -> int:
    """Verdana 11 px, roughly (shields.io measures; this estimates: 7 px a character, narrow ones less)."""
    narrow = sum(text.count(c) for c in "iIl.,:;!|' ")
    return 7 * (len(text) - narrow) + 3 * narrow + 10


def badge_svg(label: str, message: str, state: str) -> str:
    left, right = _text_width(label), _text_width(message)
    return _ENV.get_template("badge.svg.j2").render(
        label=label, message=message, left=left, right=right, width=left + right, colour=_BADGE_COLOURS[state])
