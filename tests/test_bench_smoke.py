"""Smoke run of bench/probe_engine.py: 100 targets for a few seconds. It checks only that the benchmark
works and the peer (blackbox_exporter) starts and probes; the figures come from `make bench`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require_binary

ROOT = Path(__file__).parents[1]


@pytest.mark.timeout(180)
def test_probe_engine_benchmark_runs_both_engines() -> None:
    require_binary("prometheus-blackbox-exporter")
    result = subprocess.run([sys.executable, "bench/probe_engine.py", "--targets", "100", "--seconds", "6", "--stress-targets", "100", "--stream-targets", "60", "--smoke"],
                            cwd=ROOT, capture_output=True, text=True, timeout=170)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "| 100 | CPU s / 1000 probes |" in result.stdout
    assert "| 100 | probes (failed) |" in result.stdout
    assert "| 100 | stress: scrapes during the run, sink rows written |" in result.stdout
    assert "| time to first token: ours − the simulator's |" in result.stdout
