"""The structure ARCHITECTURE.md describes, checked: imports go one way (down the layers), consumers don't know
each other, the product package carries no test tools, and the exporter's mirror of the detector's hard rule
says what prometheus/rules/detector.yml says."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

PACKAGE = Path(__file__).parents[1] / "exporter" / "healthboard"

#: Layers, lowest first. A module may import its own layer and those below, never one above. Matched by the
#: longest prefix of the dotted module name (under ``healthboard``).
LAYERS: list[tuple[str, list[str]]] = [
    ("foundation", ["healthboard", "errors", "secrets", "record", "durations", "options", "evidence", "logs", "quality", "maintenance"]),
    ("plug-ins", ["prober", "prober.base", "prober.openai", "prober.anthropic", "prober.gemini", "prober.cohere",
                  "status", "status.base", "status.feed", "status.google_cloud", "status.statuspage"]),
    ("config", ["config"]),
    ("plan", ["plan", "pricing", "status.pages"]),
    ("pipeline", ["events", "prober.engine", "scheduler", "cluster"]),
    ("consumers", ["metrics", "health", "history", "lifecycle", "recent", "transitions", "sink", "status.poller", "status.metrics"]),
    ("interface", ["web", "report", "archive"]),
    ("composition", ["app"]),
    ("entry points", ["demo", "simulator", "cli", "__main__"]),
]
#: Consumers of the scheduler's events: none of them may import another (they are independent sinks of one stream).
CONSUMERS = ["metrics", "health", "history", "recent", "transitions", "sink", "status.poller"]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts) or "healthboard"


def layer_of(name: str) -> int:
    best, found = -1, None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), index
    assert found is not None, f"healthboard.{name} is in no layer of tests/test_architecture.py: place it"
    return found


def consumer_of(name: str) -> str | None:
    return next((c for c in CONSUMERS if name == c or name.startswith(c + ".")), None)


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module under healthboard) of every healthboard import, skipping ``if TYPE_CHECKING:`` blocks
    (annotations only: a wire format names the plan's Target type without importing it at run time)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for n in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "healthboard" and not node.level:
            found.append((node.lineno, node.module.removeprefix("healthboard").lstrip(".") or "healthboard"))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name.removeprefix("healthboard").lstrip(".") or "healthboard") for a in node.names
                      if a.name.split(".")[0] == "healthboard"]
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_imports_point_down_the_layers(path: Path) -> None:
    me = module_name(path)
    mine = layer_of(me)
    upward = [f"line {line}: healthboard.{other} ({LAYERS[layer_of(other)][0]})" for line, other in imports(path)
              if layer_of(other) > mine]
    assert not upward, f"healthboard.{me} ({LAYERS[mine][0]}) imports from a higher layer: {upward}"


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_consumers_do_not_know_each_other(path: Path) -> None:
    me = consumer_of(module_name(path))
    if me is None:
        return
    others = [f"line {line}: healthboard.{other}" for line, other in imports(path) if consumer_of(other) not in (None, me)]
    assert not others, f"consumer {me} imports another consumer: {others}"


def test_the_installed_package_holds_no_test_tools() -> None:
    shipped = {module_name(p) for p in MODULES}
    assert not any(name.startswith(("testing", "tests")) for name in shipped), shipped


def test_tests_do_not_import_each_other() -> None:
    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(from|import) test_\w+", text, re.M), f"{path.name} imports another test module"
        assert not re.search(r"^\s*sys\.path\.insert", text, re.M), f"{path.name} edits sys.path (pyproject's pythonpath has the repository root)"


def test_the_exporters_hard_rule_is_the_detectors() -> None:
    """evidence.Progress.hard_outage mirrors target:llm_outage_hard:bool (the status poller times our page by it)."""
    from healthboard import evidence

    rules = yaml.safe_load((PACKAGE.parents[1] / "prometheus" / "rules" / "detector.yml").read_text())
    expr = next(r["expr"] for g in rules["groups"] for r in g["rules"] if r.get("record") == "target:llm_outage_hard:bool")
    numbers = {name: float(value) for name, value in re.findall(r"(llm_probe_\w+) >= bool ([0-9.]+)", expr)}
    assert numbers["llm_probe_consecutive_outage_failures"] == evidence.HARD_RUN_FAILURES
    assert numbers["llm_probe_outage_run_server_errors"] == evidence.HARD_RUN_SERVER_ERRORS
    spans = sorted(float(v) for v in re.findall(r"llm_probe_outage_run_seconds >= bool ([0-9.]+)", expr))
    assert spans == [evidence.HARD_RUN_SECONDS, evidence.ANY_RUN_SECONDS]
    assert "llm_probe_outage_run_server_errors * 2 >= bool" in expr  # at least half of the run server errors
    # prometheus/tests/availability.yml, "a network blip between two sporadic 5xx": the same cases here
    blip = evidence.Progress(11, 11, 0, 0, 0, 11, 33.0, 2)
    outage = evidence.Progress(11, 11, 0, 0, 0, 11, 33.0, 11)
    assert not blip.hard_outage and outage.hard_outage
