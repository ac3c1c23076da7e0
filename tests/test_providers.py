"""Every registered wire format is complete: documented fixtures, a simulated counterpart that serves it, and a
prober that classifies what the simulator answers. Adding a provider (README: "Adding a provider") makes these
run for it; a piece left out fails here, by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from healthboard.config import parse_config
from healthboard.plan import build_plan
from healthboard.prober import WIRE_FORMATS
from healthboard.prober.engine import ProbeEngine

from conftest import KIND_EXAMPLES, Sim

FIXTURES = Path(__file__).parent / "fixtures"
#: Faults every simulated format renders, and what the prober must make of them.
CORE_FAULTS = {"unauthorized": "auth", "server_error": "5xx", "rate_limit": "rate_limit", "not_found": "not_found",
               "malformed_json": "invalid_response"}


def example_target(url: str, kind: str):  # type: ignore[no-untyped-def]
    assert kind in KIND_EXAMPLES, f"add an example of kind {kind!r} to KIND_EXAMPLES in tests/conftest.py"
    base, key, model, extra = KIND_EXAMPLES[kind]
    lines = [f"timeout: 2s\nproviders:\n  - name: p\n    kind: {kind}\n    base_url: {base.format(url=url)}\n    api_key: {key}\n",
             f"    models: [{model}]\n"]
    if extra:
        lines.insert(1, f"    {extra}\n")
    return build_plan(parse_config("".join(lines), "t", {}), {}).targets[0]


@pytest.mark.parametrize("kind", list(WIRE_FORMATS))
def test_documented_fixtures_exist(kind: str) -> None:
    folder = FIXTURES / kind
    names = {p.stem for p in folder.glob("*.json")}
    assert "success" in names, f"tests/fixtures/{kind}/success.json: a documented successful reply (see the README's guide)"
    assert len(names) >= 3, f"tests/fixtures/{kind}/: a success and at least two documented error replies, found {sorted(names)}"


@pytest.mark.parametrize("kind", list(WIRE_FORMATS))
async def test_the_simulator_serves_it_and_the_prober_reads_it(sim: Sim, kind: str) -> None:
    target = example_target(sim.url, kind)
    async with ProbeEngine() as engine:
        record = await engine.probe(target)
        assert record.ok and record.http_status == 200 and record.output_tokens == 1, (
            f"{kind}: no successful probe against the simulator; add its simulated counterpart to "
            f"healthboard/simulator/wire/ and SIM_WIRES: {record}")
        for fault, expected in CORE_FAULTS.items():
            sim.script(f"latency: 1ms\nrules:\n  - faults: {{{fault}: 1.0}}\n")
            record = await engine.probe(target)
            assert record.error_type is not None and record.error_type.value == expected, (kind, fault, record)
