"""docker-compose.yml can't run here (no Docker engine): validate it against the Compose Specification
schema and check everything it refers to exists and fits together."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from healthboard.config import load_config

ROOT = Path(__file__).parents[1]
SHARED_SCHEMA = ROOT.parent / "shared" / "schemas" / "compose-spec.json"
VENDORED_SCHEMA = Path(__file__).parent / "schemas" / "compose-spec.json"


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_valid_against_the_compose_specification() -> None:
    schema_path = SHARED_SCHEMA if SHARED_SCHEMA.is_file() else VENDORED_SCHEMA
    if SHARED_SCHEMA.is_file():
        assert SHARED_SCHEMA.read_bytes() == VENDORED_SCHEMA.read_bytes(), "tests/schemas/compose-spec.json differs from ../shared"
    schema = json.loads(schema_path.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(compose()), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_the_schema_check_can_fail() -> None:
    schema = json.loads(VENDORED_SCHEMA.read_text())
    broken = compose()
    broken["services"]["exporter"]["restart"] = ["always"]
    broken["services"]["grafana"]["porst"] = ["3000:3000"]
    assert len(list(jsonschema.Draft7Validator(schema).iter_errors(broken))) >= 2


def test_every_mounted_path_and_build_file_exists() -> None:
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which doesn't exist"
        build = service.get("build")
        if build:
            assert (ROOT / build["context"] / build.get("dockerfile", "Dockerfile")).is_file(), name


def test_images_are_pinned_and_secrets_are_never_inline() -> None:
    services = compose()["services"]
    for name, service in services.items():
        image = service.get("image", "")
        if "build" not in service:
            tag = image.rpartition(":")[2]
            assert ":" in image and tag != "latest" and re.search(r"\d+\.\d+", tag), f"{name}: image {image!r} is not pinned"
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|KEY|TOKEN|SECRET|DSN", key):
                assert "${" in str(value), f"{name}: {key} is written in the YAML; take it from .env"
                for literal in re.split(r"\$\{[^}]*\}", str(value)):
                    assert not re.search(r":[^/@]+@", literal), f"{name}: {key} embeds a literal password"


def test_every_variable_is_documented_in_env_example() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    used = set(re.findall(r"\$\{(\w+)", text))
    documented = set(re.findall(r"^#?\s*(\w+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert used <= documented, f"not in .env.example: {sorted(used - documented)}"
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_services_reach_each_other_by_the_names_the_configs_use() -> None:
    services = compose()["services"]
    prometheus = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    hosts = {t.split(":")[0] for job in prometheus["scrape_configs"] for c in job["static_configs"] for t in c["targets"]}
    hosts |= {t.split(":")[0] for am in prometheus["alerting"]["alertmanagers"] for c in am["static_configs"] for t in c["targets"]}
    assert hosts - {"localhost"} <= set(services), hosts
    datasources = yaml.safe_load((ROOT / "grafana" / "provisioning" / "datasources" / "healthboard.yml").read_text())["datasources"]
    prom = next(d for d in datasources if d["type"] == "prometheus")
    assert prom["url"].split("//")[1].split(":")[0] in services
    grafana_env = services["grafana"]["environment"]
    assert grafana_env["HEALTHBOARD_PG_HOST"] in services
    for variable in re.findall(r"\$\{(\w+)\}", (ROOT / "grafana" / "provisioning" / "datasources" / "healthboard.yml").read_text()):
        assert variable in grafana_env, f"the Postgres datasource needs {variable} in grafana's environment"
    assert services["exporter"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["simulator"]["profiles"] == ["demo"]


def test_mounted_exporter_configs_are_valid() -> None:
    env = {"HEALTHBOARD_SINK_DSN": "postgresql://healthboard_writer:x@postgres:5432/postgres"}
    for name in ("healthboard.yml", "demo.yml"):
        config = load_config(ROOT / "deploy" / name, env)
        assert config.sink is not None
    demo = load_config(ROOT / "deploy" / "demo.yml", env)
    assert all(p.base_url.startswith("http://simulator:8800") for p in demo.providers)


def test_dockerfile_is_slim_non_root_with_a_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert all(re.search(r"-slim", line) for line in text.splitlines() if line.startswith("FROM"))
    assert re.search(r"^USER 10001", text, re.MULTILINE)
    assert "/-/healthy" in text and "HEALTHCHECK" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored and ".git" in ignored
