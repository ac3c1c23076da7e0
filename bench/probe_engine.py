"""Probe engine performance, side by side with Prometheus's blackbox_exporter, same machine, same run.

Workload: the simulator in its own process answers the openai wire format after a fixed 100 ms with a
valid body. N targets spread over a 30 s interval (N/30 probes a second), a fresh connection per probe
(our default, and blackbox_exporter's behaviour), for a fixed duration per point.

- ours: `healthboard serve` with N targets; its own scheduler fires the probes.
- peer: `prometheus-blackbox-exporter` with an equivalent http module (POST, JSON body, Authorization from
  a file, fail_if_body_not_matches_regexp on "choices"), driven by a load process (this script) that calls
  /probe at the same rate over the same N targets.

Per N and per engine: CPU seconds of the engine process per 1,000 probes (utime+stime from /proc of that
process only), peak RSS (VmHWM), measurement overhead (reported latency − injected delay) p50/p99, schedule
lag p50/p99 (ours: healthboard_scheduler_lag_seconds; blackbox: the driver's send lag), and for ours the
/metrics render time and size. Ratios ours/blackbox are printed for each figure. Our checks (for the
overhead) are read from /api/checks every 10 s during the run, so the exporter's recent ring stays near a
deployment's size instead of holding the whole run.

    python bench/probe_engine.py                       # N = 100, 1000, 5000 and the stress run; 60 s per point
    python bench/probe_engine.py --loop uvloop         # ours on uvloop instead of asyncio's own loop
    python bench/probe_engine.py --targets 100 --seconds 6 --stress-targets 100 --smoke    # what make test runs

Stress run (timing fidelity): ours at 5,000 targets while /metrics is scraped every 5 s and the sink writes
every check to a local PostgreSQL 15 (started by the benchmark, as in bench/sink_capacity.py).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gzip
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from healthboard.demo.stack import find_binary, free_port

DELAY = 0.100
INTERVAL = 30.0
POLL_CHECKS = 10.0  # /api/checks is read this often during a run (the checks the overhead figures come from)
SCRAPE_EVERY = 5.0  # stress run: a /metrics scrape every 5 s (Prometheus's default is 60 s, ours 15 s)
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1, "stream": False}
KEY = "sk-bench-0123456789abcdef"


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def proc_peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered) + 0.5)) - 1))]


async def wait_ready(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def start(*args: str, log: Path) -> asyncio.subprocess.Process:
    handle = log.open("wb")
    return await asyncio.create_subprocess_exec(*args, stdout=handle, stderr=handle)


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus-style quantile from cumulative (le, count) buckets."""
    buckets = sorted(buckets)
    total = buckets[-1][1]
    if total == 0:
        return float("nan")
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_count) / max(count - prev_count, 1e-9)
        prev_le, prev_count = le, count
    return prev_le


