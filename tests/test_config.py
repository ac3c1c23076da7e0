from __future__ import annotations

import re
from pathlib import Path

import pytest

from healthboard.cli import main
from healthboard.config import ConfigError, load_config, parse_config, parse_duration
from healthboard.evidence import ASSUMED_SUSPICIOUS_SHARE
from healthboard.app.run import packaged
from healthboard.plan import build_plan

TESTDATA = Path(__file__).parent / "config_testdata"
INVALID = sorted(TESTDATA.glob("invalid-*.yml"))


def expectation(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    match = re.match(r"# expect: (.*)", first)
    assert match, f"{path.name} lacks an '# expect:' first line"
    return match.group(1)


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_config_names_file_location_and_fix(path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    report = str(caught.value)
    assert report.startswith(str(path)), report
    assert expectation(path) in report, report


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_check_config_exits_2_on_invalid(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(path)]) == 2
    assert expectation(path) in capsys.readouterr().err


def test_check_config_accepts_the_default_and_lists_skipped(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-0123456789")
    path = Path(__file__).parents[1] / "exporter/healthboard/data/default.yml"
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "openai/gpt-4o-mini/chat" in out
    assert "provider anthropic: would be skipped: environment variable ANTHROPIC_API_KEY is not set" in out
    assert "sk-from-env" not in out


def test_default_config_probes_exactly_the_three_spec_providers() -> None:
    env = {"OPENAI_API_KEY": "a" * 10, "ANTHROPIC_API_KEY": "b" * 10, "GEMINI_API_KEY": "c" * 10}
    plan = build_plan(parse_config(packaged("default.yml"), "default", env), env)
    assert [t.id for t in plan.targets] == [
        "openai/gpt-4o-mini/chat",
        "anthropic/claude-3-haiku-20240307/chat",
        "google/gemini-2.0-flash/chat",
    ]
    assert {t.kind for t in plan.targets} == {"openai", "anthropic", "gemini"}
    assert all(t.timeout == 10.0 and t.max_tokens == 1 and t.prompt == "ping" for t in plan.targets)
    text = packaged("default.yml")
    for commented in ("api.x.ai/v1", "api.mistral.ai", "api.cohere.com", "api.groq.com", "api.deepseek.com",
                      "openrouter.ai", "azure-openai", "localhost:8000/v1"):
        assert f"{commented}" in text, commented


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h", 3600), ("1m30s", 90), ("500ms", 0.5), (45, 45), ("2.5", 2.5), ("1d", 86400)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "5 m", "s", "-3s", "1x", True])
def test_bad_durations(text: object) -> None:
    if text == "30":
        assert parse_duration(text) == 30
        return
    with pytest.raises(ValueError):
        parse_duration(text)


def test_per_model_overrides_and_inheritance() -> None:
    config = parse_config(
        """
interval: 1m
timeout: 5s
max_tokens: 1
providers:
  - name: openai
    kind: openai
    base_url: https://api.openai.com/v1/
    api_key: k-0123456789
    interval: 2m
    models:
      - gpt-4o-mini
      - {name: o3-mini, interval: 5m, timeout: 20s, max_tokens: 16, price: {input: 1.1, output: 4.4}}
""",
        environ={},
    )
    plan = build_plan(config, {})
    mini, o3 = plan.targets
    assert (mini.interval, mini.timeout, mini.max_tokens, mini.base_url) == (120, 5, 1, "https://api.openai.com/v1")
    assert (o3.interval, o3.timeout, o3.max_tokens) == (300, 20, 16)
    assert o3.price is not None and o3.price.output == 4.4
    assert mini.price is not None and mini.price.input == 0.15  # built-in price table


def test_unset_key_skips_provider_with_reason(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("sk-file-0123456789\n")
    config = parse_config(
        f"""
providers:
  - {{name: a, kind: openai, base_url: https://a/v1, api_key: "${{NOT_SET_KEY}}", models: [m]}}
  - {{name: b, kind: openai, base_url: https://b/v1, api_key_file: {key_file}, models: [m]}}
  - {{name: c, kind: openai, base_url: https://c/v1, api_key_file: {tmp_path}/missing, models: [m]}}
  - {{name: d, kind: openai, base_url: https://d/v1, api_key: "${{D_KEY}}", models: [m]}}
""",
        environ={},
    )
    plan = build_plan(config, {"D_KEY": "sk-d-0123456789"})
    assert [t.provider for t in plan.targets] == ["b", "d"]
    assert plan.targets[0].api_key.reveal() == "sk-file-0123456789"
    reasons = {s.provider: s.reason for s in plan.skipped}
    assert reasons["a"] == "environment variable NOT_SET_KEY is not set"
    assert "can't be read" in reasons["c"]
    assert "sk-d-0123456789" not in repr(plan.targets[1])


def test_env_default_and_escape() -> None:
    config = parse_config("region: ${REGION:-seoul}\nprompt: pay $$5\n", environ={})
    assert config.region == "seoul" and config.prompt == "pay $5"


def test_monthly_budget_stretches_intervals() -> None:
    text = """
interval: 30s
monthly_budget_usd: 0.05
providers:
  - {name: openai, kind: openai, base_url: https://a/v1, api_key: k-0123456789, models: [gpt-4o-mini]}
  - {name: anthropic, kind: anthropic, base_url: https://b, api_key: k-0123456789, models: [claude-3-haiku-20240307]}
"""
    plan = build_plan(parse_config(text, environ={}), {})
    assert plan.budget_factor > 1
    assert plan.monthly_cost_usd == pytest.approx(0.05, rel=1e-6)
    assert all(t.interval == pytest.approx(30 * plan.budget_factor) for t in plan.targets)


def test_default_three_targets_cost_under_a_dollar_a_month() -> None:
    env = {"OPENAI_API_KEY": "a" * 10, "ANTHROPIC_API_KEY": "b" * 10, "GEMINI_API_KEY": "c" * 10}
    plan = build_plan(parse_config(packaged("default.yml"), "default", env), env)
    assert 0 < plan.monthly_cost_usd < 1.0


def test_stream_every_5_minutes_and_quality_every_15_add_at_most_50_cents_to_the_default_three(tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Issue "Beyond ping": the default three providers with a ``stream`` check every 5 minutes and a ``quality``
    check every 15 minutes add at most $0.50 a month, and check-config shows the cost per check kind."""
    env = {"OPENAI_API_KEY": "a" * 10, "ANTHROPIC_API_KEY": "b" * 10, "GEMINI_API_KEY": "c" * 10}
    default = packaged("default.yml")
    extended = default
    for model in ("gpt-4o-mini", "claude-3-haiku-20240307", "gemini-2.0-flash"):
        extended = re.sub(rf"models: \[{re.escape(model)}\]",
                          f"models: [{model}, {{name: {model}, check: stream}}, {{name: {model}, check: quality}}]", extended, count=1)
    assert extended.count("check: stream") == 3
    before = build_plan(parse_config(default, "default", env), env)
    after = build_plan(parse_config(extended, "default", env), env)
    kinds = {(t.check, t.interval) for t in after.targets}
    assert ("stream", 300.0) in kinds and ("quality", 900.0) in kinds
    assert 0 < after.monthly_cost_usd - before.monthly_cost_usd <= 0.50
    path = tmp_path / "extended.yml"
    path.write_text(extended)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["check-config", str(path)]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if "by check:" in line)
    assert "stream $" in line and "quality $" in line and "chat $" in line


def test_cost_estimate_counts_adaptive_rechecks() -> None:
    env = {"OPENAI_API_KEY": "a" * 10, "ANTHROPIC_API_KEY": "b" * 10, "GEMINI_API_KEY": "c" * 10}
    default = build_plan(parse_config(packaged("default.yml"), "default", env), env)
    without = build_plan(parse_config(packaged("default.yml").replace("recheck_interval: 7.5s", "recheck_interval: 0"), "default", env), env)
    assert without.monthly_cost_usd < default.monthly_cost_usd
    # a share of probes suspicious, each keeping the target at 7.5 s re-checks for a 2-minute window instead of 30 s
    assert default.monthly_cost_usd == pytest.approx(without.monthly_cost_usd * (1 + ASSUMED_SUSPICIOUS_SHARE * (120 / 7.5 - 120 / 30)))
    assert default.monthly_cost_usd == pytest.approx(without.monthly_cost_usd * 1.482, rel=0.01)  # what the alert bench's noise measured
    assert default.monthly_cost_usd < 1.0


def test_dollar_escape_is_kept_in_file_paths(tmp_path: Path) -> None:
    """``$$`` is a literal ``$`` once: the config is expanded in one place, never again downstream."""
    from healthboard.plan import build_plan

    folder = tmp_path / "${X}"
    folder.mkdir()
    (folder / "key").write_text("sk-test-dollar-0123456789\n")
    (folder / "dsn").write_text("postgresql://healthboard_writer:pw@127.0.0.1:5432/postgres\n")
    text = (f"sink: {{dsn_file: '{tmp_path}/$${{X}}/dsn'}}\n"
            f"providers:\n  - {{name: o, kind: openai, base_url: 'http://x', api_key_file: '{tmp_path}/$${{X}}/key', models: [m]}}\n")
    environ = {"X": "expanded"}
    plan = build_plan(parse_config(text, "t", environ), environ)
    assert not plan.skipped, plan.skipped
    assert plan.targets[0].api_key.reveal() == "sk-test-dollar-0123456789"
    assert plan.sink_problem is None and plan.sink_dsn is not None


def test_every_registered_kind_and_page_format_is_accepted_with_its_own_keys() -> None:
    """The schema comes from the registries: each wire format and status-page format, with its own keys."""
    from healthboard.config.model import KINDS
    from healthboard.prober import WIRE_FORMATS
    from healthboard.status import STATUS_FORMATS

    assert set(KINDS) == set(WIRE_FORMATS)
    from conftest import KIND_EXAMPLES

    providers = "".join(
        f"  - {{name: p{i}, kind: {kind}, base_url: 'http://x', models: [m]"
        + (f", {KIND_EXAMPLES[kind][3]}" if KIND_EXAMPLES[kind][3] else "") + "}\n"
        for i, kind in enumerate(WIRE_FORMATS))
    pages = "".join(f"    - {{provider: p0, format: {fmt}, url: 'http://s', components: [API]}}\n" for fmt in STATUS_FORMATS)
    config = parse_config(f"providers:\n{providers}status:\n  pages:\n{pages}", "t", {})
    assert [p.kind for p in config.providers] == list(WIRE_FORMATS)
    assert [p.format for p in config.status.pages] == list(STATUS_FORMATS)
