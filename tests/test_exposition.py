"""/metrics: the compact per-target store (healthboard/metrics/store.py) must keep prometheus-client's
semantics exactly, and its fast rendering must equal what the registry's collector gives."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from healthboard.config import parse_config
from healthboard.evidence import Evidence
from healthboard.metrics import Metrics
from healthboard.metrics.families import DURATION_BUCKETS, PHASE_BUCKETS, TTFT_BUCKETS
from healthboard.record import CheckRecord, ErrorType
from healthboard.plan import Target, build_plan

from conftest import require_binary, target
from helpers import record


def families(text: str) -> dict[str, tuple[str, str, list[tuple[str, tuple, float]]]]:
    out = {}
    for family in text_string_to_metric_families(text):
        samples = sorted((s.name, tuple(sorted(s.labels.items())), s.value) for s in family.samples)
        out[family.name] = (family.type, family.documentation, samples)
    return out


def records(n: int) -> Iterator[tuple[Target, CheckRecord, int, int]]:
    """n targets plus one with awkward label characters; several records each, of every kind."""
    names = [f"m{i}" for i in range(n)] + ['we\\ird "q"']
    models = ", ".join(json.dumps(name) for name in names)
    config = parse_config(f"providers:\n  - {{name: p, kind: openai, base_url: http://x/v1, api_key: k-0123456789, models: [{models}]}}\n", environ={})
    targets = build_plan(config, {}).targets
    for i, target in enumerate(targets):
        for j in range(8):
            ok = (i + j) % 3 != 0
            record = CheckRecord(ts=1.7e9 + i + j, provider=target.provider, model=target.model, region=target.region, check="chat", ok=ok,
                                 http_status=200 if ok else (529 if j % 2 else None),
                                 error_type=None if ok else (ErrorType.OVERLOADED if j % 2 else ErrorType.TIMEOUT),
                                 latency_ms=[40.0, 100.0, 250.0, 900.0, 31_000.0][(i + j) % 5] if ok or j % 2 else 31_000.0,
                                 input_tokens=8, output_tokens=1, phases={"connect": 0.001 * j, "ttfb": 0.099, "transfer": 7.0}, cost_usd=1e-6,
                                 ratelimit={"remaining_requests": 99.0 + j}, scheduled=(i + j) % 5 != 0)
            if i % 3 == 0 and ok:  # a stream check's timings on some targets only: those families are optional
                record.ttft_ms, record.tokens_per_s, record.max_gap_ms = 80.0 + 400 * j, 40.0 + j, 25.0 + j
            yield target, record, (i + j) % 4, (i + j) % 2


def loaded_metrics(n: int, phases: bool = True) -> Metrics:
    metrics = Metrics()
    metrics.probes.phases = phases
    evidence: dict[str, Evidence] = {}
    for target, record, consecutive, outage in records(n):
        metrics.probes.add_target(target)
        evidence.setdefault(target.id, Evidence()).add(record.ts, record.ok, record.error_type)
        metrics.probes.observe(record, evidence[target.id].progress(consecutive, outage))
    metrics.probes.lag.observe(0.002)
    return metrics


def reference_registry(n: int) -> CollectorRegistry:
    """The same records fed to plain prometheus-client metrics: the semantics the compact store must keep."""
    registry = CollectorRegistry()
    labels = ("provider", "model", "region", "check")
    requests = Counter("llm_probe_requests", "", labels, registry=registry)
    failures = Counter("llm_probe_failures", "", (*labels, "error_type"), registry=registry)
    rechecks = Counter("llm_probe_rechecks", "", labels, registry=registry)
    recheck_failures = Counter("llm_probe_recheck_failures", "", labels, registry=registry)
    duration = Histogram("llm_probe_duration_seconds", "", labels, buckets=DURATION_BUCKETS, registry=registry)
    phase = Histogram("llm_probe_phase_duration_seconds", "", (*labels, "phase"), buckets=PHASE_BUCKETS, registry=registry)
    success = Gauge("llm_probe_success", "", labels, registry=registry)
    consecutive = Gauge("llm_probe_consecutive_failures", "", labels, registry=registry)
    consecutive_outage = Gauge("llm_probe_consecutive_outage_failures", "", labels, registry=registry)
    last_run = Gauge("llm_probe_last_run_timestamp_seconds", "", labels, registry=registry)
    interval = Gauge("llm_probe_interval_seconds", "", labels, registry=registry)
    paused = Gauge("llm_probe_paused", "", labels, registry=registry)
    tokens = Counter("llm_probe_tokens", "", (*labels, "direction"), registry=registry)
    cost = Counter("llm_probe_cost_usd", "", labels, registry=registry)
    remaining = Gauge("llm_probe_ratelimit_remaining", "", (*labels, "resource"), registry=registry)
    Gauge("llm_probe_ratelimit_limit", "", (*labels, "resource"), registry=registry)  # no reply advertised a limit
    evidence_probes = Counter("llm_probe_evidence_probes", "", labels, registry=registry)
    evidence_failures = Counter("llm_probe_evidence_failures", "", labels, registry=registry)
    run_seconds = Gauge("llm_probe_outage_run_seconds", "", labels, registry=registry)
    run_server = Gauge("llm_probe_outage_run_server_errors", "", labels, registry=registry)
    successes = Gauge("llm_probe_consecutive_successes", "", labels, registry=registry)
    ttft = Histogram("llm_probe_ttft_seconds", "", labels, buckets=TTFT_BUCKETS, registry=registry)
    tps = Gauge("llm_probe_output_tokens_per_second", "", labels, registry=registry)
    gap = Gauge("llm_probe_stream_max_gap_seconds", "", labels, registry=registry)
    Gauge("llm_quality_score_recent", "", labels, registry=registry)  # no quality check among these records
    Gauge("llm_probe_served_model_mismatch", "", labels, registry=registry)  # no reply named a model here
    deprecated = Gauge("llm_probe_model_deprecated", "", labels, registry=registry)
    Gauge("llm_probe_maintenance", "", labels, registry=registry)  # no maintenance window covers these targets
    Counter("llm_probe_reasoning_exhausted", "", labels, registry=registry)  # no reasoning model among them
    evidence: dict[str, Evidence] = {}
    for target, record, consecutive_failures, outage in records(n):
        label_values = target.labels
        requests.labels(*label_values)
        rechecks.labels(*label_values)
        recheck_failures.labels(*label_values)
        duration.labels(*label_values)
        cost.labels(*label_values)
        paused.labels(*label_values)
        interval.labels(*label_values).set(target.interval)
        # failure counters (and phase histograms, opt-in) appear per error type (phase) once observed
        # phase histograms (opt-in) appear per phase once observed
        for direction in ("input", "output"):
            tokens.labels(*label_values, direction)
        seen = evidence.setdefault(target.id, Evidence())
        before = (seen.probes, seen.failures)
        seen.add(record.ts, record.ok, record.error_type)
        evidence_probes.labels(*label_values).inc(seen.probes - before[0])
        evidence_failures.labels(*label_values).inc(seen.failures - before[1])
        run_seconds.labels(*label_values).set(seen.run_seconds)
        run_server.labels(*label_values).set(seen.run_server_errors)
        successes.labels(*label_values).set(seen.successes)
        if record.ok or record.error_type is ErrorType.TIMEOUT:  # a timeout (31 s here) lands in +Inf only
            duration.labels(*label_values).observe(record.latency_ms / 1000)
        if record.scheduled:
            requests.labels(*label_values).inc()
            if not record.ok:
                failures.labels(*label_values, record.error_type.value).inc()
            for name, seconds in record.phases.items() if record.http_status is not None else ():
                phase.labels(*label_values, name).observe(seconds)
        else:
            rechecks.labels(*label_values).inc()
            if not record.ok:
                recheck_failures.labels(*label_values).inc()
        success.labels(*label_values).set(1 if record.ok else 0)
        consecutive.labels(*label_values).set(consecutive_failures)
        consecutive_outage.labels(*label_values).set(outage)
        last_run.labels(*label_values).set(record.ts)
        tokens.labels(*label_values, "input").inc(record.input_tokens)
        tokens.labels(*label_values, "output").inc(record.output_tokens)
        cost.labels(*label_values).inc(record.cost_usd)
        remaining.labels(*label_values, "requests").set(record.ratelimit["remaining_requests"])
        if record.http_status is not None:
            deprecated.labels(*label_values).set(0)
        if record.ttft_ms is not None:
            ttft.labels(*label_values).observe(record.ttft_ms / 1000)
            tps.labels(*label_values).set(record.tokens_per_s)
            gap.labels(*label_values).set(record.max_gap_ms / 1000)
    return registry


def samples_of(text: str, prefix: str = "llm_probe_") -> dict[str, list[tuple[str, tuple, float]]]:
    return {name: samples for name, (_, _, samples) in families(text).items() if name.startswith(prefix)}


def test_compact_store_keeps_prometheus_client_semantics() -> None:
    """Every per-target sample (cumulative buckets, counters, gauges, optional rate-limit gauges) equals what
    plain prometheus-client metrics give for the same records."""
    ours = samples_of(loaded_metrics(20).render().decode())
    reference = samples_of(generate_latest(reference_registry(20)).decode())
    assert ours.keys() == reference.keys()
    for name in reference:
        assert ours[name] == reference[name], name
    for name in ("llm_probe_duration_seconds", "llm_probe_phase_duration_seconds", "llm_probe_failures", "llm_probe_rechecks"):
        assert any(value > 1 for _, _, value in reference[name]), f"{name}: the records must exercise it"


def test_fast_renderer_matches_the_collector() -> None:
    """/metrics (the fast path) and the registry's collector (generate_latest, get_sample_value) agree."""
    metrics = loaded_metrics(20)
    ours = metrics.render().decode()
    assert families(ours) == families(generate_latest(metrics.registry).decode())
    assert 'model="we\\\\ird \\"q\\""' in ours  # label escaping
    assert "llm_probe_ratelimit_limit{" not in ours, "rate-limit gauges appear only once a reply advertised them"
    assert 'llm_probe_ratelimit_remaining{provider="p",model="m3",region="default",check="chat",resource="requests"} 106.0' in ours