async def run_ours(n: int, seconds: float, sim: str, work: Path, python: str, loop: str, stress_dsn: str | None = None) -> dict:
    """Our exporter with n targets. With ``stress_dsn``: the sink writes every check to that Postgres and
    /metrics is scraped every SCRAPE_EVERY seconds while probing, so the event loop is busy with both."""
    name = f"ours-{n}{'-stress' if stress_dsn else ''}"
    config = work / f"{name}.yml"
    models = "\n".join(f"      - m{i}" for i in range(n))
    # the recent ring holds twice the checks between two polls of /api/checks, as a deployment's default ring
    # would: a ring sized to the whole run (20,000 checks at 5,000 targets and 60 s) added ~10 MB to the RSS
    ring = max(1000, int(n * POLL_CHECKS / INTERVAL * 2))
    sink = f"""sink:
  dsn: {stress_dsn}
  spool_dir: {work / (name + '-spool')}
""" if stress_dsn else ""
    config.write_text(f"""{sink}
interval: {INTERVAL:g}s
timeout: 5s
recheck_interval: 0
recent_checks: {ring}
concurrency: 1000
providers:
  - name: sim
    kind: openai
    base_url: {sim}/v1
    api_key: {KEY}
    models:
{models}
""")
    port = free_port()
    process = await start(python, "-m", "healthboard", "--log-level", "warning", "serve", "--config", str(config),
                          "--listen", f"127.0.0.1:{port}", "--loop", loop, log=work / f"{name}.log")
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(url + "/-/ready")
        await asyncio.sleep(1.0)
        # the scrape as Prometheus makes it: gzip asked for, the time to the last compressed byte; decompressed
        # after the clock stops (aiohttp's own decompression in this process took ~300 ms of the 18 MB at 5,000
        # targets, and counted as the exporter's render before 2026-12-03)
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            renders, size = [], 0

            async def scrape() -> bytes:
                started = time.perf_counter()
                async with session.get(url + "/metrics", headers={"Accept-Encoding": "gzip"}) as response:
                    payload = await response.read()
                    encoding = response.headers.get("Content-Encoding")
                renders.append(time.perf_counter() - started)
                return gzip.decompress(payload) if encoding == "gzip" else payload

            seen: dict[tuple, dict] = {}

            async def collect_checks() -> None:
                # the checks since the last poll, with a margin: the API writes what it is asked for
                since_last = int(n * POLL_CHECKS / INTERVAL * 1.5) + 100
                async with session.get(url + "/api/checks", params={"limit": str(min(ring, since_last, 10_000))}) as response:
                    for check in (await response.json())["checks"]:
                        seen[(check["provider"], check["model"], check["region"], check["check"], check["ts"])] = check

            cpu0, t0, wall0 = proc_cpu(process.pid), time.monotonic(), time.time()
            next_scrape = t0 if stress_dsn else math.inf
            next_poll = t0 + POLL_CHECKS
            # a stress run lasts whole scrape periods (its sink has then had a batch's age to write at least once)
            end = t0 + (math.ceil(seconds / SCRAPE_EVERY) * SCRAPE_EVERY if stress_dsn else seconds)
            while (now := time.monotonic()) < end:
                if now >= next_scrape:
                    await scrape()
                    next_scrape = time.monotonic() + SCRAPE_EVERY
                if now >= next_poll:
                    await collect_checks()
                    next_poll += POLL_CHECKS
                await asyncio.sleep(max(0.0, min(next_scrape, next_poll, end) - time.monotonic()))
            await collect_checks()
            cpu1, t1, wall1 = proc_cpu(process.pid), time.monotonic(), time.time()
            scrapes_during = len(renders)
            for _ in range(5):
                payload = await scrape()
                size = len(payload)
            checks = list(seen.values())
        rss = proc_peak_rss_mb(process.pid)
    finally:
        await stop(process)
    text = payload.decode()
    requests = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("llm_probe_requests_total{"))
    lag_buckets = [(float(line.split('le="')[1].split('"')[0]), float(line.rsplit(" ", 1)[1]))
                   for line in text.splitlines() if line.startswith("healthboard_scheduler_lag_seconds_bucket")]
    # only probes that started inside the measured window (not during the render-timing scrapes after it)
    checks = [c for c in checks if wall0 <= datetime.datetime.fromisoformat(c["ts"]).timestamp() <= wall1 - 1.0]
    window_checks = [c for c in checks if c["ok"]]
    overhead = [c["latency_ms"] - DELAY * 1000 for c in window_checks]
    failed = sum(1 for c in checks if not c["ok"])
    probes_in_window = n * (t1 - t0) / INTERVAL
    written = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("healthboard_sink_rows_written_total"))
    return {
        "engine": "ours (stress)" if stress_dsn else "ours", "loop": loop, "targets": n, "probes": requests, "failed": failed,
        "scrapes_during": scrapes_during, "sink_rows_written": written,
        "cpu_per_1000": (cpu1 - cpu0) / max(probes_in_window, 1) * 1000,
        "rss_mb": rss, "overhead_p50_ms": pct(overhead, 0.50), "overhead_p99_ms": pct(overhead, 0.99),
        "lag_p50_ms": histogram_quantile(0.50, lag_buckets) * 1000, "lag_p99_ms": histogram_quantile(0.99, lag_buckets) * 1000,
        "metrics_render_ms": statistics.median(renders) * 1000, "metrics_bytes": size,
        "metrics_render_min_ms": min(renders) * 1000, "metrics_render_max_ms": max(renders) * 1000,
        "series_per_target": sum(1 for line in text.splitlines() if line.startswith("llm_probe_")) / n,
    }


STREAM_FIRST_TOKEN = 0.200  # the stream run: the simulator holds the first content token this long
STREAM_CHUNK = 0.020  # then one token every 20 ms (50 tokens/s)
STREAM_TOKENS = 16


