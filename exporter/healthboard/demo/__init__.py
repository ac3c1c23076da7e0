"""``healthboard simulate`` and ``healthboard demo``: the simulator on its own, and the whole story (simulator,
exporter, the real Prometheus and Alertmanager with the project's rules and routes, local Slack/email
receivers: ``stack.py``) on a scripted incident."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time

from healthboard.app.exporter import plan_or_fail
from healthboard.app.run import packaged, parse_listen, running_exporter
from healthboard.config import parse_config
from healthboard.demo.stack import (
    ALERTMANAGER_BINARIES,
    PROMETHEUS_BINARIES,
    Notification,
    Receiver,
    find_binary,
    repo_root,
    running_stack,
)
from healthboard.simulator import Scenario, load_scenario, parse_scenario, running_simulator


async def _until_stopped(duration: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if duration > 0:
        loop.call_later(duration, stop.set)
    await stop.wait()


async def simulate(listen: str, scenario_path: str | None) -> int:
    host, port = parse_listen(listen)
    scenario = load_scenario(scenario_path) if scenario_path else Scenario()
    async with running_simulator(scenario, host, port) as (_, url):
        print(f"simulator listening on {url}", flush=True)
        print(f"  openai:    base_url {url}/v1          anthropic: base_url {url}")
        print(f"  gemini:    base_url {url}             cohere:    base_url {url}")
        print(f"  azure:     base_url {url} (kind azure-openai)")
        print(f"  control:   GET {url}/_sim/requests, PUT {url}/_sim/scenario (YAML body)", flush=True)
        await _until_stopped(0)
    return 0


def _print_notification(notification: Notification) -> None:
    where = notification.channel.replace("slack:slack_", "Slack ").replace("_webhook_url", "").replace("email:", "email to ")
    where = where.replace("webhook:", "webhook ")
    print(f"  >> alert via {where}: {notification.title}", flush=True)


@contextlib.asynccontextmanager
async def _alerting(exporter_url: str):  # type: ignore[no-untyped-def]
    """Prometheus + Alertmanager with the project's configs, when installed; else a hint."""
    missing = [name for name, found in (("prometheus", find_binary(PROMETHEUS_BINARIES)),
                                        ("prometheus-alertmanager", find_binary(ALERTMANAGER_BINARIES))) if not found]
    if missing or repo_root() is None:
        why = f"{' and '.join(missing)} not installed" if missing else "no source checkout with prometheus/ and alertmanager/"
        print(f"Alerting pipeline not started ({why}). To see alerts arrive as they would in Slack and email:\n"
              f"  sudo apt-get install prometheus prometheus-alertmanager   # then: make demo\n", flush=True)
        yield None
        return
    receiver = Receiver(on_notification=_print_notification)
    async with running_stack(exporter_url.removeprefix("http://"), interval="5s", receiver=receiver,
                             group_wait="2s", group_interval="10s", repeat_interval="1h") as stack:
        print(f"  prometheus     {stack.prometheus_url}/alerts      (the project's rules, 5 s scrape/evaluation)")
        print(f"  alertmanager   {stack.alertmanager_url}            (the project's routes and templates)")
        print("Alerts that would reach Slack, email and the dead-man's switch are printed below as they arrive.\n", flush=True)
        yield stack


async def demo(listen: str, duration: float) -> int:
    scenario = parse_scenario(packaged("demo-scenario.yml"), "demo-scenario.yml")
    async with running_simulator(scenario) as (simulator, sim_url):
        environ = {"HEALTHBOARD_SIM_URL": sim_url}
        config = parse_config(packaged("demo.yml"), "(demo config)", environ)
        plan = plan_or_fail(config, "(demo config)", environ)
        async with running_exporter(config, plan, None, listen, environ) as (exporter, url), _alerting(url):
            print(f"""
llm-healthboard demo: the exporter probes a local simulator of the providers every {config.interval:g}s.
  status page    {url}/status          (for people: state, uptime bars, incident history; the demo's incident shows here)
  landing page   {url}/
  metrics        {url}/metrics
  health         {url}/api/health        (HTTP 503 while unhealthy)
  per target     {url}/api/metrics
  failed checks  {url}/api/checks?failed=true&limit=20
  simulator      {sim_url}/_sim/requests
Scripted: openai/gpt-4o-mini answers 500 from t=20s to t=200s (a hard outage); anthropic turns slow at
t=60s, then overloaded (529); cohere's key is invalid (an auth misconfiguration, not an outage).
Status pages (simulated, polled every 30s): openai's stays "operational" through its outage (the S3
mismatch alert, after 2 minutes of outage); anthropic's admits its errors at t=170s (see the detection lead at
/metrics: llm_provider_detection_lead_seconds).
Press Ctrl-C to stop.
""", flush=True)
            started = time.monotonic()
            reporter = asyncio.create_task(_report(exporter, started))
            try:
                await _until_stopped(duration)
            finally:
                reporter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reporter
    return 0


async def _report(exporter, started: float) -> None:  # type: ignore[no-untyped-def]
    while True:
        await asyncio.sleep(5)
        rows = exporter.health_rows()
        statuses = [(row["provider"], row["status"], row["reason"]) for row in rows]
        overall = exporter.overall_health(rows)
        print(f"[t={time.monotonic() - started:5.0f}s] overall {overall:<10} " + "  ".join(f"{p}={s}" for p, s, _ in statuses), flush=True)
        for provider, status, reason in statuses:
            if status == "recovering":
                print(f"{'':>10}{provider} recovering: {reason}", flush=True)
        sys.stdout.flush()
