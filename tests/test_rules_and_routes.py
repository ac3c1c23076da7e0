"""Prometheus rules and Alertmanager routing checked by the real tools: promtool and amtool."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import require_binary

ROOT = Path(__file__).parents[1]
PROM = ROOT / "prometheus"
AM = ROOT / "alertmanager"


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)


def alert_rules() -> list[dict]:
    rules = []
    for path in sorted((PROM / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules += [r for r in group["rules"] if "alert" in r]
    return rules


def test_prometheus_config_is_valid() -> None:
    result = run(require_binary("promtool"), "check", "config", "prometheus.yml", cwd=PROM)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_lint_clean() -> None:
    files = [str(p) for p in sorted((PROM / "rules").glob("*.yml"))]
    result = run(require_binary("promtool"), "check", "rules", "--lint=all", "--lint-fatal", *files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stdout + result.stderr


@pytest.mark.timeout(300)
def test_promtool_unit_tests_pass() -> None:
    """Every file by its own promtool, as many at once as there are cores (one promtool runs its files one after
    another on one core: ~2 minutes in all on a busy machine)."""
    import concurrent.futures
    import os

    promtool = require_binary("promtool")
    files = [str(p) for p in sorted((PROM / "tests").glob("*.yml"))]
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = list(pool.map(lambda f: run(promtool, "test", "rules", f, cwd=PROM / "tests"), files))
    for path, result in zip(files, results, strict=True):
        assert result.returncode == 0 and "SUCCESS" in result.stdout, path + "\n" + result.stdout + result.stderr


def test_every_alert_has_a_firing_unit_test_and_a_near_miss() -> None:
    fired: set[str] = set()
    silent: set[str] = set()
    for path in (PROM / "tests").glob("*.yml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {r["alert"] for r in alert_rules()}
    assert names - fired == set(), "alerts with no test that fires them"
    assert names - {"Watchdog"} - silent == set(), "alerts with no near-miss test"


def test_every_alert_is_documented_and_complete() -> None:
    runbook = (ROOT / "docs" / "RUNBOOK.md").read_text().lower()
    for rule in alert_rules():
        labels, annotations = rule["labels"], rule["annotations"]
        assert labels["severity"] in {"critical", "high", "medium", "low", "none"}, rule["alert"]
        assert "category" in labels, rule["alert"]
        assert {"summary", "description", "runbook_url"} <= set(annotations), rule["alert"]
        anchor = annotations["runbook_url"].rsplit("#", 1)[1]
        assert anchor == rule["alert"].lower()
        assert f"## {rule['alert'].lower()}" in runbook, f"docs/RUNBOOK.md has no section for {rule['alert']}"
        if rule["alert"] != "Watchdog":
            assert annotations.get("dashboard", "").startswith("/d/"), rule["alert"]


def test_alertmanager_config_is_valid() -> None:
    result = run(require_binary("amtool"), "check-config", "alertmanager.yml", cwd=AM)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 templates" in result.stdout


def test_alertmanager_has_no_inline_secrets() -> None:
    text = (AM / "alertmanager.yml").read_text()
    config = yaml.safe_load(text)
    assert "smtp_auth_password:" not in text and "api_url:" not in text and "slack_api_url:" not in text
    for receiver in config["receivers"]:
        for slack in receiver.get("slack_configs", []):
            assert "api_url_file" in slack and slack["send_resolved"] is True
        for mail in receiver.get("email_configs", []):
            assert mail["send_resolved"] is True


CASES = yaml.safe_load((AM / "tests" / "routes.yml").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_routes_reach_exactly_the_intended_receivers(case: dict) -> None:
    labels = [f"{k}={v}" for k, v in case["labels"].items()]
    result = run(require_binary("amtool"), "config", "routes", "test", "--config.file=alertmanager.yml", *labels, cwd=AM)
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.strip().split(",")) == sorted(case["receivers"])


SEVERITY_RECEIVERS = {"critical": ["oncall"], "high": ["slack-alerts"], "medium": ["slack-alerts"], "low": ["owners-ticket"]}


@pytest.mark.parametrize("rule", alert_rules(), ids=[r["alert"] for r in alert_rules()])
def test_every_alert_routes_by_its_severity(rule: dict) -> None:
    labels = {"alertname": rule["alert"], **rule["labels"], "provider": "openai", "model": "m", "instance": "e:9464"}
    result = run(require_binary("amtool"), "config", "routes", "test", "--config.file=alertmanager.yml",
                 *[f"{k}={v}" for k, v in labels.items()], cwd=AM)
    expected = ["deadmans-switch"] if rule["alert"] == "Watchdog" else ["null"] if rule["labels"]["category"] == "maintenance" else (
        ["owners-ticket"] if rule["labels"]["category"] == "misconfiguration" else SEVERITY_RECEIVERS[rule["labels"]["severity"]])
    assert result.stdout.strip().split(",") == expected


def render(template: str) -> str:
    result = run(require_binary("amtool"), "template", "render", "--template.glob=templates/*.tmpl",
                 f"--template.text={{{{ template \"{template}\" . }}}}", "--template.data=tests/template-data.json", cwd=AM)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_slack_template_shows_what_on_call_needs() -> None:
    title, text = render("healthboard.slack.title"), render("healthboard.slack.text")
    assert title.strip() == "[CRITICAL] openai/gpt-4o-mini hard outage"
    for expected in ("LLMModelOutage (critical)", "Provider: openai · Model: gpt-4o-mini", "Errors (scheduled probes, 5m): 5xx=4 timeout=1",
                     "Since: 2026-11-22 14:05:09 UTC", "|Runbook>", "<https://grafana.example.com/d/llm-api-health/", "|Query>"):
        assert expected in text, expected
    assert max(len(line) for line in text.splitlines()) < 400


def test_email_template_renders_html_and_text() -> None:
    html, text = render("healthboard.email.html"), render("healthboard.email.text")
    assert html.lstrip().startswith("<!doctype html>") and '<a href="https://github.com/llm-healthboard' in html
    assert "Runbook: https://github.com/" in text and "Dashboard: https://grafana.example.com/d/" in text
    data = json.loads((AM / "tests" / "template-data.json").read_text())
    assert data["alerts"][0]["annotations"]["description"] in text


