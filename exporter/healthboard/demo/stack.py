"""Running the project's real Prometheus and Alertmanager configs on loopback, for the end-to-end test and
the demo: overlays change only listen addresses, intervals, receiver URLs and the paths of secret files
and templates; the rules, routes, inhibitions and templates are the project's own.

Notifications land in a local receiver that speaks Slack's incoming-webhook JSON and a generic webhook,
and in a local SMTP server (aiosmtpd), so a test can read exactly what on-call would have received.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email
import email.policy
import shutil
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

PROMETHEUS_BINARIES = ("prometheus",)
ALERTMANAGER_BINARIES = ("prometheus-alertmanager", "alertmanager")


def repo_root() -> Path | None:
    """The source checkout this package runs from (it holds prometheus/ and alertmanager/), if any."""
    root = Path(__file__).resolve().parents[3]  # exporter/healthboard/demo/stack.py
    return root if (root / "prometheus" / "prometheus.yml").is_file() and (root / "alertmanager" / "alertmanager.yml").is_file() else None


def find_binary(names: tuple[str, ...]) -> str | None:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclasses.dataclass
class Notification:
    at: float  # time.time() of receipt
    channel: str  # "slack:<file name>", "webhook:<file name>" or "email:<recipient>"
    title: str
    text: str
    raw: Any


class Receiver:
    """Local stand-in for Slack incoming webhooks, the dead-man's-switch webhook and SMTP."""

    def __init__(self, on_notification: Callable[[Notification], None] | None = None) -> None:
        self.notifications: list[Notification] = []
        self.on_notification = on_notification
        self._arrived = asyncio.Event()
        self.http_port = free_port()
        self.smtp_port = free_port()
        self._runner: web.AppRunner | None = None
        self._smtp: Any = None

    def url(self, kind: str, name: str) -> str:
        return f"http://127.0.0.1:{self.http_port}/{kind}/{name}"

    def _add(self, notification: Notification) -> None:
        self.notifications.append(notification)
        self._arrived.set()
        if self.on_notification:
            self.on_notification(notification)

    async def _http(self, request: web.Request) -> web.Response:
        kind, name = request.match_info["kind"], request.match_info["name"]
        body = await request.json()
        if kind == "slack":
            attachment = (body.get("attachments") or [{}])[0]
            self._add(Notification(time.time(), f"slack:{name}", attachment.get("title", ""), attachment.get("text", ""), body))
        else:
            alerts = body.get("alerts", [])
            title = f"{body.get('status', '?')}: " + ", ".join(a.get("labels", {}).get("alertname", "?") for a in alerts)
            self._add(Notification(time.time(), f"webhook:{name}", title, "", body))
        return web.Response(text="ok")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{kind}/{name}", self._http)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.http_port).start()
        try:
            from aiosmtpd.controller import Controller
        except ImportError:  # the demo runs without email when aiosmtpd isn't installed
            return
        import logging

        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO
        loop = asyncio.get_running_loop()
        receiver = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd API
                message = email.message_from_bytes(envelope.content, policy=email.policy.default)
                part = message.get_body(preferencelist=("plain", "html"))
                text = part.get_content() if part is not None else ""
                for rcpt in envelope.rcpt_tos:
                    note = Notification(time.time(), f"email:{rcpt}", str(message["Subject"]), text, message)
                    loop.call_soon_threadsafe(receiver._add, note)
                return "250 OK"

        self._smtp = Controller(Handler(), hostname="127.0.0.1", port=self.smtp_port)
        self._smtp.start()

    async def stop(self) -> None:
        if self._smtp is not None:
            self._smtp.stop()
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for(self, predicate: Callable[[Notification], bool], timeout: float) -> Notification:
        """The first notification (already received or arriving within ``timeout``) that matches."""
        deadline = time.monotonic() + timeout
        while True:
            for notification in self.notifications:
                if predicate(notification):
                    return notification
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no matching notification within {timeout:g}s; got: {[n.title for n in self.notifications]}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), min(remaining, 1.0))