def test_streamed_pieces_are_the_whole_text() -> None:
    metrics = loaded_metrics(400)  # the duration histogram's 13 values a target: 157 targets a block
    pieces = list(metrics.render_chunks(budget=0))
    duration = [piece for piece in pieces if "llm_probe_duration_seconds_bucket{" in piece]
    assert len(duration) == 3, "with no time budget every block of targets is a piece of its own"
    assert all(piece.count("llm_probe_duration_seconds_count{") <= 157 for piece in duration)
    assert "".join(pieces).encode() == metrics.render()


def test_exposition_passes_promtool(tmp_path) -> None:  # type: ignore[no-untyped-def]
    promtool = require_binary("promtool")
    result = subprocess.run([promtool, "check", "metrics"], input=loaded_metrics(5).render(), capture_output=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_removed_targets_disappear() -> None:
    metrics = loaded_metrics(3)
    metrics.probes.remove_target("p/m1/chat")
    assert 'model="m1"' not in metrics.render().decode()
    assert families(metrics.render().decode()) == families(generate_latest(metrics.registry).decode())


def test_series_per_target_by_default() -> None:
    """The default series set (issue 17's budget): phase histograms are opt-in; what a chat target exports before
    any optional family is set is counted in docs/METRICS.md."""
    from healthboard.metrics.families import TARGET_FAMILIES

    metrics = loaded_metrics(3, phases=False)
    text = metrics.render().decode()
    assert "llm_probe_phase_duration_seconds_bucket{" not in text
    default = sum(len(f.children) * (len(f.buckets) + 3 if f.kind == "histogram" else 1) for f in TARGET_FAMILIES if not f.optional)
    assert default == 31  # ≤ 40: issue 17's budget
    # counted on a live rendering: a fresh target has exactly those; each error type seen adds one
    fresh = Metrics()
    fresh.probes.add_target(target("http://sim", "openai"))
    series = [line for line in fresh.render().decode().splitlines() if line.startswith("llm_probe_")]
    assert len(series) == 31 and not [line for line in series if line.startswith("llm_probe_failures_total")], series
    fresh.probes.observe(record(ok=False, error_type=ErrorType.SERVER_ERROR, http_status=500, region="default"))
    fresh.probes.observe(record(ok=False, error_type=ErrorType.SERVER_ERROR, http_status=500, region="default"))
    failures = [line for line in fresh.render().decode().splitlines() if line.startswith("llm_probe_failures_total")]
    assert len(failures) == 1 and failures[0].endswith(" 2") and 'error_type="5xx"' in failures[0], failures
    assert "llm_probe_phase_duration_seconds_bucket{" in loaded_metrics(3, phases=True).render().decode()


def test_every_optional_family_once_set_is_rendered() -> None:
    """The renderer looks only at the optional children the probe metrics marked as set (store.mark): each
    optional family, once a probe sets it, must be on /metrics exactly as the collector (which reads every
    value, marked or not) sees it, and a second target without it must not be."""
    from healthboard.metrics.families import TARGET_FAMILIES

    metrics = Metrics()
    metrics.probes.phases = True
    quiet, busy = target("http://sim", "openai"), target("http://sim", "anthropic")
    metrics.probes.add_target(quiet)
    metrics.probes.add_target(busy)
    metrics.probes.observe(record(provider=busy.provider, model=busy.model, region=busy.region, ok=False, http_status=500,
                                  error_type=ErrorType.SERVER_ERROR))
    metrics.probes.observe(record(provider=busy.provider, model=busy.model, region=busy.region, input_tokens=9, output_tokens=4,
                                  phases={"connect": 0.01, "ttfb": 0.3}, ttft_ms=300.0, tokens_per_s=42.0, max_gap_ms=30.0,
                                  quality_score=80, served_model="claude-x-20250101", deprecation="Sunset: 2026-01-01",
                                  maintenance=True, reasoning_exhausted=True,
                                  ratelimit={"remaining_requests": 5.0, "limit_requests": 10.0, "remaining_tokens": 900.0}))
    text = metrics.render().decode()
    assert families(text) == families(generate_latest(metrics.registry).decode())
    for family in TARGET_FAMILIES:
        if family.optional:
            name = family.exposed_name + ("_count" if family.kind == "histogram" else "")
            assert f"{name}{{provider=\"{busy.provider}\"" in text, family.name
            assert f"{name}{{provider=\"{quiet.provider}\"" not in text, family.name


def test_a_count_that_is_not_a_number_is_written_not_fatal() -> None:
    """Counts are written with %d, which can't write NaN or infinity: such a value (a bug upstream) must still
    give a whole /metrics, that block written as floats, rather than a failed scrape."""
    metrics = loaded_metrics(3, phases=False)
    series = metrics.probes.series
    slot = series.get("p/m1/chat")
    assert slot is not None
    slot.values[series.offsets["llm_probe_requests"]] = float("inf")
    slot.values[series.offsets["llm_probe_success"]] = float("nan")
    text = metrics.render().decode()
    assert 'llm_probe_requests_total{provider="p",model="m1",region="default",check="chat"} inf\n' in text
    assert 'llm_probe_requests_total{provider="p",model="m0",region="default",check="chat"} 6.0\n' in text  # its block, as floats
    requests = {dict(labels)["model"]: value for _, labels, value in families(text)["llm_probe_requests"][2]}
    assert requests["m0"] == 6 and requests["m1"] == float("inf")
