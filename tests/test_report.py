"""The monthly report (`healthboard report`, /report) against a real PostgreSQL filled with known checks: its
figures are the history dashboard's (the same SQL on the same data), maintenance is left out, incidents carry their
detection lead (negative too), and nothing it prints leaks the DSN."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from healthboard.report import month_bounds, percentile_cont

from conftest import config_text
from helpers import Database, exporter_for, run

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).parents[1]
MONTH = "2026-10"

# 4 targets, every 10 minutes for 3 days from 2026-10-05: failures every 37th check (5xx), every 41st an auth error
# (ours: not availability), stream checks with a TTFT, and a 2-hour maintenance window on anthropic whose checks fail.
FILL = """
INSERT INTO llm_checks (id, ts, provider, model, region, check_name, instance, ok, http_status, error_type, latency_ms,
                        input_tokens, output_tokens, scheduled, ttft_ms, tokens_per_s, maintenance)
SELECT gen_random_uuid(), t, p.provider, p.model, 'seoul', p.check_name, 'test',
       NOT (fail OR auth OR maint), CASE WHEN fail OR maint THEN 500 WHEN auth THEN 401 ELSE 200 END,
       CASE WHEN fail OR maint THEN '5xx' WHEN auth THEN 'auth' END,
       200 + (i % 50) * 10, 8, 1, true,
       CASE WHEN p.check_name = 'stream' THEN 150 + i % 30 END, CASE WHEN p.check_name = 'stream' THEN 40 + i % 5 END, maint
FROM (VALUES ('openai', 'gpt-4o-mini', 'chat'), ('openai', 'gpt-4.1-nano', 'stream'),
             ('anthropic', 'claude-3-haiku-20240307', 'chat'), ('google', 'gemini-2.0-flash', 'chat')) AS p(provider, model, check_name),
     LATERAL (SELECT i, timestamptz '2026-10-05 00:00+00' + i * interval '10 minutes' AS t,
                     i % 37 = 0 AS fail, i % 41 = 0 AND i % 37 <> 0 AS auth,
                     p.provider = 'anthropic' AND i BETWEEN 100 AND 111 AS maint
              FROM generate_series(0, 431) AS i) AS s;
INSERT INTO llm_incident_events (event_id, incident_id, ts, provider, model, change, severity, started_at, detected_at, ended_at, error_types, regions, instance)
VALUES (gen_random_uuid(), '11111111-1111-1111-1111-111111111111', '2026-10-06 10:00+00', 'openai', 'gpt-4o-mini', 'opened', 'major',
        '2026-10-06 09:59+00', '2026-10-06 10:00+00', NULL, '{"5xx": 12}', '{seoul}', 'test'),
       (gen_random_uuid(), '11111111-1111-1111-1111-111111111111', '2026-10-06 10:30+00', 'openai', 'gpt-4o-mini', 'resolved', 'major',
        '2026-10-06 09:59+00', '2026-10-06 10:00+00', '2026-10-06 10:30+00', '{"5xx": 40}', '{seoul}', 'test'),
       (gen_random_uuid(), '22222222-2222-2222-2222-222222222222', '2026-10-07 03:00+00', 'google', 'gemini-2.0-flash', 'opened', 'partial',
        '2026-10-07 02:55+00', '2026-10-07 03:00+00', '2026-10-07 03:20+00', '{"timeout": 5}', '{seoul}', 'test');
INSERT INTO provider_status_events (event_id, ts, provider, kind, component, status, title, url)
VALUES (gen_random_uuid(), '2026-10-06 10:12+00', 'openai', 'incident', 'API', 'open', 'Elevated error rates', 'https://status.openai.com/x'),
       (gen_random_uuid(), '2026-10-08 12:00+00', 'anthropic', 'incident', 'API', 'open', 'Claude degraded', 'https://status.anthropic.com/y');
