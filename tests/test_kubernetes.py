"""The Kubernetes packaging (deploy/kubernetes/), validated offline: `kubectl kustomize` renders each overlay, the
core objects validate with kubernetes-validate (strict: no unknown fields), the prometheus-operator objects validate
against the CRD schemas (tests/schemas/prometheus-operator/, identical to ../shared/ where it exists), the
PrometheusRule equals prometheus/rules/, and the pod is locked down as documented."""

from __future__ import annotations

import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from conftest import require_binary

ROOT = Path(__file__).parents[1]
KUBE = ROOT / "deploy" / "kubernetes"
OVERLAYS = sorted(p.name for p in (KUBE / "overlays").iterdir() if (p / "kustomization.yaml").is_file())
VENDORED = Path(__file__).parent / "schemas" / "prometheus-operator"
SHARED = ROOT.parent / "shared" / "schemas" / "prometheus-operator"
CRDS = {"ServiceMonitor": "monitoring.coreos.com_servicemonitors.yaml", "PrometheusRule": "monitoring.coreos.com_prometheusrules.yaml"}
KUBERNETES_VERSION = "1.30.0"  # the oldest Kubernetes the manifests target (unhealthyPodEvictionPolicy is GA there)


def rendered(overlay: str) -> list[dict]:
    result = subprocess.run([require_binary("kubectl"), "kustomize", str(KUBE / "overlays" / overlay)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def crd_schema(kind: str) -> dict:
    path = (SHARED if (SHARED / CRDS[kind]).is_file() else VENDORED) / CRDS[kind]
    crd = yaml.safe_load(path.read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    return version["schema"]["openAPIV3Schema"]


def test_vendored_crds_are_the_shared_ones() -> None:
    if not SHARED.is_dir():
        pytest.skip("no ../shared/ here: the vendored copies are used")
    for name in CRDS.values():
        assert (SHARED / name).read_bytes() == (VENDORED / name).read_bytes(), name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_every_object_validates(overlay: str) -> None:
    import kubernetes_validate

    docs = rendered(overlay)
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted(["Namespace", "ConfigMap", "Service", "Deployment", "PodDisruptionBudget", "NetworkPolicy",
                            "ServiceMonitor", "PrometheusRule"]), kinds
    for doc in docs:
        if doc["kind"] in CRDS:
            assert doc["apiVersion"] == "monitoring.coreos.com/v1"
            errors = list(jsonschema.Draft7Validator(crd_schema(doc["kind"])).iter_errors(doc))
            assert not errors, [f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5]]
        else:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == f"llm-healthboard-{overlay}"


def test_a_broken_object_is_refused() -> None:
    """The checks above can fail: an unknown field, and a ServiceMonitor without endpoints' port type."""
    import kubernetes_validate

    deployment = next(d for d in rendered(OVERLAYS[0]) if d["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProb"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    monitor = next(d for d in rendered(OVERLAYS[0]) if d["kind"] == "ServiceMonitor")
    monitor["spec"]["endpoints"][0]["interval"] = "fifteen seconds"
    assert list(jsonschema.Draft7Validator(crd_schema("ServiceMonitor")).iter_errors(monitor))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_pod_is_locked_down_and_probed(overlay: str) -> None:
    docs = {d["kind"]: d for d in rendered(overlay)}
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["automountServiceAccountToken"] is False
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}
    assert container["livenessProbe"]["httpGet"]["path"] == "/-/healthy" and container["readinessProbe"]["httpGet"]["path"] == "/-/ready"
    env = {e["name"]: e for e in container["env"]}
    assert env["HEALTHBOARD_REGION"]["value"] == overlay
    assert all(env[k]["valueFrom"]["secretKeyRef"]["name"] == "llm-healthboard-keys" for k in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"))
    config_map = docs["ConfigMap"]
    assert pod["volumes"][0]["configMap"]["name"] == config_map["metadata"]["name"]  # the generated name, hash and all
    assert docs["Deployment"]["spec"]["replicas"] == 1 and docs["Deployment"]["spec"]["strategy"]["type"] == "Recreate"
    assert docs["Service"]["spec"]["selector"] == docs["Deployment"]["spec"]["selector"]["matchLabels"]
    assert docs["ServiceMonitor"]["spec"]["selector"]["matchLabels"].items() <= docs["Service"]["metadata"]["labels"].items()


def test_the_packaged_config_is_valid_for_the_exporter(tmp_path: Path) -> None:
    from healthboard.config import parse_config
    from healthboard.plan import build_plan

    text = (KUBE / "base" / "config.yml").read_text()
    env = {"HEALTHBOARD_REGION": "seoul", "OPENAI_API_KEY": "sk-k8s-0123456789"}
    plan = build_plan(parse_config(text, "config.yml", env), env)
    assert [t.id for t in plan.targets] == ["openai/gpt-4o-mini/chat"] and plan.targets[0].region == "seoul"


def test_prometheusrule_is_generated_from_the_rule_files() -> None:
    """One source of truth: base/prometheusrule.yaml is what deploy/kubernetes/generate.py makes of prometheus/rules/."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("k8s_generate", KUBE / "generate.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    assert (KUBE / "base" / "prometheusrule.yaml").read_text() == module.render(), "run python deploy/kubernetes/generate.py"
    ours = yaml.safe_load((KUBE / "base" / "prometheusrule.yaml").read_text())["spec"]["groups"]
    source = [g for p in sorted((ROOT / "prometheus" / "rules").glob("*.yml")) for g in yaml.safe_load(p.read_text())["groups"]]
    assert ours == source
