"""Judging the project's real rule files on the simulated month with real Prometheus tooling:
`promtool tsdb create-blocks-from openmetrics` backfills the series, a real `prometheus` serves them, and
each alert expression is evaluated as a range query at its group's evaluation interval. Recording rules are
inlined into the alert expressions (textually, as `(expr)`), which gives the same value at the same
timestamp as the recorded series. `for:` is applied exactly; the notification time adds the `group_wait`
of the route the alert takes in alertmanager/alertmanager.yml, and inhibition rules are applied."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from healthboard.config.durations import parse_duration
from healthboard.stack import Binary, find_binary, free_port

MAX_POINTS = 10_000


@dataclasses.dataclass
class AlertRule:
    name: str
    expr: str
    for_: float
    step: float
    labels: dict[str, str]
    keep: float = 0.0  # keep_firing_for


@dataclasses.dataclass
class Firing:
    alert: str
    labels: dict[str, str]
    start: float  # when it fired (after for:)
    end: float  # when it resolved
    notified: float | None = None  # start + group_wait, unless inhibited
    inhibited: bool = False
    receiver: str = ""


def load_rules(rules_dir: Path, default_interval: float) -> list[AlertRule]:
    recorded: dict[str, str] = {}
    alerts: list[AlertRule] = []
    for path in sorted(rules_dir.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            step = parse_duration(group.get("interval", default_interval))
            for rule in group["rules"]:
                if "record" in rule:
                    if rule["record"] in recorded:  # several rules may record one name (overrides): or them
                        recorded[rule["record"]] = f"({recorded[rule['record']]}) or ({rule['expr']})"
                    else:
                        recorded[rule["record"]] = rule["expr"]
                else:
                    alerts.append(AlertRule(rule["alert"], rule["expr"], parse_duration(rule.get("for", 0)), step, rule.get("labels", {}),
                                            parse_duration(rule.get("keep_firing_for", 0))))
    names = sorted(recorded, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w:])(" + "|".join(re.escape(n) for n in names) + r")(?![\w:])(\[\w+\])?")

    def inline(m: re.Match[str]) -> str:
        # a range over a recorded series becomes a subquery at the default evaluation interval
        return f"({recorded[m.group(1)]})" + (f"[{m.group(2)[1:-1]}:{int(default_interval)}s]" if m.group(2) else "")

    for alert in alerts:
        for _ in range(10):
            expanded = pattern.sub(inline, alert.expr)
            if expanded == alert.expr:
                break
            alert.expr = expanded
    return alerts


def backfill(files: list[Path], tsdb: Path) -> float:
    """promtool tsdb create-blocks-from openmetrics, one input file per 2-hour block, two at a time."""
    from concurrent.futures import ThreadPoolExecutor

    started = time.monotonic()
    promtool = find_binary(("promtool",))
    if promtool is None:
        raise FileNotFoundError("promtool is needed: apt-get install prometheus")

    def one(path: Path) -> None:
        result = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", "-q", str(path), str(tsdb)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"backfill of {path.name} failed: {result.stderr[-2000:]}")
        path.unlink()

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(one, files))
    return time.monotonic() - started


async def query_range(session: aiohttp.ClientSession, url: str, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    chunk = MAX_POINTS * step
    t = start
    while t < end:
        stop = min(end, t + chunk - step)
        async with session.post(url + "/api/v1/query_range", data={"query": expr, "start": t, "end": stop, "step": step}) as response:
            body = await response.json()
        if body.get("status") != "success":
            raise RuntimeError(f"query failed: {body.get('error')} for {expr[:200]}")
        for series in body["data"]["result"]:
            key = json.dumps(series["metric"], sort_keys=True)
            out.setdefault(key, {"metric": series["metric"], "times": []})["times"] += [float(ts) for ts, _ in series["values"]]
        t = stop + step
    return list(out.values())


def firings(rule: AlertRule, series: list[dict[str, Any]]) -> list[Firing]:
    """Apply for: exactly on the evaluation timeline of each label set."""
    out = []
    for s in series:
        labels = {**{k: v for k, v in s["metric"].items() if k != "__name__"}, **rule.labels}
        times = sorted(s["times"])
        run_start = prev = None
        for t in times + [None]:  # type: ignore[list-item]
            if t is not None and prev is not None and t - prev <= rule.step * 1.01 + rule.keep:
                prev = t
                continue
            if run_start is not None and prev is not None:
                fire = run_start + rule.for_
                if fire <= prev:
                    out.append(Firing(rule.name, labels, fire, prev + rule.step + rule.keep))
            run_start = prev = t
    return out


class Routing:
    """The parts of alertmanager.yml that decide when and whether a firing alert notifies."""

    def __init__(self, path: Path) -> None:
        self.config = yaml.safe_load(path.read_text())

    @staticmethod
    def _matches(matchers: Iterable[str], labels: dict[str, str]) -> bool:
        for matcher in matchers:
            m = re.match(r'(\w+)\s*(=~|!~|!=|=)\s*"?(.*?)"?$', matcher)
            assert m, matcher
            name, op, value = m.groups()
            actual = labels.get(name, "")
            ok = {"=": actual == value, "!=": actual != value,
                  "=~": re.fullmatch(value, actual) is not None, "!~": re.fullmatch(value, actual) is None}[op]
            if not ok:
                return False
        return True

    def route(self, labels: dict[str, str]) -> tuple[str, float, tuple[str, ...]]:
        """(receiver, group_wait, group_by) of the first matching route, with inheritance."""
        node = self.config["route"]
        receiver, wait, group_by = node["receiver"], parse_duration(node.get("group_wait", "30s")), tuple(node.get("group_by", ()))
        while True:
            for child in node.get("routes", []):
                if self._matches(child.get("matchers", []), labels):
                    node = child
                    receiver = child.get("receiver", receiver)
                    wait = parse_duration(child["group_wait"]) if "group_wait" in child else wait
                    group_by = tuple(child.get("group_by", group_by))
                    break
            else:
                return receiver, wait, group_by

    def inhibited(self, target: Firing, active: list[Firing]) -> bool:
        for rule in self.config.get("inhibit_rules", []):
            if not self._matches(rule.get("target_matchers", []), target.labels):
                continue
            for source in active:
                if source is target or not self._matches(rule.get("source_matchers", []), source.labels):
                    continue
                if all(source.labels.get(label, "") == target.labels.get(label, "") for label in rule.get("equal", [])):
                    return True
        return False


def notify(all_firings: list[Firing], routing: Routing) -> None:
    """Set receiver, inhibition and notification time (fire + group_wait of the route) of every firing."""
    for firing in all_firings:
        firing.receiver, wait, _ = routing.route(firing.labels)
        moment = firing.start + wait
        active = [f for f in all_firings if f.start <= moment < f.end]
        firing.inhibited = routing.inhibited(firing, active)
        firing.notified = None if firing.inhibited or moment >= firing.end else moment


async def evaluate(tsdb: Path, rules: list[AlertRule], start: float, end: float, workdir: Path) -> tuple[list[Firing], float]:
    prometheus = find_binary(("prometheus",))
    if prometheus is None:
        raise FileNotFoundError("prometheus is needed: apt-get install prometheus")
    port = free_port()
    config = workdir / "prometheus.yml"
    config.write_text("global: {evaluation_interval: 15s}\n")
    server = Binary(prometheus, [f"--config.file={config}", f"--storage.tsdb.path={tsdb}", f"--web.listen-address=127.0.0.1:{port}",
                                 "--storage.tsdb.retention.time=100y", "--query.max-samples=200000000", "--query.timeout=10m"],
                    f"http://127.0.0.1:{port}/-/ready", workdir / "prometheus.log")
    await server.start(timeout=120)
    started = time.monotonic()
    out: list[Firing] = []
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=900)) as session:
            semaphore = asyncio.Semaphore(2)

            async def one(rule: AlertRule) -> list[Firing]:
                async with semaphore:
                    series = await query_range(session, f"http://127.0.0.1:{port}", rule.expr, start, end, rule.step)
                return firings(rule, series)

            for result in await asyncio.gather(*(one(r) for r in rules if r.name != "Watchdog")):
                out += result
    finally:
        await server.stop()
    return out, time.monotonic() - started
