"""The fast /metrics renderer must produce exactly what prometheus-client's generate_latest does."""

from __future__ import annotations

import json
import time

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from healthboard.config import parse_config
from healthboard.metrics import Metrics
from healthboard.record import CheckRecord, ErrorType
from healthboard.targets import build_plan


def families(text: str) -> dict[str, tuple[str, str, list[tuple[str, tuple, float]]]]:
    out = {}
    for family in text_string_to_metric_families(text):
        samples = sorted((s.name, tuple(sorted(s.labels.items())), s.value) for s in family.samples)
        out[family.name] = (family.type, family.documentation, samples)
    return out


def loaded_metrics(n: int) -> Metrics:
    names = [f"m{i}" for i in range(n)] + ['we\\ird "q"']
    models = ", ".join(json.dumps(name) for name in names)
    config = parse_config(f"providers:\n  - {{name: p, kind: openai, base_url: http://x/v1, api_key: k-0123456789, models: [{models}]}}\n", environ={})
    metrics = Metrics()
    targets = build_plan(config, {}).targets
    for target in targets:
        metrics.add_target(target)
    for i, target in enumerate(targets):
        ok = i % 3 != 0
        record = CheckRecord(ts=1.7e9 + i, provider=target.provider, model=target.model, region=target.region, check="chat", ok=ok,
                             http_status=200 if ok else 529, error_type=None if ok else ErrorType.OVERLOADED, latency_ms=100.0 + i,
                             input_tokens=8, output_tokens=1, phases={"connect": 0.001, "ttfb": 0.099}, cost_usd=1e-6,
                             ratelimit={"remaining_requests": 99.0}, scheduled=i % 5 != 0)
        metrics.observe(record, consecutive=i % 4, consecutive_outage=i % 2)
    metrics.lag.observe(0.002)
    return metrics


def test_fast_renderer_matches_prometheus_client() -> None:
    metrics = loaded_metrics(20)
    ours = metrics.render().decode()
    reference = generate_latest(metrics.registry).decode()
    assert families(ours) == families(reference)
    assert sorted(line for line in ours.splitlines() if not line.startswith("#")) == sorted(
        line for line in reference.splitlines() if not line.startswith("#")), "same text, line for line"
    assert 'model="we\\\\ird \\"q\\""' in ours  # label escaping


def test_removed_targets_disappear() -> None:
    metrics = loaded_metrics(3)
    metrics.remove_target("p/m1/chat")
    assert 'model="m1"' not in metrics.render().decode()
    assert families(metrics.render().decode()) == families(generate_latest(metrics.registry).decode())


def test_fast_renderer_is_faster() -> None:
    metrics = loaded_metrics(300)
    started = time.perf_counter()
    generate_latest(metrics.registry)
    reference = time.perf_counter() - started
    metrics.render()  # warm the label cache, as the first scrape does
    started = time.perf_counter()
    metrics.render()
    ours = time.perf_counter() - started
    assert ours < reference / 2, (ours, reference)
