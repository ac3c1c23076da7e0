"""The CLI as users run it: real subprocesses against a simulator on loopback."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from conftest import PROVIDERS, Sim, config_text, require_binary
from helpers import clean_env, free_port, run

ROOT = Path(__file__).parents[1]


async def test_once_json_all_ok(sim: Sim, tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text(config_text(sim.url))
    code, out, err = await run("once", "--config", str(path), "--format", "json")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(r["provider"], r["ok"]) for r in lines] == [(p, True) for p in PROVIDERS]
    fields = {"ts", "provider", "model", "region", "check", "ok", "http_status", "error_type", "latency_ms", "input_tokens",
              "output_tokens", "request_id", "error_message", "phases_ms"}
    assert fields <= set(lines[0])


async def test_once_table_exit_1_on_failure_and_no_secret(sim: Sim, tmp_path: Path) -> None:
    sim.script("latency: 1ms\nrules:\n  - match: {kind: anthropic}\n    faults: {overloaded: 1.0}\n  - match: {kind: openai}\n    faults: {unauthorized: 1.0}\n")
    path = tmp_path / "c.yml"
    secret = "sk-VERY-SECRET-abcdef0123456789"
    path.write_text(config_text(sim.url).replace("sk-test-openai-0123456789abcdef", "${MY_OPENAI_KEY}"))
    code, out, err = await run("once", "--config", str(path), env={"MY_OPENAI_KEY": secret})
    assert code == 1, err
    assert "PROVIDER" in out.splitlines()[0]
    anthropic_row = next(line for line in out.splitlines() if line.startswith("anthropic"))
    assert "FAIL" in anthropic_row and "529" in anthropic_row and "overloaded" in anthropic_row
    assert secret not in out + err and "abcdef0123456789" not in out + err
    code, out, err = await run("once", "--config", str(path), "--format", "json", env={"MY_OPENAI_KEY": secret})
    assert code == 1 and secret not in out + err and "abcdef0123456789" not in out + err
    assert json.loads(out.splitlines()[0])["error_type"] == "auth"


async def test_once_exit_2_on_config_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("interval: soon\n")
    code, out, err = await run("once", "--config", str(path))
    assert code == 2 and f"{path}: invalid configuration" in err and "line 1 (interval)" in err


async def test_serve_without_keys_exits_with_advice() -> None:
    code, out, err = await run("serve", "--listen", f"127.0.0.1:{free_port()}")
    assert code == 2
    assert "OPENAI_API_KEY is not set" in err and "make demo" in err


async def test_serve_reload_on_sighup_and_clean_stop(sim: Sim, tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text(config_text(sim.url, ["openai"], interval="1s", timeout="500ms", recheck_interval="500ms"))
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "healthboard", "serve", "--config", str(path), "--listen", f"127.0.0.1:{port}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=clean_env(),
    )
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/-/ready") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            path.write_text(config_text(sim.url, ["openai", "anthropic"], interval="1s", timeout="500ms", recheck_interval="500ms"))
            process.send_signal(signal.SIGHUP)
            for _ in range(50):
                await asyncio.sleep(0.1)
                async with session.get(f"http://127.0.0.1:{port}/api/config") as response:
                    if len((await response.json())["targets"]) == 2:
                        break
            else:
                pytest.fail("SIGHUP did not reload the config")
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), 10)
        assert process.returncode == 0, err.decode()
        assert "config reloaded" in err.decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_check_config_cli_on_good_file(sim: Sim, tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text(config_text(sim.url))
    code, out, _ = await run("check-config", str(path))
    assert code == 0 and "4 targets would be probed" in out


async def test_demo_runs_and_shows_the_incident() -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "healthboard", "demo", "--listen", f"127.0.0.1:{port}", "--duration", "60",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=clean_env(),
    )
    try:
        deadline = asyncio.get_running_loop().time() + 57
        seen = None
        async with aiohttp.ClientSession() as session:
            while asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(1)
                try:
                    async with session.get(f"http://127.0.0.1:{port}/api/health") as response:
                        body = await response.json()
                except aiohttp.ClientConnectionError:
                    continue
                targets = {t["provider"]: t["status"] for t in body["targets"]}
                if targets.get("openai") == "unhealthy":
                    seen = (response.status, targets)
                    break
            assert seen is not None, "the scripted outage never showed in /api/health"
            assert seen[0] == 503 and seen[1]["cohere"] == "misconfigured"
            # the status page shows the incident as it happens
            while True:
                async with session.get(f"http://127.0.0.1:{port}/status") as response:
                    page = await response.text()
                if 'class="incident" data-open="true"' in page:
                    break
                assert asyncio.get_running_loop().time() < deadline, "the demo's incident never showed on /status"
                await asyncio.sleep(1)
            assert 'id="provider-openai" data-state="major_outage"' in page or 'id="provider-openai" data-state="partial_outage"' in page
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = await asyncio.wait_for(process.communicate(), 15)
    assert process.returncode == 0
    assert f"http://127.0.0.1:{port}/metrics" in out.decode() and f"http://127.0.0.1:{port}/status" in out.decode()


async def test_promtool_check_metrics_on_live_scrape(sim: Sim) -> None:
    promtool = require_binary("promtool")
    from helpers import exporter_for

    sim.script("latency: 1ms\nrules:\n  - match: {kind: openai}\n    faults: {server_error: 0.5}\n")
    async with exporter_for(config_text(sim.url, interval="300ms", timeout="200ms", recheck_interval="200ms")) as (_, url):
        await asyncio.sleep(1.0)
        async with aiohttp.ClientSession() as session, session.get(url + "/metrics") as response:
            payload = await response.read()
    assert b"llm_probe_failures_total" in payload
    process = await asyncio.create_subprocess_exec(
        promtool, "check", "metrics", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await process.communicate(payload)
    assert process.returncode == 0 and out.decode().strip() == "", out.decode()
