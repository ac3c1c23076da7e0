"""Generates the dashboards in provisioning/dashboards/json/ (committed; tests check they match this file).

    python grafana/dashboards.py          # rewrite the JSON
    python grafana/dashboards.py --check  # exit 1 if the JSON is stale

Every dashboard reaches its datasource through a datasource variable (defaulting to the provisioned uid),
so the same JSON imports into Grafana Cloud unchanged. Rates use $__rate_interval; every panel sets a unit.
tests/test_dashboards.py runs every query against a live Prometheus and Postgres after a simulated run.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

OUT = Path(__file__).parent / "provisioning" / "dashboards" / "json"
DETECTOR = Path(__file__).parents[1] / "prometheus" / "rules" / "detector.yml"


def _detector_parameters() -> tuple[float, float]:
    """The thresholds the panels colour by, read from the rules (their one source): S1's failure ratio (the partial
    test's p1) and S2's latency bound (the histogram bucket the latency test counts above)."""
    text = DETECTOR.read_text(encoding="utf-8")
    rules = {r.get("record"): r["expr"] for g in yaml.safe_load(text)["groups"] for r in g["rules"] if "record" in r}
    s1_ratio = float(re.search(r"vector\(([0-9.]+)\)", rules["llm_detector:partial_p1:ratio"]).group(1))  # type: ignore[union-attr]
    s2_seconds = float(re.search(r'llm_probe_duration_seconds_bucket\{le="([0-9.]+)"\}', rules["target:llm_latency_llr:slow"]).group(1))  # type: ignore[union-attr]
    return s1_ratio, s2_seconds


S1_RATIO, S2_SECONDS = _detector_parameters()
PROM = {"type": "prometheus", "uid": "${datasource}"}
PG = {"type": "grafana-postgresql-datasource", "uid": "${pg}"}
SEL = 'provider=~"$provider",model=~"$model",region=~"$region"'
PSEL = 'provider=~"$provider"'
STATUS_MAPPINGS = [{"type": "value", "options": {
    "0": {"text": "Operational", "color": "green", "index": 0},
    "1": {"text": "Degraded / maintenance", "color": "yellow", "index": 1},
    "2": {"text": "Partial outage", "color": "orange", "index": 2},
    "3": {"text": "Major outage", "color": "red", "index": 3},
}}, {"type": "special", "options": {"match": "null", "result": {"text": "Unknown (page unreadable)", "color": "text", "index": 4}}}]


def thresholds(*steps: tuple[float | None, str]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"value": v, "color": c} for v, c in steps]}


class Board:
    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self.y = 0
        self.x = 0
        self.row_height = 0

    def row(self, title: str) -> None:
        self._newline()
        self.panels.append({"type": "row", "title": title, "collapsed": False, "panels": [],
                            "gridPos": {"x": 0, "y": self.y, "w": 24, "h": 1}, "id": len(self.panels) + 1})
        self.y += 1

    def _newline(self) -> None:
        self.y += self.row_height
        self.x, self.row_height = 0, 0

    def add(self, kind: str, title: str, targets: list[dict[str, Any]], *, unit: str, w: int = 6, h: int = 6,
            description: str = "", datasource: dict[str, str] = PROM, defaults: dict[str, Any] | None = None,
            options: dict[str, Any] | None = None, **extra: Any) -> None:
        if self.x + w > 24:
            self._newline()
        refs = "ABCDEFGH"
        for i, target in enumerate(targets):
            target.setdefault("refId", refs[i])
            target.setdefault("datasource", datasource)
        panel = {
            "id": len(self.panels) + 1, "type": kind, "title": title, "description": description, "datasource": datasource,
            "gridPos": {"x": self.x, "y": self.y, "w": w, "h": h}, "targets": targets,
            "fieldConfig": {"defaults": {"unit": unit, **(defaults or {})}, "overrides": []}, "options": options or {}, **extra,
        }
        self.panels.append(panel)
        self.x += w
        self.row_height = max(self.row_height, h)


def prom(expr: str, legend: str = "", instant: bool = False, fmt: str = "time_series") -> dict[str, Any]:
    return {"expr": expr, "legendFormat": legend, "instant": instant, "range": not instant, "format": fmt}


def sql(query: str, fmt: str = "table") -> dict[str, Any]:
    return {"rawSql": query, "format": fmt, "rawQuery": True, "editorMode": "code"}


def datasource_var(name: str, plugin: str, uid: str, label: str) -> dict[str, Any]:
    return {"name": name, "label": label, "type": "datasource", "query": plugin, "current": {"text": uid, "value": uid},
            "hide": 0, "refresh": 1, "regex": "", "options": []}


def query_var(name: str, query: str, datasource: dict[str, str], all_value: str | None = ".*") -> dict[str, Any]:
    var = {"name": name, "label": name.capitalize(), "type": "query", "datasource": datasource, "refresh": 2, "sort": 1,
           "multi": True, "includeAll": True, "current": {"text": "All", "value": "$__all"}, "options": [], "hide": 0}
    var["query"] = {"query": query, "refId": f"{name}-var"} if datasource is PROM else query
    var["definition"] = query
    if all_value is not None:
        var["allValue"] = all_value
    return var


def dashboard(uid: str, title: str, board: Board, variables: list[dict[str, Any]], *, time_from: str = "now-24h",
              annotations: list[dict[str, Any]] | None = None, links: list[dict[str, Any]] | None = None, description: str = "") -> dict[str, Any]:
    return {
        "uid": uid, "title": title, "description": description, "tags": ["llm-healthboard"], "timezone": "browser",
        "schemaVersion": 39, "version": 1, "editable": False, "graphTooltip": 1, "refresh": "1m",
        "time": {"from": time_from, "to": "now"}, "templating": {"list": variables},
        "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True, "hide": True,
                                  "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard"},
                                 *(annotations or [])]},
        "links": links or [], "panels": board.panels,
    }


LINKS = [{"title": "LLM dashboards", "type": "dashboards", "tags": ["llm-healthboard"], "asDropdown": True, "includeVars": False,
          "keepTime": True}]


def health() -> dict[str, Any]:
    b = Board()
    b.row("Now (last 15 minutes), per provider")
    b.add("stat", "Error rate (15m)", [prom(
        f'sum by (provider) (increase(llm_probe_failures_total{{{SEL}}}[15m])) / sum by (provider) (increase(llm_probe_requests_total{{{SEL}}}[15m]))',
        "{{provider}}", instant=True)], unit="percentunit",
        description="Failed share of scheduled probes over 15 minutes (re-checks excluded), every error type.",
        defaults={"decimals": 1, "thresholds": thresholds((None, "green"), (0.05, "yellow"), (S1_RATIO, "red")), "color": {"mode": "thresholds"}})
    b.add("stat", "p95 latency (15m)", [prom(
        f'histogram_quantile(0.95, sum by (provider, le) (rate(llm_probe_duration_seconds_bucket{{{SEL}}}[15m])))', "{{provider}}", instant=True)],
        unit="s", defaults={"decimals": 2, "thresholds": thresholds((None, "green"), (3, "yellow"), (S2_SECONDS, "red")), "color": {"mode": "thresholds"}})
    b.add("stat", "Official status", [prom(f"max by (provider) (llm_provider_official_status{{{PSEL}}})", "{{provider}}", instant=True)],
          unit="none", description="Worst watched component on the provider's status page. Unknown while the page can't be read.",
          defaults={"mappings": STATUS_MAPPINGS, "color": {"mode": "thresholds"},
                    "thresholds": thresholds((None, "green"), (1, "yellow"), (2, "orange"), (3, "red"))})
    b.add("stat", "Status page agrees with our probes?", [prom(
        f"(max by (provider) (llm_provider_official_status{{{PSEL}}}) == bool 0) * on (provider) (provider:llm_probe_failure_ratio:ratio_rate5m{{{PSEL}}} > bool 0.10)",
        "{{provider}}", instant=True)], unit="none",
        description="Mismatch (S3): the page says operational while over 10 % of our probes fail over 5 minutes.",
        defaults={"mappings": [{"type": "value", "options": {"0": {"text": "Agrees", "color": "green", "index": 0},
                                                             "1": {"text": "MISMATCH", "color": "red", "index": 1}}}],
                  "color": {"mode": "thresholds"}, "thresholds": thresholds((None, "green"), (1, "red"))})
    b.add("stat", "Detection lead on the latest official incident", [prom(f"llm_provider_detection_lead_seconds{{{PSEL}}}", "{{provider}}", instant=True)],
          unit="s", w=8, description="Official incident start minus the time our probes alerted: positive = we knew first.",
          defaults={"color": {"mode": "thresholds"}, "thresholds": thresholds((None, "orange"), (0, "green"))})
    b.add("table", "Open official incidents", [prom(f"llm_provider_official_incident_info{{{PSEL}}}", instant=True, fmt="table")],
          unit="none", w=16, options={"showHeader": True},
          transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True, "__name__": True, "job": True, "instance": True}}}])

    b.row("Trends")
    b.add("timeseries", "Latency p50 / p95 / p99 (24 h)", [
        prom(f'histogram_quantile({q}, sum by (provider, le) (rate(llm_probe_duration_seconds_bucket{{{SEL}}}[$__rate_interval])))', f"{{{{provider}}}} {name}")
        for q, name in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99"))], unit="s", w=12, h=8, timeFrom="24h")
    b.add("timeseries", "Error rate (24 h)", [prom(
        f'sum by (provider) (rate(llm_probe_failures_total{{{SEL}}}[$__rate_interval])) / sum by (provider) (rate(llm_probe_requests_total{{{SEL}}}[$__rate_interval]))',
        "{{provider}}")], unit="percentunit", w=12, h=8, timeFrom="24h")
    b.add("timeseries", "p95 latency (7 d)", [prom(
        f'histogram_quantile(0.95, sum by (provider, le) (rate(llm_probe_duration_seconds_bucket{{{SEL}}}[$__rate_interval])))', "{{provider}}")],
        unit="s", w=12, h=8, timeFrom="7d")
    b.add("timeseries", "Error rate (7 d)", [prom(
        f'sum by (provider) (rate(llm_probe_failures_total{{{SEL}}}[$__rate_interval])) / sum by (provider) (rate(llm_probe_requests_total{{{SEL}}}[$__rate_interval]))',
        "{{provider}}")], unit="percentunit", w=12, h=8, timeFrom="7d")

    b.row("Where and why")
    b.add("table", "Error rate by provider × model (1 h)", [prom(
        f'sum by (provider, model) (increase(llm_probe_failures_total{{{SEL}}}[1h])) / sum by (provider, model) (increase(llm_probe_requests_total{{{SEL}}}[1h]))',
        instant=True, fmt="table")], unit="percentunit", w=12, h=8,
        defaults={"custom": {"cellOptions": {"type": "color-background"}}, "color": {"mode": "thresholds"},
                  "thresholds": thresholds((None, "green"), (0.05, "yellow"), (S1_RATIO, "red"))},
        transformations=[{"id": "groupingToMatrix", "options": {"columnField": "model", "rowField": "provider", "valueField": "Value"}}])
    b.add("piechart", "Failures by error type (time range)", [prom(
        f'sum by (error_type) (increase(llm_probe_failures_total{{{SEL}}}[$__range])) > 0', "{{error_type}}", instant=True)],
        unit="short", w=12, h=8, description="auth, quota, not_found and bad_request are our side (misconfiguration); the rest is the provider or the network.",
        options={"reduceOptions": {"calcs": ["lastNotNull"], "values": False}, "legend": {"displayMode": "table", "placement": "right", "values": ["value"]}})

    b.row("Streaming (stream checks)")
    b.add("timeseries", "Time to first token p50 / p95", [
        prom(f'histogram_quantile({q}, sum by (provider, model, le) (increase(llm_probe_ttft_seconds_bucket{{{SEL}}}[$__rate_interval])))',
             f"{{{{provider}}}}/{{{{model}}}} {name}") for q, name in ((0.5, "p50"), (0.95, "p95"))],
        unit="s", w=8, h=8, description="From the request to the first content token (role-only, empty and keep-alive events don't count). "
                                        "Stream checks run every 5 minutes by default: a point per stream.")
    b.add("timeseries", "Output tokens per second", [prom(f"llm_probe_output_tokens_per_second{{{SEL}}}", "{{provider}}/{{model}} {{region}}")],
          unit="short", w=8, h=8, description="After the first token, from the provider's own usage count (the content events where it gives none).")
    b.add("timeseries", "Longest gap between stream events", [prom(f"llm_probe_stream_max_gap_seconds{{{SEL}}}", "{{provider}}/{{model}} {{region}}")],
          unit="s", w=8, h=8, description="A stream that stalls mid-answer shows here before it times out.")

    b.row("Quality and capabilities")
    b.add("timeseries", "Answer quality (mean of the last 5 known-answer checks)", [prom(
        f"llm_quality_score_recent{{{SEL}}}", "{{provider}}/{{model}} {{check}}")],
        unit="short", w=12, h=8, defaults={"min": 0, "max": 100},
        description="quality and vision checks: 100 = the expected answer, 0 = a wrong one (LLMQualityScoreLow under 70).")
    b.add("table", "Capability checks: last result", [prom(
        f'llm_probe_success{{{SEL},check=~"stream|quality|tools|vision|embeddings"}}', instant=True, fmt="table")],
        unit="none", w=12, h=8, description="1: the last stream, tool call, image question or embedding worked; 0: it failed (/api/checks says why).",
        defaults={"mappings": [{"type": "value", "options": {"0": {"text": "failing", "color": "red"}, "1": {"text": "ok", "color": "green"}}}]},
        transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True, "__name__": True, "job": True, "instance": True}}}])

    b.row("Probing and cost")
    b.add("timeseries", "Effective probe interval (backoff, budget)", [prom(f"llm_probe_interval_seconds{{{SEL}}}", "{{provider}}/{{model}} {{region}}")],
          unit="s", w=8, h=8, description="Configured interval, doubled per 429 (backoff) and stretched by the monthly budget.")
    b.add("timeseries", "Rate-limit headroom", [prom(
        f"llm_probe_ratelimit_remaining{{{SEL}}} / llm_probe_ratelimit_limit{{{SEL}}}", "{{provider}}/{{model}} {{resource}}")],
        unit="percentunit", w=8, h=8, description="Remaining / limit as the provider advertised on the last reply (providers that send the headers).")
    b.add("stat", "Estimated monthly probe cost", [prom("sum(healthboard_estimated_monthly_cost_usd)", "total", instant=True),
                                                   prom(f"sum by (provider) (increase(llm_probe_cost_usd_total{{{SEL}}}[$__range]))", "{{provider}} (time range)", instant=True)],
          unit="currencyUSD", w=8, h=8, defaults={"decimals": 4})
    annotations = [
        {"name": "Alerts", "datasource": PROM, "enable": True, "iconColor": "red",
         "expr": f'ALERTS{{alertstate="firing",severity=~"critical|high",{PSEL}}}', "step": "1m",
         "titleFormat": "{{alertname}}", "textFormat": "{{provider}} {{model}}", "tagKeys": "severity,provider"},
        {"name": "Official status changes", "datasource": PROM, "enable": True, "iconColor": "orange",
         "expr": f"changes(llm_provider_official_status{{{PSEL}}}[5m]) > 0", "step": "5m",
         "titleFormat": "Status page: {{provider}} {{component}}", "tagKeys": "provider"},
    ]
    variables = [
        datasource_var("datasource", "prometheus", "healthboard-prometheus", "Prometheus"),
        query_var("provider", "label_values(llm_probe_requests_total, provider)", PROM),
        query_var("model", 'label_values(llm_probe_requests_total{provider=~"$provider"}, model)', PROM),
        query_var("region", "label_values(llm_probe_requests_total, region)", PROM),
    ]
    return dashboard("llm-api-health", "LLM API health", b, variables, annotations=annotations, links=LINKS,
                     description="Synthetic probes of LLM APIs: errors, latency, official status, cost (llm-healthboard).")


def history() -> dict[str, Any]:
    b = Board()
    where = "provider IN ($provider) AND model IN ($model)"
    b.row("Daily, per provider / model")
    b.add("timeseries", "Daily availability", [sql(
        f"SELECT day AS time, provider || '/' || model AS metric, sum(requests - outage_failures)::float8 / nullif(sum(requests), 0) AS availability "
        f"FROM llm_checks_daily WHERE $__timeFilter(day) AND {where} GROUP BY 1, 2 ORDER BY 1", fmt="time_series")],
        datasource=PG, unit="percentunit", w=12, h=8, description="1 − outage-like failures / scheduled probes (our misconfiguration and 429s excluded).",
        defaults={"decimals": 3, "min": 0, "max": 1})
    b.add("timeseries", "Daily p50 / p95 latency", [sql(
        f"SELECT day AS time, provider || '/' || model || ' p50' AS metric, avg(p50_ms) / 1000 AS value FROM llm_checks_daily "
        f"WHERE $__timeFilter(day) AND {where} GROUP BY 1, 2 "
        f"UNION ALL SELECT day, provider || '/' || model || ' p95', avg(p95_ms) / 1000 FROM llm_checks_daily "
        f"WHERE $__timeFilter(day) AND {where} GROUP BY 1, 2 ORDER BY 1", fmt="time_series")],
        datasource=PG, unit="s", w=12, h=8, description="Per region the day's percentiles; regions averaged.")
    b.add("timeseries", "Daily time to first token and output speed (stream checks)", [sql(
        f"SELECT date_trunc('day', ts) AS time, provider || '/' || model || ' TTFT p50' AS metric, "
        f"percentile_cont(0.5) WITHIN GROUP (ORDER BY ttft_ms) / 1000 AS value FROM llm_checks "
        f"WHERE check_name = 'stream' AND ttft_ms IS NOT NULL AND $__timeFilter(ts) AND {where} GROUP BY 1, 2 "
        f"UNION ALL SELECT date_trunc('day', ts), provider || '/' || model || ' tokens/s p50', "
        f"percentile_cont(0.5) WITHIN GROUP (ORDER BY tokens_per_s) FROM llm_checks "
        f"WHERE check_name = 'stream' AND tokens_per_s IS NOT NULL AND $__timeFilter(ts) AND {where} GROUP BY 1, 2 ORDER BY 1", fmt="time_series")],
        datasource=PG, unit="short", w=24, h=8, description="TTFT in seconds and output tokens per second, daily medians of the raw stream checks.")
    b.row("This month")
    b.add("table", "Provider comparison (last 30 days)", [sql(
        "SELECT provider, requests, failures, availability, p50_ms / 1000 AS p50_s, p95_ms / 1000 AS p95_s, failure_mix::text AS failure_mix "
        "FROM llm_provider_comparison_30d WHERE provider IN ($provider) ORDER BY availability DESC")],
        datasource=PG, unit="none", w=24, h=7,
        defaults={"custom": {"cellOptions": {"type": "auto"}}})
    b.add("table", "Last 20 failures", [sql(
        f"SELECT ts AS time, provider, model, region, http_status, error_type, latency_ms, request_id, error_message "
        f"FROM llm_checks WHERE NOT ok AND {where} AND $__timeFilter(ts) ORDER BY ts DESC LIMIT 20")],
        datasource=PG, unit="none", w=24, h=9, description="Request ids are what the provider's support asks for.")
    b.add("table", "Incidents our probes detected", [sql(
        f"SELECT started_at AS time, provider, model, severity, ended_at AS ended, "
        f"round(extract(epoch FROM coalesce(ended_at, now()) - started_at) / 60) AS minutes, error_types::text AS error_types, "
        f"array_to_string(regions, ', ') AS regions FROM llm_incidents WHERE {where} AND $__timeFilter(started_at) ORDER BY started_at DESC LIMIT 100")],
        datasource=PG, unit="none", w=24, h=8,
        description="From llm_incident_events (the exporter's history book, one row per incident): the same incidents the status page and `healthboard report` list.")
    b.add("table", "Official status changes and incidents (detection lead)", [sql(
        "SELECT ts AS time, provider, kind, component, status, title, detection_lead_seconds AS lead_s, url "
        "FROM provider_status_events WHERE provider IN ($provider) AND $__timeFilter(ts) ORDER BY ts DESC LIMIT 100")],
        datasource=PG, unit="none", w=24, h=9,
        description="lead_s: official incident start minus the time our probes alerted (positive: we knew first).")
    variables = [
        datasource_var("pg", "grafana-postgresql-datasource", "healthboard-postgres", "Postgres"),
        query_var("provider", "SELECT DISTINCT provider FROM llm_checks_daily ORDER BY 1", PG, all_value=None),
        query_var("model", "SELECT DISTINCT model FROM llm_checks_daily WHERE provider IN ($provider) ORDER BY 1", PG, all_value=None),
    ]
    return dashboard("llm-history", "LLM API history (30 days)", b, variables, time_from="now-30d", links=LINKS,
                     description="Every raw check mirrored to Postgres/Supabase (supabase-sink/): daily figures, the month's comparison, failures with request ids.")


def self_health() -> dict[str, Any]:
    b = Board()
    job = 'job="llm-healthboard"'
    b.row("Exporter")
    b.add("stat", "Scrape up", [prom(f"up{{{job}}}", "{{instance}}", instant=True)], unit="none",
          defaults={"mappings": [{"type": "value", "options": {"0": {"text": "DOWN", "color": "red", "index": 0}, "1": {"text": "UP", "color": "green", "index": 1}}}],
                    "color": {"mode": "thresholds"}, "thresholds": thresholds((None, "red"), (1, "green"))})
    b.add("stat", "Config reload", [prom(f"healthboard_config_last_reload_successful{{{job}}}", "{{instance}}", instant=True)], unit="none",
          defaults={"mappings": [{"type": "value", "options": {"0": {"text": "FAILED", "color": "red", "index": 0}, "1": {"text": "OK", "color": "green", "index": 1}}}],
                    "color": {"mode": "thresholds"}, "thresholds": thresholds((None, "red"), (1, "green"))})
    b.add("stat", "Since last good config load", [prom(f"time() - healthboard_config_last_reload_success_timestamp_seconds{{{job}}}", "{{instance}}", instant=True)], unit="s")
    b.add("stat", "Targets / probes per second", [prom(f"sum by (instance) (healthboard_targets{{{job}}})", "{{instance}} targets", instant=True),
                                                  prom(f"sum by (instance) (rate(llm_probe_requests_total{{{job}}}[$__rate_interval]))", "{{instance}} probes/s", instant=True)],
          unit="short")
    b.add("timeseries", "Scheduler lag p50 / p99", [
        prom(f"histogram_quantile({q}, sum by (instance, le) (rate(healthboard_scheduler_lag_seconds_bucket{{{job}}}[$__rate_interval])))", f"{{{{instance}}}} {name}")
        for q, name in ((0.5, "p50"), (0.99, "p99"))], unit="s", w=12, h=8, description="Due time to start time of probes; alert above 1 s (p99) for 10 minutes.")
    b.add("timeseries", "Budget stretch", [prom(f"healthboard_budget_interval_factor{{{job}}}", "{{instance}}")], unit="short", w=12, h=8)
    b.row("Sink (Postgres / Supabase)")
    b.add("timeseries", "Spool rows waiting", [prom(f"healthboard_sink_spool_rows{{{job}}}", "{{instance}}")], unit="short", w=8, h=7)
    b.add("timeseries", "Rows written / write errors", [
        prom(f"rate(healthboard_sink_rows_written_total{{{job}}}[$__rate_interval])", "{{instance}} written/s"),
        prom(f"rate(healthboard_sink_write_errors_total{{{job}}}[$__rate_interval])", "{{instance}} errors/s")], unit="short", w=8, h=7)
    b.add("stat", "Since last successful write", [prom(f"time() - healthboard_sink_last_success_timestamp_seconds{{{job}}}", "{{instance}}", instant=True)],
          unit="s", w=8, h=7, description="No data: no sink configured.")
    b.row("Official status poller")
    b.add("stat", "Status page read", [prom(f"llm_provider_status_poll_success{{{job}}}", "{{provider}}", instant=True)], unit="none", w=8, h=7,
          defaults={"mappings": [{"type": "value", "options": {"0": {"text": "UNREADABLE", "color": "red", "index": 0}, "1": {"text": "OK", "color": "green", "index": 1}}}],
                    "color": {"mode": "thresholds"}, "thresholds": thresholds((None, "red"), (1, "green"))})
    b.add("timeseries", "Poll errors by reason", [prom(
        f"sum by (provider, reason) (increase(llm_provider_status_poll_errors_total{{{job}}}[$__rate_interval]))", "{{provider}} {{reason}}")],
        unit="short", w=8, h=7)
    b.add("stat", "Since last good read", [prom(f"time() - llm_provider_status_last_success_timestamp_seconds{{{job}}}", "{{provider}}", instant=True)], unit="s", w=8, h=7)
    variables = [datasource_var("datasource", "prometheus", "healthboard-prometheus", "Prometheus")]
    return dashboard("llm-healthboard-self", "llm-healthboard self-health", b, variables, time_from="now-6h", links=LINKS,
                     description="Is the monitor itself healthy: scrapes, schedule, config, sink, status poller.")


DASHBOARDS = {"llm-api-health.json": health, "llm-history.json": history, "llm-healthboard-self-health.json": self_health}


def render() -> dict[str, str]:
    return {name: json.dumps(build(), indent=2, ensure_ascii=False) + "\n" for name, build in DASHBOARDS.items()}


def main(argv: list[str]) -> int:
    stale = []
    for name, text in render().items():
        path = OUT / name
        if "--check" in argv:
            if not path.is_file() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print(f"stale: {', '.join(stale)}; run `python grafana/dashboards.py`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
