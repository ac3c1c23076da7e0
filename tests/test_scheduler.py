"""The scheduler on real sockets against the simulator, with sub-second intervals so tests stay short."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from healthboard.evidence import Suspicion
from healthboard.metrics import Metrics
from healthboard.prober.engine import ProbeEngine
from healthboard.events import Event, Probed
from healthboard.record import CheckRecord
from healthboard.scheduler import Scheduler, spread_offsets

from conftest import Sim, target, targets_for


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


class Run:
    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self.records: list[tuple[float, CheckRecord]] = []
        scheduler.consumers.append(self._on)

    def _on(self, event: Event) -> None:
        if type(event) is Probed:
            self.records.append((asyncio.get_running_loop().time(), event.record))

    def of(self, provider: str) -> list[tuple[float, CheckRecord]]:
        return [(t, r) for t, r in self.records if r.provider == provider]


async def run_for(seconds: float, targets, recheck_interval: float | None = None, window: float = 0.0, **kwargs) -> tuple[Run, Metrics]:  # type: ignore[no-untyped-def]
    if recheck_interval is not None:
        kwargs["suspicion"] = Suspicion(window=window, recheck=recheck_interval, fast=recheck_interval / 2)
    metrics = Metrics()
    async with ProbeEngine() as engine:
        scheduler = Scheduler(engine, **kwargs)
        scheduler.consumers.append(metrics.probes)
        run = Run(scheduler)
        scheduler.configure(targets)
        scheduler.start()
        await asyncio.sleep(seconds)
        await scheduler.stop()
    return run, metrics


def test_offsets_spread_evenly_per_interval_group() -> None:
    base = target("http://x", interval="30s")
    targets = [dataclasses.replace(base, model=f"m{i}") for i in range(4)] + [dataclasses.replace(base, model="z", interval=10.0)]
    offsets = spread_offsets(targets)
    assert sorted(offsets[t.id] for t in targets[:4]) == [0, 7.5, 15, 22.5]
    assert offsets["openai/z/chat"] == 0


async def test_targets_never_fire_in_a_burst(sim: Sim) -> None:
    base = target(sim.url, interval="1s", timeout="500ms")
    targets = [dataclasses.replace(base, model=f"model-{i}") for i in range(5)]
    run, _ = await run_for(0.95, targets)
    starts = sorted(t for t, _ in run.records)
    assert len(starts) == 5
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert min(gaps) > 0.12, gaps  # 1 s / 5 targets = 0.2 s apart


async def test_failure_is_rechecked_sooner_without_biasing_counters(sim: Sim) -> None:
    sim.script("latency: 5ms\nrules:\n  - match: {kind: openai}\n    faults: {server_error: 1.0}\n")
    t = target(sim.url, interval="1s", timeout="200ms")
    run, metrics = await run_for(2.1, [t], recheck_interval=0.25)
    scheduled = [r for _, r in run.records if r.scheduled]
    rechecks = [r for _, r in run.records if not r.scheduled]
    labels = dict(provider="openai", model="gpt-4o-mini", region="default", check="chat")
    assert len(scheduled) == 3  # t = 0, 1, 2: the grid is unchanged by failures
    assert len(rechecks) >= 4
    assert sample(metrics, "llm_probe_requests_total", **labels) == len(scheduled)
    assert sample(metrics, "llm_probe_failures_total", **labels, error_type="5xx") == len(scheduled)
    assert sample(metrics, "llm_probe_rechecks_total", **labels) == len(rechecks)
    assert sample(metrics, "llm_probe_recheck_failures_total", **labels) == len(rechecks)
    assert sample(metrics, "llm_probe_consecutive_failures", **labels) == len(run.records)
    assert sample(metrics, "llm_probe_consecutive_outage_failures", **labels) == len(run.records)


async def test_suspicion_keeps_sampling_after_recovery_then_relaxes(sim: Sim) -> None:
    # one failure, then successes: re-checks go on (every 0.2 s) until the window (0.8 s) has passed since the
    # failure, then only the regular grid (every 1 s) remains
    sim.script("latency: 2ms\nrules:\n  - match: {kind: openai}\n    sequence: [server_error, ok, ok, ok, ok, ok, ok, ok, ok, ok, ok, ok, ok]\n")
    run, metrics = await run_for(2.6, [target(sim.url, interval="1s", timeout="100ms")], recheck_interval=0.2, window=0.8)
    times = [t for t, _ in run.records]
    rechecks = [r for _, r in run.records if not r.scheduled]
    assert 3 <= len(rechecks) <= 4, [(round(t - times[0], 2), r.scheduled) for t, r in run.records]
    assert all(r.ok for r in rechecks)
    assert all(t - times[0] < 0.85 for t, r in run.records if not r.scheduled)
    labels = dict(provider="openai", model="gpt-4o-mini", region="default", check="chat")
    assert sample(metrics, "llm_probe_consecutive_successes", **labels) == len(run.records) - 1
    assert sample(metrics, "llm_probe_evidence_probes_total", **labels) == len(run.records)
    assert sample(metrics, "llm_probe_evidence_failures_total", **labels) == 1


async def test_second_suspicious_outcome_in_the_window_samples_faster(sim: Sim) -> None:
    sim.script("latency: 2ms\nrules:\n  - match: {kind: openai}\n    faults: {server_error: 1.0}\n")
    run, metrics = await run_for(1.0, [target(sim.url, interval="1s", timeout="100ms")], recheck_interval=0.2, window=2.0)
    # the gaps before each re-check (the regular tick at 1 s, recorded since stop() lets it finish, keeps its grid)
    gaps = [round(b[0] - a[0], 2) for a, b in zip(run.records, run.records[1:]) if not b[1].scheduled]
    assert len(gaps) >= 6 and gaps[0] == pytest.approx(0.2, abs=0.04), gaps  # after the first failure: recheck_interval
    assert all(g == pytest.approx(0.1, abs=0.04) for g in gaps[1:3]), gaps  # after the second and third: the fast interval
    assert all(g == pytest.approx(0.05, abs=0.03) for g in gaps[3:]), gaps  # four within a minute: half of it
    labels = dict(provider="openai", model="gpt-4o-mini", region="default", check="chat")
    # a run of server errors counts twice as evidence, however long it is
    assert sample(metrics, "llm_probe_evidence_failures_total", **labels) == 2
    assert sample(metrics, "llm_probe_outage_run_server_errors", **labels) == len(run.records)
    assert sample(metrics, "llm_probe_outage_run_seconds", **labels) == pytest.approx(run.records[-1][1].ts - run.records[0][1].ts)


async def test_misconfiguration_is_not_rechecked(sim: Sim) -> None:
    sim.script("latency: 5ms\nrules:\n  - faults: {unauthorized: 1.0}\n")
    run, metrics = await run_for(1.5, [target(sim.url, interval="1s", timeout="200ms")], recheck_interval=0.25)
    assert all(r.scheduled for _, r in run.records) and len(run.records) == 2
    labels = dict(provider="openai", model="gpt-4o-mini", region="default", check="chat")
    assert sample(metrics, "llm_probe_consecutive_failures", **labels) == 2
    assert sample(metrics, "llm_probe_consecutive_outage_failures", **labels) == 0


async def test_rate_limit_doubles_interval_then_resets(sim: Sim) -> None:
    sim.script("""
