"""The monitoring mixin (mixin/), rendered with Debian's jsonnet: prometheusAlerts, prometheusRules and
grafanaDashboards equal the project's own rule files and dashboards, and the rendered rules pass promtool."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import yaml

from conftest import require_binary

ROOT = Path(__file__).parents[1]


def rendered() -> dict:
    result = subprocess.run([require_binary("jsonnet"), str(ROOT / "mixin" / "render.jsonnet")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def source_groups() -> list[dict]:
    return [g for p in sorted((ROOT / "prometheus" / "rules").glob("*.yml")) for g in yaml.safe_load(p.read_text())["groups"]]


def test_rules_json_is_generated_from_the_rule_files() -> None:
    spec = importlib.util.spec_from_file_location("mixin_generate", ROOT / "mixin" / "generate.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    assert (ROOT / "mixin" / "rules.json").read_text() == module.render(), "run python mixin/generate.py"


def test_mixin_outputs_equal_the_source_files() -> None:
    mixin = rendered()
    source = source_groups()
    alerting = {g["name"]: g for g in source if any("alert" in r for r in g["rules"])}
    recording = {g["name"]: g for g in source if any("record" in r for r in g["rules"])}
    assert {g["name"]: g for g in mixin["prometheusAlerts"]["groups"]} == alerting
    assert {g["name"]: g for g in mixin["prometheusRules"]["groups"]} == recording
    assert len(alerting) + len(recording) == len(source)
    boards = ROOT / "grafana" / "provisioning" / "dashboards" / "json"
    assert mixin["grafanaDashboards"] == {p.name: json.loads(p.read_text()) for p in sorted(boards.glob("*.json"))}


def test_rendered_rules_pass_promtool(tmp_path: Path) -> None:
    mixin = rendered()
    for name in ("prometheusAlerts", "prometheusRules"):
        path = tmp_path / f"{name}.yml"
        path.write_text(yaml.safe_dump(mixin[name]))
        result = subprocess.run([require_binary("promtool"), "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
