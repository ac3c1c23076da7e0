"""The monthly report (`healthboard report --month 2026-11`, and /report when the config has a reader DSN): per
provider/model/region availability (maintenance left out, outage-like failures only, as in the sink's views and on
the status page), p50/p95 latency, time to first token and output speed where stream checks ran, probe cost, and
the month's incidents with the detection lead against the official page (negative when the official post came
first; incidents the provider never posted, and official ones our probes never saw, listed as such).

It reads Postgres as the healthboard_reader role: the view llm_incidents, the table provider_status_events, and
llm_checks for the month's counts, latency value counts and stream percentiles (one scan each, side by side).
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import datetime as dt
import io
import json
import statistics
from collections.abc import Mapping
from typing import Any

import asyncpg
import jinja2

from healthboard.config.model import Price
from healthboard.pricing import DEFAULT_PRICES, cost_usd

#: An official incident matches ours when it started from this long before ours was detected until ours ended.
MATCH_BEFORE = 3600.0

# The month's counts per target and day, in one scan (a hash aggregate, which PostgreSQL runs in parallel): the
# per-target figures and the history dashboard's "Daily availability" (grafana/dashboards.py; tests/test_report.py
# compares them with its own query) are sums of these.
COUNTS_SQL = """
SELECT date_trunc('day', ts) AS day, provider, model, region,
       count(*) FILTER (WHERE scheduled AND NOT maintenance)                                   AS requests,
       count(*) FILTER (WHERE scheduled AND NOT maintenance AND NOT ok
                        AND error_type NOT IN ('auth', 'quota', 'not_found', 'bad_request', 'rate_limit')) AS outage_failures,
       count(*) FILTER (WHERE scheduled AND NOT maintenance
                        AND (ok OR error_type IN ('auth', 'quota', 'not_found', 'bad_request', 'rate_limit'))) AS available,
       count(*) FILTER (WHERE scheduled AND maintenance)                                       AS maintenance_probes,
       coalesce(sum(input_tokens), 0)                                                          AS input_tokens,
       coalesce(sum(output_tokens), 0)                                                         AS output_tokens
FROM llm_checks
WHERE ts >= $1 AND ts < $2
GROUP BY 1, 2, 3, 4
"""
# The month's latencies per target as value counts (latency_ms is an integer: a few thousand distinct values
# each), from which p50/p95 are computed exactly as percentile_cont does (percentile_cont below). A percentile_cont
# in SQL sorts every target's month of rows (1.7 M at 20 targets, past work_mem); counting is a parallel hash
# aggregate.
LATENCY_SQL = """
SELECT provider, model, region, latency_ms AS value, count(*) AS n
FROM llm_checks
WHERE ts >= $1 AND ts < $2 AND ok AND scheduled
GROUP BY 1, 2, 3, 4
"""
# Stream checks only: their rows are few, their percentiles sorted in SQL.
STREAM_SQL = """
SELECT provider, model, region,
       percentile_cont(0.50) WITHIN GROUP (ORDER BY ttft_ms)                                   AS ttft_p50_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY ttft_ms)                                   AS ttft_p95_ms,
       percentile_cont(0.50) WITHIN GROUP (ORDER BY tokens_per_s) FILTER (WHERE tokens_per_s IS NOT NULL) AS tokens_per_s_p50
