"""Replicas that split the work (healthboard/cluster/): rendezvous ownership, the lease rows in a real PostgreSQL,
the scheduler's hand-over, and three real exporter processes sharing 300 targets through a SIGKILL and a restart
(bench/cluster.py)."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import time

import asyncpg
import pytest

from healthboard.cluster import PostgresLease, rendezvous_owner
from healthboard.events import Event, Probed, TargetHandedOver
from healthboard.metrics import Metrics
from healthboard.prober.engine import ProbeEngine
from healthboard.scheduler import Scheduler
from healthboard.secrets import Secret
from prometheus_client import CollectorRegistry

from conftest import Sim, target
from helpers import Database


def test_rendezvous_spreads_evenly_and_moves_only_the_departed_members_targets() -> None:
    targets = [f"sim/m{i}/chat" for i in range(3000)]
    three = {t: rendezvous_owner(t, ["r1", "r2", "r3"]) for t in targets}
    counts = collections.Counter(three.values())
    assert all(900 <= n <= 1100 for n in counts.values()), counts
    two = {t: rendezvous_owner(t, ["r1", "r2"]) for t in targets}
    moved = [t for t in targets if three[t] != two[t]]
    assert moved and all(three[t] == "r3" for t in moved)  # nobody else's targets move
    assert {t for t in targets if three[t] == "r3"} == set(moved)
    assert rendezvous_owner("x", []) is None


async def test_lease_joins_after_the_delay_expires_and_leaves(db: Database) -> None:
    dsn = Secret(db.dsn("healthboard_writer"))
    a = PostgresLease(dsn, "seoul", "a", 2.0, CollectorRegistry())
    b = PostgresLease(dsn, "seoul", "b", 2.0, CollectorRegistry())
    other_region = PostgresLease(dsn, "us-east", "a", 2.0, CollectorRegistry())
    assert await a.beat() and await other_region.beat()
    now = time.time()
    assert a.coordinated and a.view.active(now + a.offset) == []  # joined, active only after lease/2
    assert not a.owns("t", now)
    await asyncio.sleep(1.1)
    assert await a.beat() and await b.beat()
    now = time.time()
    assert a.view.active(now + a.offset) == ["a"]
    assert a.owns("t", now) and a.owns("u", now)
    assert not b.owns("t", now)  # still joining
    later = now + 1.1
    assert sorted(b.view.active(later + b.offset)) == ["a", "b"]  # both see b become active at the same time
    await a.beat()
    assert sorted(a.view.active(later + a.offset)) == ["a", "b"]
    targets = [f"t{i}" for i in range(50)]
    assert all(a.owns(t, later) != b.owns(t, later) for t in targets)  # exactly one owner per target and tick
    assert {m.name for m in other_region.view.members} == {"a"}  # regions are independent
    # b stops renewing (killed): a takes every target once b's lease has run out, with no heartbeat needed
    for _ in range(6):
        await asyncio.sleep(0.4)
        assert await a.beat()
    assert all(a.owns(t, time.time()) for t in targets)
    # a leaves: its lease ends lease/2 later and it keeps probing until then
    started = time.monotonic()
    await a.leave()
    assert 0.6 <= time.monotonic() - started <= 1.5
    rows = await db.fetch("SELECT member, expires_at <= now() AS ended FROM healthboard_members WHERE region = 'seoul' ORDER BY member")
    assert [(r["member"], r["ended"]) for r in rows] == [("a", True), ("b", True)]
    assert not a.owns("t0", time.time())


async def test_a_second_process_under_the_same_name_is_noticed(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    dsn = Secret(db.dsn("healthboard_writer"))
    first, second = (PostgresLease(dsn, "seoul", "same", 3.0, CollectorRegistry()) for _ in range(2))
    await first.beat()
    await second.beat()
    assert second.metrics.takeovers._value.get() == 1  # noqa: SLF001
    assert "two replicas with the same cluster.member" in caplog.text


async def test_database_lost_fails_open(db: Database) -> None:
    lease = PostgresLease(Secret(db.dsn("healthboard_writer")), "seoul", "a", 2.0, CollectorRegistry())
    await lease.beat()
    lease.dsn = Secret("postgresql://healthboard_writer:x@127.0.0.1:1/none")  # the database is gone
    await lease._drop_connection()  # noqa: SLF001
    assert not await lease.beat()
    assert lease.metrics.heartbeat_errors._value.get() == 1  # noqa: SLF001
    await asyncio.sleep(2.1)  # our lease runs out: nobody knows who else is alive, so probe everything
    await lease.beat()
    assert not lease.coordinated and lease.metrics.coordinated._value.get() == 0  # noqa: SLF001
    assert lease.owns("any", time.time())


async def test_the_writer_reaches_the_members_only_through_its_functions(db: Database) -> None:
    writer = await asyncpg.connect(db.dsn("healthboard_writer"), statement_cache_size=0)
    try:
        for statement in ("SELECT * FROM healthboard_members", "DELETE FROM healthboard_members",
                          "UPDATE healthboard_members SET expires_at = now() + interval '1 year'"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await writer.execute(statement)
        with pytest.raises(asyncpg.RaiseError, match="lease_seconds"):
            await writer.fetch("SELECT * FROM healthboard_cluster_heartbeat('r', 'm', gen_random_uuid(), 100000, 1)")
    finally:
        await writer.close()
    anon = await asyncpg.connect(db.dsn("anon"), statement_cache_size=0)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await anon.fetch("SELECT * FROM healthboard_cluster_heartbeat('r', 'm', gen_random_uuid(), 10, 1)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await anon.fetch("SELECT * FROM healthboard_members")
    finally:
        await anon.close()


@dataclasses.dataclass
class Flip:
    """An ownership that gives this replica a target from ``start`` to ``end`` (unix seconds) only."""

    start: float
    end: float

    def owns(self, target_id: str, at: float) -> bool:
        return self.start <= at < self.end


async def test_scheduler_probes_only_owned_ticks_and_hands_over(sim: Sim) -> None:
    now = time.time()
    ownership = Flip(now + 0.7, now + 1.9)
    events: list[Event] = []
    metrics = Metrics()
    async with ProbeEngine() as engine:
        scheduler = Scheduler(engine, ownership=ownership)
        scheduler.consumers += [metrics.probes, events.append]
        scheduler.configure([target(sim.url, interval="250ms", timeout="100ms")])
        scheduler.start()
        await asyncio.sleep(2.6)
        await scheduler.stop()
    probed = [e.record.ts for e in events if type(e) is Probed]
    assert probed and all(ownership.start - 0.05 <= ts < ownership.end + 0.05 for ts in probed), [t - now for t in probed]
    assert 4 <= len(probed) <= 5
    # the grid is on the wall clock, the same on every replica
    phases = {round((ts % 0.25), 2) for ts in probed}
    assert max(phases) - min(phases) < 0.05, phases
    handed = [e.here for e in events if type(e) is TargetHandedOver]
    assert handed == [False, True, False]
    assert metrics.registry.get_sample_value("healthboard_targets") == 0  # its series left this replica's /metrics
    assert metrics.registry.get_sample_value("llm_probe_requests_total", {"provider": "openai", "model": "gpt-4o-mini",
                                                                         "region": "default", "check": "chat"}) is None


@pytest.mark.slow
def test_three_replicas_share_300_targets_through_a_kill_and_a_restart(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """bench/cluster.py's story, shortened: 3 replicas, 300 targets at 5 s, lease 4 s, SIGKILL at 40 s, restart at
    65 s, stop at 100 s. Every tick is probed exactly once (none twice; none missed but the killed replica's
    before its takeover), the takeover is within 2 × interval and the restarted replica gets its targets back."""
    from bench.cluster import run

    try:
        result = asyncio.run(run(replicas=3, targets=300, interval=5.0, lease=4.0, seconds=100.0, kill_at=40.0,
                                 restart_at=65.0, work=tmp_path))
    except Exception as exc:  # noqa: BLE001
        logs = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(tmp_path.glob("*.log")))
        raise AssertionError(f"{exc}\n{logs}") from exc
    print("cluster figures:", json.dumps(result, indent=1))
    assert result["targets"] == 300
    assert result["duplicate_ticks"] == 0, result["examples"]
    assert result["missed_ticks_outside_kill"] == 0, result["examples"]
    assert set(result["probes_per_replica"]) == {"r1", "r2", "r3"}
    assert 60 <= result["victim_targets"] <= 140, result
    assert result["takeover_targets"] == result["victim_targets"]
    assert result["takeover_max_s"] <= 2 * 5.0, result
    assert result["returned_same_targets"], result
    assert result["return_max_s"] <= 2 * 5.0, result


async def test_a_reload_keeps_another_replicas_targets_off_this_one(sim: Sim) -> None:
    now = time.time()
    metrics = Metrics()
    async with ProbeEngine() as engine:
        scheduler = Scheduler(engine, ownership=Flip(now + 3600, now + 7200))  # owned by another replica for now
        scheduler.consumers.append(metrics.probes)
        scheduler.configure([target(sim.url, interval="250ms", timeout="100ms")])
        scheduler.start()
        await asyncio.sleep(0.4)
        scheduler.configure([target(sim.url, interval="300ms", timeout="100ms")])  # its settings change on a reload
        await asyncio.sleep(0.4)
        await scheduler.stop()
    assert metrics.registry.get_sample_value("healthboard_targets") == 0
    assert metrics.registry.get_sample_value("llm_probe_requests_total", {"provider": "openai", "model": "gpt-4o-mini",
                                                                         "region": "default", "check": "chat"}) is None