async def run_stream(n: int, seconds: float, work: Path, python: str, loop: str) -> dict:
    """Stream checks: n targets streaming 16 tokens from a simulator of their own that holds the first token
    200 ms and sends one every 20 ms, stamping (in its own process, on its own clock) when it sent each piece.
    Our time to first token and tokens/s per check, matched to the simulator's stamps by request id: the
    measurement's error, loop lag, parsing and loopback transfer included."""
    scenario = work / "stream-scenario.yml"
    scenario.write_text(f"latency: 0ms\nreply_text: pong\nstream: {{first_token: {{fixed: {STREAM_FIRST_TOKEN * 1000:g}ms}}, "
                        f"chunk_interval: {STREAM_CHUNK * 1000:g}ms, tokens: {STREAM_TOKENS}}}\n")
    sim_port = free_port()
    sim = await start(python, "-m", "healthboard", "--log-level", "warning", "simulate", "--listen", f"127.0.0.1:{sim_port}",
                      "--scenario", str(scenario), log=work / "stream-sim.log")
    sim_url = f"http://127.0.0.1:{sim_port}"
    config = work / f"stream-{n}.yml"
    models = "\n".join(f"      - {{name: m{i}, check: stream, interval: {INTERVAL:g}s, max_tokens: {STREAM_TOKENS}}}" for i in range(n))
    config.write_text(f"""
timeout: 5s
recheck_interval: 0
recent_checks: {max(1000, int(n * seconds / INTERVAL * 2))}
concurrency: 1000
providers:
  - name: sim
    kind: openai
    base_url: {sim_url}/v1
    api_key: {KEY}
    models:
{models}
""")
    port = free_port()
    try:
        await wait_ready(sim_url + "/_sim/health")
        process = await start(python, "-m", "healthboard", "--log-level", "warning", "serve", "--config", str(config),
                              "--listen", f"127.0.0.1:{port}", "--loop", loop, log=work / f"stream-{n}.log")
        url = f"http://127.0.0.1:{port}"
        try:
            await wait_ready(url + "/-/ready")
            await asyncio.sleep(seconds + 1.0)
            async with aiohttp.ClientSession() as session:
                async with session.get(url + "/api/checks", params={"limit": "10000"}) as response:
                    checks = (await response.json())["checks"]
                async with session.get(sim_url + "/_sim/streams") as response:
                    truth = {s["request_id"]: s for s in (await response.json())["streams"]}
        finally:
            await stop(process)
    finally:
        await stop(sim)
    ttft_error, tps_error = [], []
    for check in checks:
        sent = truth.get(check.get("request_id"))
        if not check["ok"] or sent is None or check.get("ttft_ms") is None:
            continue
        ttft_error.append(check["ttft_ms"] - sent["ttft"] * 1000)
        true_tps = (sent["tokens"] - 1) / (sent["last"] - sent["first"])
        if check.get("tokens_per_s"):
            tps_error.append((check["tokens_per_s"] - true_tps) / true_tps * 100)
    nominal = (STREAM_TOKENS - 1) / ((STREAM_TOKENS - 1) * STREAM_CHUNK)
    return {"targets": n, "streams": len(ttft_error), "failed": sum(1 for c in checks if not c["ok"]),
            "ttft_error_p50_ms": pct(ttft_error, 0.50), "ttft_error_p99_ms": pct(ttft_error, 0.99),
            "tps_error_p50_pct": pct([abs(e) for e in tps_error], 0.50), "tps_error_p99_pct": pct([abs(e) for e in tps_error], 0.99),
            "tps_nominal": nominal,
            "tps_sim_median": statistics.median((s["tokens"] - 1) / (s["last"] - s["first"]) for s in truth.values()) if truth else None}


BLACKBOX_CONFIG = """
modules:
  llm:
    prober: http
    timeout: 5s
    http:
      method: POST
      headers:
        Content-Type: application/json
      body: '{body}'
      valid_status_codes: [200]
      fail_if_body_not_matches_regexp: ['"choices"']
      authorization:               # blackbox_exporter inlines its HTTP client settings under http:
        type: Bearer
        credentials_file: {key_file}
"""


