"""Smoke runs of the benchmarks: bench/probe_engine.py with 100 targets for a few seconds (that it works and the
peer, blackbox_exporter, starts and probes; the figures come from `make bench`), bench/elevated_replay.py,
bench/latency_replay.py and bench/page_replay.py."""

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


@pytest.mark.timeout(120)
def test_elevated_replay_finds_a_strong_incident_and_nothing_without_one() -> None:
    """bench/elevated_replay.py (the offline replay behind docs/ALERTING.md's 10 % figures): a 30 % outage passes the
    10 % test within 15 minutes every time; with no outage the test never passes."""
    def replay(*extra: str) -> str:
        result = subprocess.run([sys.executable, "bench/elevated_replay.py", "--incidents", "6", "--days", "1", "--targets", "1",
                                 "--noise-levels", "0.015", *extra], cwd=ROOT, capture_output=True, text=True, timeout=110)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    strong = replay("--ratio", "0.3")
    assert "1 region(s): 0% of 6 incidents later than 900 s" in strong, strong
    assert "2 region(s): 0% of 6 incidents later than 900 s" in strong, strong
    none = replay("--ratio", "0")
    assert "1 region(s): 100% of 6 incidents later than 900 s" in none, none
    assert "2 region(s): 100% of 6 incidents later than 900 s" in none, none


@pytest.mark.timeout(120)
def test_latency_replay_shows_why_slow_threshold_is_3s() -> None:
    """bench/latency_replay.py (docs/ALERTING.md's latency figures): every seeded p95-to-8 s incident is found, and
    re-checking answers from 3 s finds them sooner than waiting for S2's 5 s, for a few more probes over noise."""
    result = subprocess.run([sys.executable, "bench/latency_replay.py", "--incidents", "20", "--days", "2", "--targets", "1"],
                            cwd=ROOT, capture_output=True, text=True, timeout=110)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:-1]]
            for line in result.stdout.splitlines() if line.startswith("| ") and line.split("|")[1].strip().endswith(" s")}
    assert list(rows) == ["5 s", "3 s"], result.stdout
    assert all(row[2] != "inf" for row in rows.values()), result.stdout  # every incident found
    assert float(rows["3 s"][0]) < float(rows["5 s"][0]), result.stdout  # median
    assert rows["3 s"][3] == "0.0%", result.stdout  # none later than 5 minutes
    assert float(rows["3 s"][5].rstrip("%")) > float(rows["5 s"][5].rstrip("%")), result.stdout  # the price: more probes


@pytest.mark.timeout(120)
def test_page_replay_pages_on_a_hard_outage_and_not_on_noise() -> None:
    """bench/page_replay.py (docs/ALERTING.md's 300 target-days per noise level): a hard outage pages each target once;
    3 % background failures alone page nobody."""
    def replay(*extra: str) -> str:
        result = subprocess.run([sys.executable, "bench/page_replay.py", "--levels", "0.03", "--targets", "2", "--days", "2", *extra],
                                cwd=ROOT, capture_output=True, text=True, timeout=110)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    assert "| 3.0% | 2 |" in replay("--hard-outage")
    assert "| 3.0% | 0 |" in replay()


@pytest.mark.timeout(120)
def test_memory_books_benchmark_reports_each_stage() -> None:
    """bench/memory_books.py (steady-state RSS behind docs/PERFORMANCE.md): every stage printed, and the history
    and the health windows do cost memory (a stage that costs nothing means the feeding broke)."""
    result = subprocess.run([sys.executable, "bench/memory_books.py", "--targets", "2000", "--hours", "30"],
                            cwd=ROOT, capture_output=True, text=True, timeout=110)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {line.split("|")[1].strip(): float(line.split("|")[2]) for line in result.stdout.splitlines()
            if line.startswith("| ") and not line.startswith("| stage")}
    assert list(rows) == ["config and plan", "exporter built", "30 hours of history (a probe an hour)", "and the last 15 minutes' probes"], rows
    values = list(rows.values())
    assert values[0] < values[1] < values[2] < values[3], rows
