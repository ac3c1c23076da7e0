"""Replicas that split the work, measured: N exporter processes of one region, one config, coordinating through
lease rows in a real PostgreSQL (healthboard/cluster/), probing the simulator.

The story: all replicas start; at ``--kill-at`` the last one is killed with SIGKILL; at ``--restart-at`` it starts
again under the same member name; at ``--seconds`` the others stop (SIGTERM). Every probe lands in the sink's
``llm_checks`` (each replica writes its own ``instance``), and the figures come from there:

- ticks probed twice (the same target's grid point by two replicas, or by one twice): must be 0;
- ticks missed outside the kill (every grid point from the first full interval on, except those of the killed
  replica's targets between the kill and their takeover): must be 0;
- takeover: for each target the killed replica held, the kill → first probe elsewhere; must be ≤ 2 × interval;
- return: the restarted replica gets back exactly the targets it had (rendezvous hashing), and when.

    python bench/cluster.py                # 3 replicas, 300 targets, 10 s interval, 5 minutes
    python bench/cluster.py --seconds 110 --interval 5 --lease 4 --kill-at 40 --restart-at 70   # the test's run

tests/test_cluster.py runs the shorter story and asserts the same figures.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

if __name__ == "__main__":  # run as a script: the repository root holds bench/ and devtools/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.probe_engine import free_port, start, stop, wait_ready
from devtools.postgres import Postgres, new_database_name

KEY = "sk-sim-cluster-0123456789"


def timeout_for(interval: float) -> float:
    return min(3.0, interval / 2)


def config_text(sim: str, dsn: str, targets: int, interval: float, lease: float, member: str, spool: Path) -> str:
    models = "\n".join(f"      - m{i:04d}" for i in range(targets))
    return f"""region: bench
interval: {interval:g}s
timeout: {timeout_for(interval):g}s
concurrency: 500
status: {{enabled: false}}
lifecycle_interval: 0
cluster:
  member: {member}
  lease: {lease:g}s
sink:
  dsn: {dsn}
  spool_dir: {spool}
  instance: {member}
  batch_max_age: 1s