latency: 1ms
rules:
  - match: {kind: openai}
    sequence: [rate_limit, rate_limit, rate_limit, ok, ok, ok, ok, ok, ok]
    retry_after: 0.1s
""")
    run, metrics = await run_for(3.3, [target(sim.url, interval="300ms", timeout="100ms")], backoff_max=1.0)
    times = [t for t, _ in run.records]
    gaps = [round(b - a, 2) for a, b in zip(times, times[1:])]
    # 429 → 0.6 s (2×), 429 → 1.0 s (4× capped), 429 → 1.0 s (cap), ok → back to the 0.3 s grid
    assert gaps[0] == pytest.approx(0.6, abs=0.06), gaps
    assert gaps[1] == pytest.approx(1.0, abs=0.06), gaps
    assert gaps[2] == pytest.approx(1.0, abs=0.06), gaps
    assert all(g <= 0.36 for g in gaps[3:]), gaps
    assert not any(not r.scheduled for _, r in run.records)  # 429s are never re-checked
    labels = dict(provider="openai", model="gpt-4o-mini", region="default", check="chat")
    assert sample(metrics, "llm_probe_interval_seconds", **labels) == pytest.approx(0.3)


async def test_retry_after_larger_than_doubling_is_honoured(sim: Sim) -> None:
    sim.script("latency: 1ms\nrules:\n  - match: {kind: openai}\n    sequence: [rate_limit, ok]\n    retry_after: 1.2s\n")
    run, _ = await run_for(1.6, [target(sim.url, interval="300ms", timeout="100ms")], backoff_max=5.0)
    times = [t for t, _ in run.records]
    assert times[1] - times[0] == pytest.approx(1.2, abs=0.08)


async def test_hanging_target_does_not_delay_others(sim: Sim) -> None:
    sim.script("latency: 2ms\nrules:\n  - match: {kind: anthropic}\n    faults: {hang: 1.0}\n    hang_for: 10s\n")
    hanging = target(sim.url, "anthropic", interval="1s", timeout="900ms")
    healthy = [dataclasses.replace(target(sim.url, interval="200ms", timeout="100ms"), model=f"m{i}") for i in range(3)]
    run, metrics = await run_for(2.05, [hanging, *healthy], concurrency=4, recheck_interval=0.9)
    for model in ("m0", "m1", "m2"):
        times = [t for t, r in run.records if r.model == model]
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert len(times) >= 9 and max(gaps) < 0.26, (model, gaps)
    assert any(r.error_type and r.error_type.value == "timeout" for _, r in run.of("anthropic"))
    count = sample(metrics, "healthboard_scheduler_lag_seconds_count")
    total = sample(metrics, "healthboard_scheduler_lag_seconds_sum")
    assert count >= 30 and total / count < 0.02


async def test_reconfigure_keeps_state_and_removes_series(sim: Sim) -> None:
    sim.script("latency: 1ms\nrules:\n  - match: {kind: anthropic}\n    faults: {server_error: 1.0}\n")
    a, b = targets_for(sim.url, ["openai", "anthropic"], interval="300ms", timeout="100ms")
    metrics = Metrics()
    async with ProbeEngine() as engine:
        scheduler = Scheduler(engine, suspicion=Suspicion(recheck=0))
        scheduler.consumers.append(metrics.probes)
        scheduler.configure([a, b])
        scheduler.start()
        await asyncio.sleep(0.5)
        failures = scheduler.states[b.id].consecutive
        scheduler.configure([b])
        await asyncio.sleep(0.05)
        assert scheduler.states[b.id].consecutive >= failures >= 1
        assert a.id not in scheduler.states
        assert metrics.registry.get_sample_value("llm_probe_requests_total", dict(provider="openai", model=a.model, region="default", check="chat")) is None
        await scheduler.stop()


async def test_reload_with_same_settings_keeps_running_tasks(sim: Sim) -> None:
    async with ProbeEngine() as engine:
        scheduler = Scheduler(engine)
        scheduler.configure(targets_for(sim.url, ["openai"], interval="10s", timeout="1s"))
        scheduler.start()
        task = next(iter(scheduler._tasks.values()))  # noqa: SLF001
        scheduler.configure(targets_for(sim.url, ["openai"], interval="10s", timeout="1s"))  # a new plan, equal targets
        assert next(iter(scheduler._tasks.values())) is task  # noqa: SLF001
        scheduler.configure(targets_for(sim.url, ["openai"], interval="20s", timeout="1s"))
        assert next(iter(scheduler._tasks.values())) is not task  # noqa: SLF001
        await scheduler.stop()


def test_suspicion_cadence_tiers() -> None:
    # one suspicious outcome: recheck; two within the window: fast; four within a minute (an outage under way): half
    # of fast; back to fast, then to recheck, as they age out of the minute and the window; then the grid alone
    suspicion = Suspicion(window=120.0, recheck=7.5, fast=3.0)
    cadence = []
    for now in (0.0, 7.5, 10.5, 13.5):
        suspicion.observe(now, True)
        cadence.append(suspicion.next_recheck(now) - now)
    assert cadence == [7.5, 3.0, 3.0, 1.5]
    for now in (15.0, 16.5):
        suspicion.observe(now, False)
        assert suspicion.next_recheck(now) == now + 1.5
    suspicion.observe(60.5, False)  # the minute now holds three of the four
    assert suspicion.next_recheck(60.5) == 60.5 + 3.0
    suspicion.observe(128.0, False)  # the window still holds two
    assert suspicion.next_recheck(128.0) == 128.0 + 3.0
    suspicion.observe(131.0, False)  # only the last one
    assert suspicion.next_recheck(131.0) == 131.0 + 7.5
    suspicion.observe(134.0, False)
    assert suspicion.next_recheck(134.0) is None


def test_a_slowish_answer_is_suspicious_by_default() -> None:
    # the default slow_threshold is below S2's 5 s: a latency incident is sampled densely from its first 3 s answers
    from healthboard.config.model import Config
    from healthboard.evidence import is_suspicious

    threshold = Config().slow_threshold
    assert threshold == 3.0
    assert is_suspicious(True, None, 3.2, threshold)
    assert not is_suspicious(True, None, 2.9, threshold)


def test_a_slow_model_is_judged_by_its_usual_latency() -> None:
    # a model whose one-token answer takes 1.2 s by nature is slow for itself at 3.6 s, not at the 3 s default; one
    # that takes 2 s is slow at S2's 5 s and no later; a configured threshold above that stands
    from healthboard.evidence import SLOW_BOUND, UsualLatency

    usual = UsualLatency()
    assert usual.slow_threshold(3.0) == 3.0  # no answer yet
    for _ in range(200):
        usual.add(0.6)
    assert usual.slow_threshold(3.0) == 3.0
    for _ in range(200):
        usual.add(1.2)
    assert usual.slow_threshold(3.0) == pytest.approx(3.6, rel=0.01)
    for _ in range(200):
        usual.add(2.0)
    assert usual.slow_threshold(3.0) == SLOW_BOUND == 5.0
    assert usual.slow_threshold(8.0) == 8.0
    steady = UsualLatency()
    for _ in range(200):
        steady.add(0.6)
    steady.add(30.0)  # one spike moves it by 1/32 in log space, not to the spike
    assert steady.slow_threshold(0.0) == pytest.approx(3 * 0.6 * (30 / 0.6) ** (1 / 32), rel=0.01)


async def test_slow_answers_are_rechecked_until_they_are_usual(sim: Sim) -> None:
    # every answer takes 150 ms: slower than the 100 ms threshold, so the first one is suspicious and re-checked;
    # from then on the target's usual latency (150 ms) puts its slow threshold at 450 ms, and it is not re-checked
    # again once the suspicion window (0.5 s) has passed
    sim.script("latency: 150ms\n")
    t = target(sim.url, interval="1s", timeout="500ms")
    run, _ = await run_for(2.6, [t], recheck_interval=0.3, window=0.5, slow_threshold=0.1)
    times = [t for t, _ in run.records]
    assert all(r.ok for _, r in run.records)
    rechecks = [t - times[0] for t, r in run.records if not r.scheduled]
    assert rechecks and all(x < 0.7 for x in rechecks), [(round(t - times[0], 2), r.scheduled) for t, r in run.records]
    assert sum(r.scheduled for _, r in run.records) == 3
    quiet, _ = await run_for(1.5, [t], recheck_interval=0.3, slow_threshold=0.4)
    assert all(r.scheduled for _, r in quiet.records)