async def run_blackbox(n: int, seconds: float, sim: str, work: Path) -> dict | None:
    binary = find_binary(("prometheus-blackbox-exporter", "blackbox_exporter"))
    if binary is None:
        return None
    key_file = work / "key"
    key_file.write_text(KEY)
    config = work / "blackbox.yml"
    config.write_text(BLACKBOX_CONFIG.format(body=json.dumps(BODY), key_file=key_file))
    port = free_port()
    process = await start(binary, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
                          log=work / f"blackbox-{n}.log")
    url = f"http://127.0.0.1:{port}"
    target = f"{sim}/v1/chat/completions"
    durations: list[float] = []
    lags: list[float] = []
    failed = 0
    try:
        await wait_ready(url + "/-/healthy")
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as session:

            async def probe(i: int, due: float) -> None:
                nonlocal failed
                lags.append(max(0.0, time.monotonic() - due))
                async with session.get(url + "/probe", params={"module": "llm", "target": f"{target}?t={i}"}) as response:
                    text = await response.text()
                values = {line.split(" ")[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                          if line and not line.startswith("#") and "{" not in line.split(" ")[0]}
                if values.get("probe_success") == 1:
                    durations.append(values["probe_duration_seconds"])
                else:
                    failed += 1

            # same schedule as ours: N targets spread evenly over the interval
            start_at = time.monotonic() + 1.0
            tasks = []
            cpu0 = None
            k = 0
            while True:
                due = start_at + k * INTERVAL / n
                if due > start_at + seconds:
                    break
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if cpu0 is None:
                    cpu0 = proc_cpu(process.pid)
                tasks.append(asyncio.create_task(probe(k % n, due)))
                k += 1
            await asyncio.gather(*tasks, return_exceptions=True)
            cpu1 = proc_cpu(process.pid)
        rss = proc_peak_rss_mb(process.pid)
    finally:
        await stop(process)
    overhead = [(d - DELAY) * 1000 for d in durations]
    return {
        "engine": "blackbox", "targets": n, "probes": k, "failed": failed,
        "cpu_per_1000": (cpu1 - cpu0) / max(k, 1) * 1000 if cpu0 is not None else float("nan"),
        "rss_mb": rss, "overhead_p50_ms": pct(overhead, 0.50), "overhead_p99_ms": pct(overhead, 0.99),
        "lag_p50_ms": pct([x * 1000 for x in lags], 0.50), "lag_p99_ms": pct([x * 1000 for x in lags], 0.99),
        "metrics_render_ms": float("nan"), "metrics_bytes": float("nan"),
    }


FIGURES = (("cpu_per_1000", "CPU s / 1000 probes"), ("rss_mb", "peak RSS MB"), ("overhead_p50_ms", "overhead p50 ms"),
           ("overhead_p99_ms", "overhead p99 ms"), ("lag_p50_ms", "schedule lag p50 ms"), ("lag_p99_ms", "schedule lag p99 ms"),
           ("metrics_render_ms", "/metrics render ms"), ("metrics_render_min_ms", "/metrics render ms, fastest scrape"),
           ("metrics_render_max_ms", "/metrics render ms, slowest scrape"), ("metrics_bytes", "/metrics bytes"),
           ("series_per_target", "series per target (llm_probe_*)"))


def table(results: list[dict]) -> str:
    stressed = any(r["engine"] == "ours (stress)" for r in results)
    head = "| N | figure | ours | blackbox_exporter | ours/blackbox |" + (" ours under stress |" if stressed else "")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    by_n: dict[int, dict[str, dict]] = {}
    for r in results:
        by_n.setdefault(r["targets"], {})[r["engine"]] = r
    for n, engines in sorted(by_n.items()):
        ours, peer, stress = engines.get("ours", {}), engines.get("blackbox", {}), engines.get("ours (stress)")
        for key, label in FIGURES:
            a, b = ours.get(key, float("nan")), peer.get(key, float("nan"))
            ratio = a / b if b and b == b and a == a else float("nan")
            extra = (f" {stress[key]:.3f} |" if stress else " |") if stressed else ""
            lines.append(f"| {n} | {label} | {a:.3f} | {b:.3f} | {ratio:.2f} |{extra}")
        extra = (f" {stress['probes']:.0f} ({stress['failed']}) |" if stress else " |") if stressed else ""
        lines.append(f"| {n} | probes (failed) | {ours.get('probes', 0):.0f} ({ours.get('failed', 0)}) | "
                     f"{peer.get('probes', 0):.0f} ({peer.get('failed', 0)}) | |{extra}")
        if stress:
            lines.append(f"| {n} | stress: scrapes during the run, sink rows written | | | | "
                         f"{stress['scrapes_during']}, {stress['sink_rows_written']:.0f} |")
    return "\n".join(lines)


async def stress_database(work: Path) -> tuple[object, str]:
    """A PostgreSQL 15 of our own with the sink's schema applied: (server, dsn)."""
    from healthboard.sink.migrate import migrate
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for devtools
    from devtools.postgres import Postgres

    server = await asyncio.to_thread(Postgres)
    dsn = server.dsn()
    await migrate(dsn)
    return server, dsn


async def main_async(sizes: list[int], seconds: float, smoke: bool, loop: str, stress_n: int | None, stream_n: int | None = None) -> int:
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="probe-engine-") as tmp:
        work = Path(tmp)
        scenario = work / "scenario.yml"
        scenario.write_text(f"latency: {DELAY * 1000:g}ms\nreply_text: pong\n")
        sim_port = free_port()
        sim = await start(python, "-m", "healthboard", "--log-level", "warning", "simulate", "--listen", f"127.0.0.1:{sim_port}",
                          "--scenario", str(scenario), log=work / "sim.log")
        sim_url = f"http://127.0.0.1:{sim_port}"
        results = []
        database = None
        try:
            await wait_ready(sim_url + "/_sim/health")
            for n in sizes:
                results.append(await run_ours(n, seconds, sim_url, work, python, loop))
                peer = await run_blackbox(n, seconds, sim_url, work)
                if peer is not None:
                    results.append(peer)
                elif not smoke:
                    print("prometheus-blackbox-exporter is not installed: apt-get install prometheus-blackbox-exporter", file=sys.stderr)
            if stress_n:
                database, dsn = await stress_database(work)
                results.append(await run_ours(stress_n, seconds, sim_url, work, python, loop, stress_dsn=dsn))
            streamed = await run_stream(stream_n, seconds, work, python, loop) if stream_n else None
        finally:
            await stop(sim)
            if database is not None:
                database.close()  # type: ignore[attr-defined]
    print(f"### Probe engine: {seconds:g} s per point, {DELAY * 1000:g} ms injected delay, interval {INTERVAL:g} s, "
          f"{os.cpu_count()} cores, event loop {loop}\n")
    print(table(results))
    if streamed:
        print(f"\n### Stream checks: {streamed['targets']} targets, {streamed['streams']} streams matched to the simulator's send stamps "
              f"({streamed['failed']} failed), first token held {STREAM_FIRST_TOKEN * 1000:g} ms, then a token every {STREAM_CHUNK * 1000:g} ms\n")
        print("| figure | p50 | p99 | target |\n|---|---|---|---|")
        print(f"| time to first token: ours − the simulator's | {streamed['ttft_error_p50_ms']:.2f} ms | {streamed['ttft_error_p99_ms']:.2f} ms | p99 ≤ 5 ms |")
        print(f"| tokens/s: \\|ours − the simulator's\\| / the simulator's | {streamed['tps_error_p50_pct']:.2f} % | {streamed['tps_error_p99_pct']:.2f} % | within 2 % |")
        print(f"\n(the simulator's own pace: {streamed['tps_sim_median']:.1f} tokens/s median against {streamed['tps_nominal']:.0f} scripted; "
              "its send stamps, not the script, are the truth)")
        results.append({"engine": "ours (stream)", **streamed})
    if stress_n:
        print(f"\nours under stress: /metrics scraped every {SCRAPE_EVERY:g} s while probing, and the sink writing every check "
              "to a local PostgreSQL 15.")
    out = Path("bench/out/probe_engine.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    if smoke:
        ours = [r for r in results if r["engine"] == "ours"]
        peer = [r for r in results if r["engine"] == "blackbox"]
        if not ours or ours[0]["probes"] == 0:
            print("SMOKE FAILED: our engine ran no probe", file=sys.stderr)
            return 1
        if not peer or peer[0]["probes"] == 0 or peer[0]["failed"] == peer[0]["probes"]:
            print("SMOKE FAILED: blackbox_exporter did not probe successfully", file=sys.stderr)
            return 1
        if stream_n and not streamed["streams"]:
            print("SMOKE FAILED: no stream check matched the simulator's stamps", file=sys.stderr)
            return 1
        stressed = [r for r in results if r["engine"] == "ours (stress)"]
        if stress_n and (not stressed or stressed[0]["scrapes_during"] == 0 or stressed[0]["sink_rows_written"] == 0):
            print("SMOKE FAILED: the stress run did not scrape or the sink wrote nothing", file=sys.stderr)
            return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", type=int, action="append", help="N (repeatable); default 100, 1000, 5000")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio", help="our event loop (healthboard serve --loop)")
    parser.add_argument("--stress-targets", type=int, default=5000, help="N of the stress run (0: skip it); default 5000")
    parser.add_argument("--stream-targets", type=int, default=1000, help="N of the stream-check run (0: skip it); default 1000")
    parser.add_argument("--smoke", action="store_true", help="exit non-zero unless both engines probed successfully")
    args = parser.parse_args()
    return asyncio.run(main_async(args.targets or [100, 1000, 5000], args.seconds, args.smoke, args.loop, args.stress_targets or None,
                                  args.stream_targets or None))


if __name__ == "__main__":
    sys.exit(main())