def prometheus_overlay(root: Path, exporter: str, alertmanager: str, listen: str, interval: str) -> dict[str, Any]:
    config = yaml.safe_load((root / "prometheus" / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = interval
    config["global"]["evaluation_interval"] = interval
    config["rule_files"] = [str(root / "prometheus" / "rules" / "*.yml")]
    config["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [alertmanager]}]}]
    for job in config["scrape_configs"]:
        job["scrape_interval"] = interval
        job["scrape_timeout"] = interval
        if job["job_name"] == "llm-healthboard":
            job["static_configs"][0]["targets"] = [exporter]
        elif job["job_name"] == "prometheus":
            job["static_configs"][0]["targets"] = [listen]
    return config


_INTERVAL_KEYS = ("group_wait", "group_interval", "repeat_interval")


def _shorten_route(route: dict[str, Any], seconds: dict[str, str], root: bool = True) -> None:
    for key in _INTERVAL_KEYS:
        if root or key in route:  # children inherit what they don't set
            route[key] = seconds[key]
    for child in route.get("routes", []):
        _shorten_route(child, seconds, root=False)


def alertmanager_overlay(root: Path, receiver: Receiver, secrets: Path, group_wait: str = "1s",
                         group_interval: str = "2s", repeat_interval: str = "1h") -> dict[str, Any]:
    config = yaml.safe_load((root / "alertmanager" / "alertmanager.yml").read_text())

    def secret_file(original: str, content: str) -> str:
        path = secrets / Path(original).name
        path.write_text(content + "\n")
        return str(path)

    glob = config["global"]
    glob["smtp_smarthost"] = f"127.0.0.1:{receiver.smtp_port}"
    glob["smtp_require_tls"] = False
    glob.pop("smtp_auth_username", None)  # the local SMTP server offers no AUTH
    glob["smtp_auth_password_file"] = secret_file(glob["smtp_auth_password_file"], "unused")
    config["templates"] = [str(root / "alertmanager" / "templates" / "*.tmpl")]
    _shorten_route(config["route"], {"group_wait": group_wait, "group_interval": group_interval, "repeat_interval": repeat_interval})
    for entry in config["receivers"]:
        for slack in entry.get("slack_configs", []):
            name = Path(slack["api_url_file"]).name
            slack["api_url_file"] = secret_file(slack["api_url_file"], receiver.url("slack", name))
        for hook in entry.get("webhook_configs", []):
            auth = hook.get("http_config", {}).get("authorization", {})
            if "credentials_file" in auth:
                auth["credentials_file"] = secret_file(auth["credentials_file"], "test-token")
            hook["url"] = receiver.url("webhook", entry["name"])
    return config


class Binary:
    """A real server binary on loopback, stopped and cleaned up on exit."""

    def __init__(self, path: str, args: list[str], ready_url: str, log: Path) -> None:
        self.path, self.args, self.ready_url, self.log = path, args, ready_url, log
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, timeout: float = 30) -> None:
        handle = self.log.open("wb")
        self.process = await asyncio.create_subprocess_exec(self.path, *self.args, stdout=handle, stderr=handle)
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    break
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(self.ready_url) as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.2)
        raise RuntimeError(f"{Path(self.path).name} did not become ready; its log:\n{self.log.read_text()[-3000:]}")

    async def stop(self) -> None:
        if self.process and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


@dataclasses.dataclass
class Stack:
    prometheus_url: str
    alertmanager_url: str
    receiver: Receiver
    workdir: Path


@contextlib.asynccontextmanager
async def running_stack(exporter: str, *, interval: str = "1s", receiver: Receiver | None = None,
                        group_wait: str = "1s", group_interval: str = "2s", repeat_interval: str = "1h",
                        root: Path | None = None) -> AsyncIterator[Stack]:
    """Start Alertmanager and Prometheus with the project's configs, scraping ``exporter`` (HOST:PORT)."""
    root = root or repo_root()
    prometheus = find_binary(PROMETHEUS_BINARIES)
    alertmanager = find_binary(ALERTMANAGER_BINARIES)
    if root is None or prometheus is None or alertmanager is None:
        raise FileNotFoundError("prometheus, alertmanager and a source checkout (prometheus/, alertmanager/) are needed")
    receiver = receiver or Receiver()
    with tempfile.TemporaryDirectory(prefix="healthboard-stack-") as tmp:
        work = Path(tmp)
        secrets = work / "secrets"
        secrets.mkdir()
        await receiver.start()
        am_port, prom_port = free_port(), free_port()
        am_config = work / "alertmanager.yml"
        am_config.write_text(yaml.safe_dump(alertmanager_overlay(root, receiver, secrets, group_wait, group_interval, repeat_interval)))
        prom_config = work / "prometheus.yml"
        prom_config.write_text(yaml.safe_dump(prometheus_overlay(root, exporter, f"127.0.0.1:{am_port}", f"127.0.0.1:{prom_port}", interval)))
        am = Binary(alertmanager, [
            f"--config.file={am_config}", f"--storage.path={work / 'am-data'}", f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address=",
        ], f"http://127.0.0.1:{am_port}/-/ready", work / "alertmanager.log")
        prom = Binary(prometheus, [
            f"--config.file={prom_config}", f"--storage.tsdb.path={work / 'prom-data'}", f"--web.listen-address=127.0.0.1:{prom_port}",
            "--rules.alert.resend-delay=1s",
        ], f"http://127.0.0.1:{prom_port}/-/ready", work / "prometheus.log")
        try:
            await am.start()
            await prom.start()
            yield Stack(f"http://127.0.0.1:{prom_port}", f"http://127.0.0.1:{am_port}", receiver, work)
        finally:
            await prom.stop()
            await am.stop()
            await receiver.stop()
