"""A reduced run of bench/alert_quality.py (3 models x 2 regions x 2 days, a subset of incidents) on the
real rule files and real Prometheus tooling: a rule change that breaks detection or adds false alarms
fails CI. The full month is `make bench-alerts`; its table is kept in docs/ALERTING.md."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from conftest import require_binary

ROOT = Path(__file__).parents[1]

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict:
    require_binary("promtool")
    require_binary("prometheus")
    from bench import alert_quality

    params, quick, _ = alert_quality.parse_args(["--days", "2", "--quick", "--seed", "1"])
    return asyncio.run(alert_quality.run(params, quick, None, tmp_path_factory.mktemp("aq")))


def rows(result: dict, kind: str) -> list[dict]:
    found = [r for r in result["incidents"] if r["kind"] == kind]
    assert found, kind
    return found


def test_no_false_pages_over_baseline_noise(result: dict) -> None:
    pages = [d for d in result["false_alarm_details"] if d["receiver"] == "oncall"]
    assert pages == [], pages


def test_hard_outage_pages_on_call_within_90s(result: dict) -> None:
    for row in rows(result, "hard_outage"):
        assert row["detected"] and row["receiver"] == "oncall", row
        assert row["detection_s"] <= 90, row


def test_every_incident_is_detected_by_an_expected_alert(result: dict) -> None:
    missed = [r for r in result["incidents"] if not r["detected"]]
    assert missed == []


def test_regional_outage_is_regional_not_a_page(result: dict) -> None:
    for row in rows(result, "region_down"):
        assert row["by"] == "LLMRegionalFailure" and not row["paged"], row


def test_invalid_key_and_retired_model_only_open_a_ticket(result: dict) -> None:
    for kind in ("key_revoked", "model_retired"):
        for row in rows(result, kind):
            assert row["by"] == "LLMProbeMisconfigured" and row["receiver"] == "owners-ticket", row
            assert row["other_alerts"] == [] and not row["paged"], row


def test_default_probe_cost_is_under_a_dollar(result: dict) -> None:
    assert 0 < result["monthly_cost_usd"] < 1.0


def test_evaluator_applies_for_and_keep_firing_for_as_prometheus_does() -> None:
    from bench.alertsim.evaluate import AlertRule, firings

    keep = AlertRule("X", "", 0, 15, {}, keep=45)
    # a firing alert rides a gap shorter than keep_firing_for, and resolves keep_firing_for after the last true
    assert [(f.start, f.end) for f in firings(keep, [{"metric": {}, "times": [0, 15, 30, 60, 75]}])] == [(0, 135)]
    assert [(f.start, f.end) for f in firings(keep, [{"metric": {}, "times": [0, 15, 30, 120, 135]}])] == [(0, 90), (120, 195)]
    # a pending alert (under for:) gets no keep: the second run starts its for: again
    pending = AlertRule("Y", "", 60, 15, {}, keep=45)
    assert [(f.start, f.end) for f in firings(pending, [{"metric": {}, "times": [0, 15, 30, 60, 75, 90, 105, 120, 135]}])] == [(120, 195)]


def test_no_incident_pages_twice(result: dict) -> None:
    """A flap inside an incident, or a re-page on its tail, is a second page for one incident."""
    twice = [r for r in result["incidents"] if r["pages"] > 1]
    assert twice == [], [(r["kind"], r["firings"]) for r in twice]


def test_evaluator_applies_the_hysteresis_on_alerts_as_prometheus_does() -> None:
    from bench.alertsim.evaluate import AlertRule, hysteresis_firings, load_rules

    rule = AlertRule("X", "", 0, 15, {}, keep=15, stay="s", quiet="q", quiet_for=900)
    on, quiet, stay = [], [{"metric": {}, "times": [0, 15, 600, 615]}], [{"metric": {}, "times": [30, 45, 60, 300]}]
    # starts on quiet evidence, stays while stay holds (a 15 s gap is bridged by keep), a later stay alone can't
    # restart it, and quiet evidence within 15 minutes of the end can't either
    assert [(f.start, f.end) for f in hysteresis_firings(rule, on, quiet, stay)] == [(0, 90)]
    hard = [{"metric": {}, "times": [600]}]
    assert [(f.start, f.end) for f in hysteresis_firings(rule, hard, quiet, stay)] == [(0, 90), (600, 630)]  # quiet evidence is empty while firing
    later = [{"metric": {}, "times": [0, 1200]}]
    assert [(f.start, f.end) for f in hysteresis_firings(rule, on, later, stay)] == [(0, 90), (1200, 1230)]
    # the shipped rule is read in that form
    alerts, _ = load_rules(ROOT / "prometheus" / "rules", 15)
    outage = next(a for a in alerts if a.name == "LLMModelOutage")
    assert outage.quiet and outage.stay and outage.quiet_for == 900 and "ALERTS" not in outage.expr
