"""Embeddings checks (``check: embeddings``): one short input through each format's embeddings API on the
simulator; the vector must be finite, not all zeros, and of the configured dimension."""

from __future__ import annotations

import pytest

from healthboard.config import parse_config
from healthboard.errors import ConfigError
from healthboard.plan import build_plan
from healthboard.prober.engine import ProbeEngine

from conftest import KIND_EXAMPLES, Sim

MODELS = {"openai": "text-embedding-3-small", "azure-openai": "my-embeddings", "gemini": "gemini-embedding-001", "cohere": "embed-v4.0"}


def embeddings_target(url: str, kind: str, dimensions: int | None = None):  # type: ignore[no-untyped-def]
    base, key, _, options = KIND_EXAMPLES[kind]
    extra = f", dimensions: {dimensions}" if dimensions else ""
    text = (f"timeout: 3s\nproviders:\n  - name: p\n    kind: {kind}\n    base_url: {base.format(url=url)}\n    api_key: {key}\n"
            + (f"    {options}\n" if options else "") + f"    models: [{{name: {MODELS[kind]}, check: embeddings{extra}}}]\n")
    return build_plan(parse_config(text, "t", {}), {}).targets[0]


@pytest.mark.parametrize("kind", list(MODELS))
async def test_embeddings_pass_and_bad_vectors_fail(sim: Sim, kind: str) -> None:
    async with ProbeEngine() as engine:
        record = await engine.probe(embeddings_target(sim.url, kind, 256))
        assert record.ok and record.error_type is None, record
        sim.script("latency: 1ms\nrules:\n  - faults: {bad_embedding: 1.0}\n")
        zeros = await engine.probe(embeddings_target(sim.url, kind))
        assert zeros.error_type is not None and zeros.error_type.value == "invalid_response" and "all zeros" in (zeros.error_message or "")
        sim.script("latency: 1ms\n")
        if kind == "azure-openai":  # a deployment name: the simulator can't know its model's default dimension
            return
        wrong = await engine.probe(embeddings_target(sim.url, kind, None))
        assert wrong.ok  # no dimension configured: any non-empty finite vector
        sim.script("latency: 1ms\nrules:\n  - faults: {server_error: 1.0}\n")
        failed = await engine.probe(embeddings_target(sim.url, kind))
        assert failed.error_type is not None and failed.error_type.value == "5xx"


def test_a_vector_of_the_wrong_dimension_or_not_finite_fails() -> None:
    import json

    from multidict import CIMultiDict

    from healthboard.prober import WIRE_FORMATS, Reply

    wire = WIRE_FORMATS["openai"]

    def judge(vector: object, expected: int | None = 3):  # type: ignore[no-untyped-def]
        body = json.dumps({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": vector}]}).encode()
        return wire.judge_embeddings(Reply(200, CIMultiDict(), body), expected)

    assert judge([0.1, 0.2, 0.3]).ok
    assert "4 dimensions, 3 expected" in (judge([0.1, 0.2, 0.3, 0.4]).message or "")
    assert "not finite" in (judge([0.1, "x", 0.3]).message or "")
    assert "no embedding vector" in (judge([]).message or "")


def test_a_kind_without_embeddings_refuses_the_check() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("providers:\n  - {name: a, kind: anthropic, base_url: 'http://x', models: [{name: m, check: embeddings}]}\n", "t", {})
    assert "unknown check 'embeddings' for kind anthropic; it can run: 'chat', 'stream', 'quality'" in str(caught.value)