FROM llm_checks
WHERE ts >= $1 AND ts < $2 AND check_name = 'stream' AND ttft_ms IS NOT NULL
GROUP BY provider, model, region
"""
INCIDENTS_SQL = """
SELECT incident_id, provider, model, severity, started_at, detected_at, ended_at, error_types::text AS error_types, regions
FROM llm_incidents WHERE started_at >= $1 AND started_at < $2 ORDER BY started_at
"""
OFFICIAL_SQL = """
SELECT DISTINCT ON (event_id) ts, provider, title, url
FROM provider_status_events WHERE kind = 'incident' AND status = 'open' AND ts >= $1::timestamptz - interval '1 hour' AND ts < $2
"""


async def connect(dsn: str) -> asyncpg.Pool:
    """A small pool for build(): its queries run side by side. The stream checks' percentiles still sort their
    rows in SQL: work_mem enough to sort them in memory, for this session only."""
    return await asyncpg.create_pool(dsn, min_size=1, max_size=3, timeout=15, server_settings={"work_mem": "32MB"})


def percentile_cont(counts: Mapping[int, int], q: float) -> float | None:
    """PostgreSQL's ``percentile_cont(q) WITHIN GROUP (ORDER BY value)`` from value → count (None: no values):
    the value at rank q·(n−1) of the sorted values, interpolated linearly between its two neighbours."""
    n = sum(counts.values())
    if not n:
        return None
    position = q * (n - 1)
    low_rank = int(position)
    fraction = position - low_rank
    low = high = None
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if low is None and seen > low_rank:
            low = value
        if seen > low_rank + 1 or (seen > low_rank and fraction == 0):
            high = value
            break
    if high is None:
        high = low
    assert low is not None
    return float(low) if fraction == 0 else low + (high - low) * fraction


def month_bounds(month: str) -> tuple[dt.datetime, dt.datetime]:
    """``2026-11`` → [2026-11-01, 2026-12-01) in UTC; ValueError with a hint otherwise."""
    try:
        start = dt.datetime.strptime(month, "%Y-%m").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        raise ValueError(f"{month!r} is not a month: write it as YYYY-MM, e.g. 2026-11") from None
    end = (start + dt.timedelta(days=32)).replace(day=1)
    return start, end


@dataclasses.dataclass
class Report:
    month: str
    targets: list[dict[str, Any]]
    daily: list[dict[str, Any]]
    incidents: list[dict[str, Any]]
    unmatched_official: list[dict[str, Any]]
    leads: dict[str, Any]
    cost_usd: float

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


async def build(db: asyncpg.Pool | asyncpg.Connection, month: str, prices: Mapping[str, Price] | None = None) -> Report:
    """The report for ``month``. Given a pool (``connect``), its queries run side by side, one connection each:
    each is one scan of the month's rows, and a server with several cores runs them in parallel."""
    start, end = month_bounds(month)
    prices = {**DEFAULT_PRICES, **(prices or {})}
    queries = (COUNTS_SQL, LATENCY_SQL, STREAM_SQL, OFFICIAL_SQL, INCIDENTS_SQL)
    if isinstance(db, asyncpg.Pool):
        count_rows, latency_rows, stream_rows, official_rows, incident_rows = await asyncio.gather(
            *(db.fetch(query, start, end) for query in queries))
    else:
        count_rows, latency_rows, stream_rows, official_rows, incident_rows = [await db.fetch(query, start, end) for query in queries]
    stream = {(r["provider"], r["model"], r["region"]): r for r in stream_rows}
    latencies: dict[tuple[str, str, str], dict[int, int]] = {}
    for row in latency_rows:
        latencies.setdefault((row["provider"], row["model"], row["region"]), {})[row["value"]] = row["n"]
    fields = ("requests", "outage_failures", "available", "maintenance_probes", "input_tokens", "output_tokens")
    totals: dict[tuple[str, str, str], list[int]] = {}
    days: dict[tuple[dt.datetime, str, str], list[int]] = {}
    for row in count_rows:
        total = totals.setdefault((row["provider"], row["model"], row["region"]), [0] * len(fields))
        day = days.setdefault((row["day"], row["provider"], row["model"]), [0, 0])
        for i, field in enumerate(fields):
            total[i] += row[field]
        day[0] += row["available"]
        day[1] += row["requests"]
    targets = []
    for key in sorted(totals):
        provider, model, region = key
        requests, outage_failures, _, maintenance_probes, input_tokens, output_tokens = totals[key]
        timing = stream.get(key, {})
        values = latencies.get(key, {})
        cost = cost_usd(prices.get(model), input_tokens, output_tokens)
        targets.append({
            "provider": provider, "model": model, "region": region, "requests": requests,
            "outage_failures": outage_failures, "maintenance_probes": maintenance_probes,
            "availability": (requests - outage_failures) / requests if requests else None,
            "p50_ms": percentile_cont(values, 0.50), "p95_ms": percentile_cont(values, 0.95), "ttft_p50_ms": timing.get("ttft_p50_ms"),
            "ttft_p95_ms": timing.get("ttft_p95_ms"), "tokens_per_s_p50": timing.get("tokens_per_s_p50"), "cost_usd": round(cost, 6),
        })
    daily = [{"day": day.date().isoformat(), "provider": provider, "model": model,
              "availability": available / requests if requests else None}
             for (day, provider, model), (available, requests) in sorted(days.items())]
    official = [dict(r) for r in official_rows]
    incidents, leads, used = [], [], set()
    for row in incident_rows:
        detected, ended = row["detected_at"], row["ended_at"]
        match = min((o for i, o in enumerate(official) if o["provider"] == row["provider"]
                     and detected - dt.timedelta(seconds=MATCH_BEFORE) <= o["ts"] <= (ended or end)),
                    key=lambda o: abs((o["ts"] - detected).total_seconds()), default=None)
        lead = (match["ts"] - detected).total_seconds() if match is not None else None
        if match is not None:
            used.add(id(match))
            leads.append(lead)
        incidents.append({
            "id": str(row["incident_id"]), "provider": row["provider"], "model": row["model"], "severity": row["severity"],
            "started": row["started_at"].isoformat(), "ended": ended.isoformat() if ended else None,
            "duration_s": ((ended or end) - row["started_at"]).total_seconds(), "ongoing": ended is None,
            "error_types": json.loads(row["error_types"] or "{}"), "regions": list(row["regions"] or []),
            "official_title": match["title"] if match else None, "official_url": match["url"] if match else None,
            "detection_lead_s": lead,
        })
    unmatched = [{"provider": o["provider"], "started": o["ts"].isoformat(), "title": o["title"], "url": o["url"]}
                 for o in official if id(o) not in used and o["ts"] >= start]
    summary: dict[str, Any] = {"matched": len(leads), "never_posted_officially": sum(1 for i in incidents if i["detection_lead_s"] is None),
                               "official_not_detected": len(unmatched), "we_first": sum(1 for x in leads if x > 0),
                               "official_first": sum(1 for x in leads if x < 0), "values_s": sorted(leads)}
    if leads:
        summary.update(min_s=min(leads), median_s=statistics.median(leads), max_s=max(leads))
    return Report(month, targets, daily, incidents, unmatched, summary, round(sum(t["cost_usd"] for t in targets), 6))