providers:
  - name: sim
    kind: openai
    base_url: {sim}/v1
    api_key: {KEY}
    models:
{models}
"""


async def start_replica(python: str, work: Path, name: str, config: str) -> tuple[asyncio.subprocess.Process, str]:
    path = work / f"{name}.yml"
    path.write_text(config)
    port = free_port()
    process = await start(python, "-m", "healthboard", "--log-level", "info", "serve", "--config", str(path),
                          "--listen", f"127.0.0.1:{port}", log=work / f"{name}.log")
    return process, f"http://127.0.0.1:{port}"


def analyse(rows: list[Any], interval: float, timeout: float, t0: float, kill: float, restart: float, end: float, victim: str,
            replicas: list[str]) -> dict[str, Any]:
    """Per target: the grid phase from its probe times, each probe's tick index, then the figures."""
    by_target: dict[str, list[tuple[float, str]]] = collections.defaultdict(list)
    for row in rows:
        by_target[row["model"]].append((row["ts"].timestamp(), row["instance"]))
    examples: list[str] = []
    duplicates, missed, takeover, victim_before, victim_after, returned_at = 0, 0, [], set(), set(), []
    probes_per_replica: collections.Counter[str] = collections.Counter()
    first_full = t0 + 2 * interval  # every replica has joined and probed once by then
    for model, probes in by_target.items():
        probes.sort()
        phase = sorted((ts % interval) for ts, _ in probes)[len(probes) // 2]
        ticks: dict[int, list[tuple[float, str]]] = collections.defaultdict(list)
        for ts, instance in probes:
            ticks[round((ts - phase) / interval)].append((ts, instance))
            probes_per_replica[instance] += 1
        for k, v in ticks.items():
            if len(v) > 1:
                duplicates += len(v) - 1
                if len(examples) < 10:
                    examples.append(f"{model} tick at t={phase + k * interval - t0:.1f}s probed by {', '.join(i for _, i in v)}")
        owners_before = {i for ts, i in probes if first_full <= ts < kill}
        held = victim in owners_before
        if held:
            victim_before.add(model)
            after = [ts for ts, i in probes if ts >= kill and i != victim]
            if after:
                takeover.append(after[0] - kill)
        back = [ts for ts, i in probes if ts >= restart and i == victim]
        if back:
            victim_after.add(model)
            returned_at.append(back[0] - restart)
        k_first = min(k for k in ticks if (phase + k * interval) >= first_full)
        k_last = max(k for k in ticks if (phase + k * interval) <= end - interval)
        for k in range(k_first, k_last + 1):
            due = phase + k * interval
            if k in ticks:
                continue
            if held and kill - timeout <= due <= kill + 2 * interval:
                continue  # the killed replica's ticks from its last probe in flight to the takeover: the takeover figure
            missed += 1
            if len(examples) < 10:
                owners = sorted({i for ts, i in probes if abs(ts - due) < 2 * interval})
                examples.append(f"{model} tick at t={due - t0:.1f}s (replicas near it: {', '.join(owners)})")
    return {
        "targets": len(by_target), "probes": len(rows), "probes_per_replica": dict(sorted(probes_per_replica.items())),
        "duplicate_ticks": duplicates, "missed_ticks_outside_kill": missed, "examples": examples,
        "victim_targets": len(victim_before),
        "takeover_max_s": round(max(takeover), 2) if takeover else None,
        "takeover_median_s": round(sorted(takeover)[len(takeover) // 2], 2) if takeover else None,
        "takeover_targets": len(takeover),
        "returned_same_targets": victim_before == victim_after,
        "returned_targets": len(victim_after),
        "return_max_s": round(max(returned_at), 2) if returned_at else None,
        "replicas": replicas,
    }


async def run(replicas: int = 3, targets: int = 300, interval: float = 10.0, lease: float = 8.0, seconds: float = 300.0,
              kill_at: float = 120.0, restart_at: float = 200.0, work: Path | None = None, python: str = sys.executable) -> dict[str, Any]:
    work = work or Path(tempfile.mkdtemp(prefix="healthboard-cluster-"))
    server = Postgres()
    processes: dict[str, asyncio.subprocess.Process] = {}
    sim = None
    try:
        name = new_database_name()
        admin = await asyncpg.connect(server.dsn())
        await admin.execute(f"CREATE DATABASE {name}")
        await admin.close()
        from healthboard.sink.migrate import migrate
        from healthboard.secrets import Secret

        await migrate(server.dsn(database=name), {"healthboard_writer": Secret("secret-healthboard_writer")})
        dsn = server.dsn("healthboard_writer", name)
        sim_port = free_port()
        sim = await start(python, "-m", "healthboard", "--log-level", "warning", "simulate", "--listen", f"127.0.0.1:{sim_port}",
                          log=work / "simulator.log")
        sim_url = f"http://127.0.0.1:{sim_port}"
        await wait_ready(sim_url + "/v1/models")
        names = [f"r{i + 1}" for i in range(replicas)]
        victim = names[-1]
        configs = {n: config_text(sim_url, dsn, targets, interval, lease, n, work / f"{n}-spool") for n in names}
        t0 = time.time()
        for n in names:
            processes[n], url = await start_replica(python, work, n, configs[n])
            await wait_ready(url + "/-/ready")
        await asyncio.sleep(max(0.0, t0 + kill_at - time.time()))
        kill = time.time()
        processes[victim].send_signal(signal.SIGKILL)
        await processes[victim].wait()
        await asyncio.sleep(max(0.0, t0 + restart_at - time.time()))
        restart = time.time()
        processes[victim], url = await start_replica(python, work, victim + "-again", configs[victim])
        await wait_ready(url + "/-/ready")
        await asyncio.sleep(max(0.0, t0 + seconds - time.time()))
        end = time.time()
        await asyncio.gather(*(stop(p) for p in processes.values()))  # SIGTERM: each hands over, flushes its spool
        conn = await asyncpg.connect(server.dsn(database=name))
        rows = await conn.fetch("SELECT model, ts, instance FROM llm_checks WHERE scheduled AND ts <= to_timestamp($1)", end)
        members = await conn.fetch("SELECT member FROM healthboard_members ORDER BY member")
        await conn.close()
        result = analyse(rows, interval, timeout_for(interval), t0, kill, restart, end, victim, [m["member"] for m in members])
        result["kill_s"], result["restart_s"], result["end_s"] = round(kill - t0, 2), round(restart - t0, 2), round(end - t0, 2)
        result.update({"interval_s": interval, "lease_s": lease, "seconds": seconds, "kill_at_s": kill_at, "restart_at_s": restart_at,
                       "takeover_limit_s": 2 * interval, "work": str(work)})
        return result
    finally:
        for process in processes.values():
            if process.returncode is None:
                process.kill()
                await process.wait()
        if sim is not None:
            await stop(sim)
        server.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--targets", type=int, default=300)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--lease", type=float, default=8.0)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--kill-at", type=float, default=120.0)
    parser.add_argument("--restart-at", type=float, default=200.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = asyncio.run(run(args.replicas, args.targets, args.interval, args.lease, args.seconds, args.kill_at, args.restart_at))
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    ok = (result["duplicate_ticks"] == 0 and result["missed_ticks_outside_kill"] == 0 and result["returned_same_targets"]
          and result["takeover_max_s"] is not None and result["takeover_max_s"] <= 2 * args.interval)
    print("cluster: " + ("every tick probed once, takeover within 2 x interval" if ok else "FAILED: see the figures above"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