"""


async def filled(db: Database) -> None:
    conn = await db.admin()
    try:
        await conn.execute(FILL)
    finally:
        await conn.close()


def dashboard_sql(title: str) -> str:
    board = json.loads((ROOT / "grafana/provisioning/dashboards/json/llm-history.json").read_text())
    panels = [p for p in board["panels"] if p.get("title") == title]
    assert panels, f"no panel {title!r} in the history dashboard"
    start, end = month_bounds(MONTH)
    query = panels[0]["targets"][0]["rawSql"]
    query = re.sub(r"\$__timeFilter\((\w+)\)", rf"\1 >= '{start.isoformat()}' AND \1 < '{end.isoformat()}'", query)
    return query.replace("$provider", "'openai', 'anthropic', 'google'").replace(
        "$model", "'gpt-4o-mini', 'gpt-4.1-nano', 'claude-3-haiku-20240307', 'gemini-2.0-flash'")


async def test_report_figures_equal_the_history_dashboards(db: Database, tmp_path: Path) -> None:
    await filled(db)
    reader = db.dsn("healthboard_reader")
    code, out, err = await run("report", "--month", MONTH, "--format", "json", env={"HEALTHBOARD_READER_DSN": reader})
    assert code == 0, err
    report = json.loads(out)
    # daily availability, provider/model: the dashboard's own panel query on the same data
    rows = await db.fetch(dashboard_sql("Daily availability"))
    expected = {(r["time"].date().isoformat(), r["metric"]): r["availability"] for r in rows}
    got = {(d["day"], f"{d['provider']}/{d['model']}"): d["availability"] for d in report["daily"]}
    assert got.keys() == expected.keys() and len(got) == 12
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key
    # the month's figures per target, from the definitions (count by hand from the fill's rules)
    targets = {t["model"]: t for t in report["targets"]}
    n = 432
    fails = sum(1 for i in range(n) if i % 37 == 0)
    assert targets["gpt-4o-mini"]["requests"] == n and targets["gpt-4o-mini"]["availability"] == pytest.approx((n - fails) / n)
    maint = 12
    anthropic = targets["claude-3-haiku-20240307"]
    assert anthropic["maintenance_probes"] == maint and anthropic["requests"] == n - maint
    assert anthropic["availability"] == pytest.approx((n - maint - sum(1 for i in range(n) if i % 37 == 0 and not 100 <= i <= 111)) / (n - maint))
    assert targets["gpt-4.1-nano"]["ttft_p50_ms"] is not None and targets["gpt-4o-mini"]["ttft_p50_ms"] is None
    # latency percentiles: the report counts values and interpolates; PostgreSQL's own percentile_cont must agree
    rows = await db.fetch("SELECT model, percentile_cont(0.50) WITHIN GROUP (ORDER BY latency_ms) AS p50,"
                          " percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95"
                          " FROM llm_checks WHERE ok AND scheduled GROUP BY model")
    assert len(rows) == 4
    for row in rows:
        assert (targets[row["model"]]["p50_ms"], targets[row["model"]]["p95_ms"]) == pytest.approx((row["p50"], row["p95"]), abs=1e-9)
    assert report["cost_usd"] > 0
    # incidents: the lead (official post minus our detection), one never posted, one official we didn't see
    incidents = {i["model"]: i for i in report["incidents"]}
    assert incidents["gpt-4o-mini"]["detection_lead_s"] == 720 and incidents["gpt-4o-mini"]["ended"] is not None
    assert incidents["gpt-4o-mini"]["error_types"] == {"5xx": 40} and incidents["gpt-4o-mini"]["duration_s"] == 31 * 60
    assert incidents["gemini-2.0-flash"]["detection_lead_s"] is None
    assert report["leads"]["never_posted_officially"] == 1 and report["leads"]["official_not_detected"] == 1
    assert [o["title"] for o in report["unmatched_official"]] == ["Claude degraded"]
    assert reader.split("@")[0].split(":")[-1] not in out + err  # the password never printed
    # the other formats
    code, csv_text, _ = await run("report", "--month", MONTH, "--format", "csv", env={"HEALTHBOARD_READER_DSN": reader})
    assert code == 0 and csv_text.splitlines()[0].startswith("section,provider,model,region,requests,availability")
    code, html, _ = await run("report", "--month", MONTH, env={"HEALTHBOARD_READER_DSN": reader})
    assert code == 0 and "Elevated error rates" in html and "+720 s" in html and "not posted officially" in html


async def test_report_served_at_slash_report_and_clear_errors(db: Database) -> None:
    await filled(db)
    code, _, err = await run("report", "--month", "2026-13")
    assert code == 2 and "write it as YYYY-MM" in err
    code, _, err = await run("report", "--month", MONTH, env={"HEALTHBOARD_READER_DSN": ""})
    assert code == 2 and "healthboard_reader" in err
    import aiohttp

    text = config_text("http://127.0.0.1:9") + f"status_page:\n  history_dsn: '{db.dsn('healthboard_reader')}'\n"
    async with exporter_for(text) as (_, url):
        async with aiohttp.ClientSession() as session:
            async with session.get(url + f"/report?month={MONTH}&format=json") as response:
                assert response.status == 200
                body = await response.json()
            assert len(body["daily"]) == 12
            async with session.get(url + "/report?month=nope") as response:
                assert response.status == 400
    async with exporter_for(config_text("http://127.0.0.1:9")) as (_, url):
        async with aiohttp.ClientSession() as session, session.get(url + "/report") as response:
            assert response.status == 404 and "history_dsn" in (await response.json())["error"]


async def test_percentile_from_value_counts_is_postgres_percentile_cont(db: Database) -> None:
    """report.percentile_cont on value counts against PostgreSQL's percentile_cont on the rows: ties, a single
    value, two values, fractions that fall between equal and between different neighbours."""
    import random

    rng = random.Random(7)
    samples = [[5], [3, 9], [1, 1, 1, 2], [7] * 10 + [8]] + [[rng.choice((100, 200, 250, 3000)) for _ in range(rng.randint(1, 60))]
                                                            for _ in range(30)] + [[rng.randint(0, 40) for _ in range(500)]]
    for values in samples:
        counts: dict[int, int] = {}
        for value in values:
            counts[value] = counts.get(value, 0) + 1
        for q in (0.0, 0.25, 0.5, 0.95, 0.99, 1.0):
            expected = (await db.fetch("SELECT percentile_cont($1::float8) WITHIN GROUP (ORDER BY v) AS p FROM unnest($2::int[]) AS v",
                                       q, values))[0]["p"]
            assert percentile_cont(counts, q) == pytest.approx(expected, abs=1e-9), (values, q)
    assert percentile_cont({}, 0.5) is None


def test_month_bounds() -> None:
    assert month_bounds("2026-12") == (dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc), dt.datetime(2027, 1, 1, tzinfo=dt.timezone.utc))


async def test_status_page_reads_90_days_and_incidents_from_the_sink(db: Database) -> None:
    """With status_page.history_dsn the page shows the sink's settled days (not just what memory saw since the
    start) and the incidents stored there; the page says where its history comes from."""
    import asyncio

    import aiohttp

    await filled(db)
    text = (f"region: seoul\ninterval: 5s\ntimeout: 1s\nstatus_page:\n  history_dsn: '{db.dsn('healthboard_reader')}'\n"
            "providers:\n  - name: openai\n    kind: openai\n    base_url: http://127.0.0.1:9/v1\n    api_key: sk-archive-0123456789\n"
            "    models: [gpt-4o-mini]\n")
    async with exporter_for(text) as (exporter, url):
        for _ in range(100):
            if exporter.archive.loaded_until is not None:
                break
            await asyncio.sleep(0.1)
        async with aiohttp.ClientSession() as session, session.get(url + "/status") as response:
            page = await response.text()
    fails = sum(1 for i in range(144) if i % 37 == 0)
    assert f"2026-10-05: {(144 - fails) / 144:.2%} available ({144 - fails} of 144 probes ok)" in page
    assert "Last 90 days" in page and "90 days from the Postgres sink" in page
    assert "openai/gpt-4o-mini</b>: major outage" in page and "2026-10-06 09:59 UTC" in page
    assert "google" not in page, "only this exporter's targets are shown"