def to_csv(report: Report) -> str:
    """One row per provider/model/region (the month's figures), then one per incident."""
    out = io.StringIO()
    writer = csv.writer(out)
    columns = ["provider", "model", "region", "requests", "availability", "maintenance_probes", "p50_ms", "p95_ms",
               "ttft_p50_ms", "ttft_p95_ms", "tokens_per_s_p50", "cost_usd"]
    writer.writerow(["section", *columns])
    for target in report.targets:
        writer.writerow(["target", *(_cell(target[c]) for c in columns)])
    writer.writerow([])
    incident_columns = ["provider", "model", "severity", "started", "ended", "duration_s", "error_types", "official_title", "detection_lead_s"]
    writer.writerow(["section", *incident_columns])
    for incident in report.incidents:
        writer.writerow(["incident", *(_cell(incident[c]) for c in incident_columns)])
    return out.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in sorted(value.items()))
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else value


_ENV = jinja2.Environment(loader=jinja2.PackageLoader("healthboard", "templates"), autoescape=True,
                          trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)


def to_html(report: Report) -> str:
    return _ENV.get_template("report.html.j2").render(report=report)


def render(report: Report, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report.to_json(), indent=2, default=str) + "\n"
    if fmt == "csv":
        return to_csv(report)
    return to_html(report)
