"""Remote storage and a remote ruler, and an HA pair, on real binaries (loopback only; bounded; cleaned up):

    simulator → exporter ─┬→ Prometheus A (replica=a) ─┬→ remote_write → VictoriaMetrics → vmalert → Alertmanager 1
                          └→ Prometheus B (replica=b) ─┘ (replica label dropped,         (prometheus/vmalert/rules)
                                 │                         deduplicated by VictoriaMetrics)
                                 └── both evaluate prometheus/rules/ → Alertmanager 2 (replica label dropped: one alert)

VictoriaMetrics stands in for Grafana Cloud / Mimir storage, vmalert for their hosted ruler. One scripted hard
outage must page exactly once through each chain (no duplicate from the two replicas) and resolve once.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest
import yaml

from healthboard.app.exporter import plan_or_fail
from healthboard.app.run import running_exporter
from healthboard.config import parse_config
from healthboard.demo.stack import ALERTMANAGER_BINARIES, Binary, Notification, Receiver, alertmanager_overlay, free_port, prometheus_overlay

from conftest import Sim, require_binary

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

ROOT = Path(__file__).parents[1]
VMALERT_RULES = ROOT / "prometheus" / "vmalert" / "rules"


def config(url: str) -> str:
    return f"""
region: remote
interval: 2s
timeout: 500ms
recheck_interval: 1s
status: {{enabled: false}}
providers:
  - name: openai
    kind: openai
    base_url: {url}/v1
    api_key: sk-remote-openai-0123456789
    models: [gpt-4o-mini]
  - name: anthropic
    kind: anthropic
    base_url: {url}
    api_key: sk-ant-remote-0123456789
    models: [claude-3-haiku-20240307]
"""


def test_vmalert_copies_are_generated_from_the_rule_files() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("vmalert_generate", ROOT / "prometheus" / "vmalert" / "generate.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    wanted = module.outputs()
    assert sorted(p.name for p in VMALERT_RULES.glob("*.yml")) == sorted(wanted), "run python prometheus/vmalert/generate.py"
    for name, text in wanted.items():
        assert (VMALERT_RULES / name).read_text() == text, f"{name}: run python prometheus/vmalert/generate.py"
        assert not [line for line in text.splitlines() if line.strip().startswith("keep_firing_for:")]
    # the only difference from the source is the field vmalert 1.79 rejects
    for name in wanted:
        source = [line for line in (ROOT / "prometheus" / "rules" / name).read_text().splitlines() if "keep_firing_for:" not in line]
        assert (VMALERT_RULES / name).read_text().splitlines()[1:] == source


def test_rule_files_load_in_vmalert_and_the_sources_only_lack_keep_firing_for() -> None:
    vmalert = require_binary("vmalert")
    ok = subprocess.run([vmalert, "-dryRun", f"-rule={VMALERT_RULES}/*.yml"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr[-3000:]
    source = subprocess.run([vmalert, "-dryRun", f"-rule={ROOT / 'prometheus' / 'rules'}/*.yml"], capture_output=True, text=True, timeout=60)
    if source.returncode != 0:  # vmalert 1.79: exactly the documented gap, nothing else
        problems = [line for line in source.stderr.splitlines() if "invalid rule" in line]
        assert problems and all("unknown fields in rule: keep_firing_for" in line for line in problems), source.stderr[-3000:]


def prometheus_replica(exporter: str, alertmanager: str, listen: str, replica: str, vm: str) -> dict:
    config = prometheus_overlay(ROOT, exporter, alertmanager, listen, "1s")
    config["global"]["external_labels"] = {"monitor": "llm-healthboard", "replica": replica}
    # an HA pair: both send every alert; without the replica label they are the same alert to Alertmanager
    config["alerting"]["alert_relabel_configs"] = [{"action": "labeldrop", "regex": "replica"}]
    config["remote_write"] = [{
        "url": f"http://{vm}/api/v1/write",
        "queue_config": {"batch_send_deadline": "1s", "max_samples_per_send": 5000},
        "write_relabel_configs": [
            # the raw series only: the remote ruler computes the recordings and ALERTS itself
            {"source_labels": ["__name__"], "regex": "llm_.*|healthboard_.*|up", "action": "keep"},
            # both replicas write the same series; VictoriaMetrics keeps one sample per -dedup.minScrapeInterval
            {"action": "labeldrop", "regex": "replica"},
        ],
    }]
    return config


def pages(receiver: Receiver, model: str) -> list[Notification]:
    return [n for n in receiver.notifications
            if n.channel == "slack:slack_oncall_webhook_url" and model in n.title
            and ("[CRITICAL]" in n.title or n.title.startswith("[RESOLVED]"))]


DIAGNOSTICS = [
    'llm_probe_consecutive_outage_failures{model="gpt-4o-mini"}', 'llm_probe_outage_run_seconds{model="gpt-4o-mini"}',
    'target:llm_outage_hard:bool', 'provider_model_check:llm_availability_outage:bool', 'ALERTS{alertname="LLMModelOutage"}',
    'llm_detector:partial_threshold:llr',
]


async def diagnose(session: aiohttp.ClientSession, vm: str, log: Path) -> str:
    out = []
    for query in DIAGNOSTICS:
        async with session.get(f"http://{vm}/api/v1/query", params={"query": query}) as r:
            out.append(f"{query} = {[(x['metric'], x['value'][1]) for x in (await r.json())['data']['result']]}")
    return "\n".join(out) + "\n--- vmalert log\n" + log.read_text()[-4000:]


async def alerts_in(session: aiohttp.ClientSession, alertmanager: str, name: str) -> list[dict]:
    async with session.get(f"{alertmanager}/api/v2/alerts", params={"filter": f'alertname="{name}"'}) as response:
        return await response.json()


async def test_outage_pages_once_through_victoriametrics_and_vmalert_and_through_the_ha_pair(sim: Sim, tmp_path: Path) -> None:
    prometheus = require_binary("prometheus")
    alertmanager = require_binary(ALERTMANAGER_BINARIES[0])
    vm_binary, vmalert = require_binary("victoria-metrics"), require_binary("vmalert")
    parsed = parse_config(config(sim.url), "remote", {})
    binaries: list[Binary] = []
    receivers = {"vmalert": Receiver(), "ha": Receiver()}
    async with running_exporter(parsed, plan_or_fail(parsed, "remote", {}), None, "127.0.0.1:0", environ={}) as (_, exporter_url):
        exporter = exporter_url.removeprefix("http://")
        try:
            ports = {name: free_port() for name in ("am-vmalert", "am-ha", "vm", "vmalert", "prom-a", "prom-b")}
            ams = {}
            for name, receiver in receivers.items():
                await receiver.start()
                secrets = tmp_path / f"secrets-{name}"
                secrets.mkdir()
                path = tmp_path / f"alertmanager-{name}.yml"
                path.write_text(yaml.safe_dump(alertmanager_overlay(ROOT, receiver, secrets, "1s", "2s", "1h")))
                port = ports[f"am-{name}"]
                ams[name] = f"http://127.0.0.1:{port}"
                binaries.append(Binary(alertmanager, [
                    f"--config.file={path}", f"--storage.path={tmp_path / ('am-data-' + name)}",
                    f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
                ], f"{ams[name]}/-/ready", tmp_path / f"alertmanager-{name}.log"))
            vm = f"127.0.0.1:{ports['vm']}"
            binaries.append(Binary(vm_binary, [
                f"-storageDataPath={tmp_path / 'vm-data'}", f"-httpListenAddr={vm}",
                "-dedup.minScrapeInterval=1s",  # the scrape interval: one sample of the two replicas' per interval
                "-search.latencyOffset=1s",  # default 30 s hides the newest samples from queries: a page a half-minute late
                "-search.disableCache",
            ], f"http://{vm}/health", tmp_path / "victoria-metrics.log"))
            binaries.append(Binary(vmalert, [
                f"-rule={VMALERT_RULES}/*.yml", f"-datasource.url=http://{vm}", f"-remoteWrite.url=http://{vm}",
                f"-remoteRead.url=http://{vm}", f"-notifier.url={ams['vmalert']}", "-evaluationInterval=1s",
                f"-httpListenAddr=127.0.0.1:{ports['vmalert']}", "-remoteWrite.flushInterval=1s",
                "-external.label=monitor=llm-healthboard",
            ], f"http://127.0.0.1:{ports['vmalert']}/health", tmp_path / "vmalert.log"))
            for replica in ("a", "b"):
                listen = f"127.0.0.1:{ports['prom-' + replica]}"
                path = tmp_path / f"prometheus-{replica}.yml"
                path.write_text(yaml.safe_dump(prometheus_replica(exporter, ams["ha"].removeprefix("http://"), listen, replica, vm)))
                binaries.append(Binary(prometheus, [
                    f"--config.file={path}", f"--storage.tsdb.path={tmp_path / ('prom-data-' + replica)}",
                    f"--web.listen-address={listen}", "--rules.alert.resend-delay=1s",
                ], f"http://{listen}/-/ready", tmp_path / f"prometheus-{replica}.log"))
            for binary in binaries:
                await binary.start()

            async with aiohttp.ClientSession() as session:
                # the chain is alive: the exporter's series reach VictoriaMetrics once, deduplicated
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    async with session.get(f"http://{vm}/api/v1/query", params={"query": 'count(up{job="llm-healthboard"})'}) as r:
                        result = (await r.json())["data"]["result"]
                    if result:
                        break
                    await asyncio.sleep(1)
                assert result and result[0]["value"][1] == "1", result  # one series: the replica label is gone
                for receiver in receivers.values():  # both rulers' Watchdog heartbeats arrive
                    await receiver.wait_for(lambda n: n.channel == "webhook:deadmans-switch" and "Watchdog" in n.title, 60)
                await asyncio.sleep(5)
                assert not any(pages(r, "") for r in receivers.values())

                sim.script("latency: 5ms\nrules:\n  - match: {kind: openai, model: gpt-4o-mini}\n    faults: {server_error: 1.0}\n")
                fault = time.time()
                try:
                    firing = {name: await r.wait_for(lambda n: n in pages(r, "gpt-4o-mini") and "RESOLVED" not in n.title, 120)
                              for name, r in receivers.items()}
                except TimeoutError as exc:
                    raise AssertionError(f"{exc}\n{await diagnose(session, vm, tmp_path / 'vmalert.log')}") from None
                for name, page in firing.items():
                    print(f"\n{name}: page {page.at - fault:.1f}s after the fault: {page.title}")
                    assert "openai/gpt-4o-mini is failing" in page.title
                # the HA pair: both replicas send it, Alertmanager holds one alert (the replica label is dropped)
                outage = [a for a in await alerts_in(session, ams["ha"], "LLMModelOutage") if a["labels"].get("model") == "gpt-4o-mini"]
                assert len(outage) == 1 and "replica" not in outage[0]["labels"], outage
                await asyncio.sleep(10)  # it stays one page while the outage goes on

                sim.script("latency: 5ms\n")
                recovered = time.time()
                for name, r in receivers.items():
                    resolved = await r.wait_for(lambda n: n in pages(r, "gpt-4o-mini") and n.title.startswith("[RESOLVED]"), 150)
                    print(f"{name}: resolved {resolved.at - recovered:.1f}s after recovery")
                await asyncio.sleep(5)  # nothing pages at recovery
            for name, r in receivers.items():
                sent = pages(r, "gpt-4o-mini")
                assert [n.title.startswith("[RESOLVED]") for n in sent] == [False, True], (name, [n.title for n in sent])
                assert not pages(r, "claude"), (name, [n.title for n in r.notifications])
        finally:
            for binary in reversed(binaries):
                await binary.stop()
            for receiver in receivers.values():
                await receiver.stop()
