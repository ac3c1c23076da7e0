"""Running the exporter: its HTTP server (``serve``), and one probing round (``once``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Coroutine, Mapping
from importlib import resources
from typing import Any

from aiohttp import web

from healthboard.app.exporter import Exporter, build_sink, log_plan, plan_or_fail
from healthboard.config import Config, load_config, parse_config
from healthboard.errors import ConfigError
from healthboard.plan import Plan
from healthboard.prober.engine import ProbeEngine
from healthboard.record import CheckRecord
from healthboard.web import make_app

log = logging.getLogger(__name__)


def packaged(name: str) -> str:
    return resources.files("healthboard").joinpath("data", name).read_text(encoding="utf-8")


def load(path: str | None, environ: Mapping[str, str] | None = None) -> tuple[Config, str | None]:
    """The config at ``path``, or the packaged default when none is given."""
    if path is None:
        return parse_config(packaged("default.yml"), "(built-in default config)", environ), None
    return load_config(path, environ), path


def run(main: Coroutine[Any, Any, int], loop: str = "asyncio") -> int:
    """Run ``main`` on asyncio's own event loop, or on uvloop (the ``fast`` extra). In bench/probe_engine.py
    uvloop measured no better than asyncio's loop, so it is opt-in (docs/PERFORMANCE.md)."""
    factory = None
    if loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            raise ConfigError("--loop", [("uvloop", "uvloop is not installed: pip install 'llm-healthboard[fast]'")]) from None
        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        log.debug("event loop: %s", type(runner.get_loop()).__module__)
        return runner.run(main)


#: A client must send a complete request within this many seconds of connecting (or of its previous response
#: on a kept-alive connection), or it is disconnected: slow clients can't hold connections open. aiohttp
#: closes a connection whose request hasn't arrived by its keep-alive deadline (aiohttp >= 3.14; tests/
#: test_faults.py holds a trickling client to it).
REQUEST_TIMEOUT = 10.0


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"listen address {value!r} is not HOST:PORT (e.g. 127.0.0.1:9464)")
    return host.strip("[]") or "0.0.0.0", int(port)


@contextlib.asynccontextmanager
async def running_exporter(config: Config, plan: Plan, config_path: str | None, listen: str,
                           environ: Mapping[str, str] | None = None, engine: ProbeEngine | None = None,
                           request_timeout: float = REQUEST_TIMEOUT) -> AsyncIterator[tuple[Exporter, str]]:
    """Start the exporter (scheduler + HTTP); yield (exporter, base URL)."""
    host, port = parse_listen(listen)
    exporter = Exporter(config_path, config, plan, engine or ProbeEngine(config.max_body_bytes), environ=environ)
    runner = web.AppRunner(make_app(exporter), access_log=None, shutdown_timeout=2.0, keepalive_timeout=request_timeout)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        await exporter.engine.close()
        raise ConfigError("--listen", [(listen, f"can't listen there ({exc.strerror or exc}); pick another port with --listen HOST:PORT")]) from None
    sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
    actual = sockets[0].getsockname()[1] if sockets else port
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    exporter.start()
    try:
        yield exporter, f"http://{shown}:{actual}"
    finally:
        await exporter.stop()
        await runner.cleanup()


async def serve(config: Config, config_path: str | None, listen: str) -> int:
    plan = plan_or_fail(config, config_path or "(built-in default config)")
    log_plan(plan)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    async with running_exporter(config, plan, config_path, listen) as (exporter, url):
        log.info("listening on %s (metrics at %s/metrics)", url, url)

        def on_hup() -> None:
            with contextlib.suppress(ConfigError):
                exporter.reload()

        loop.add_signal_handler(signal.SIGHUP, on_hup)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("stopping")
    return 0


async def run_once(plan: Plan, config: Config, engine: ProbeEngine | None = None, source: str = "<config>") -> list[CheckRecord]:
    """One probe of every target, concurrently under the concurrency cap; records in config order.
    With a sink configured, the round is written to Postgres too (what can't be written stays spooled)."""
    sink = build_sink(config, plan, source)
    semaphore = asyncio.Semaphore(config.concurrency)
    async with engine or ProbeEngine(config.max_body_bytes) as engine:

        async def one(target):  # type: ignore[no-untyped-def]
            async with semaphore:
                return await engine.probe(target)

        records = list(await asyncio.gather(*(one(t) for t in plan.targets)))
    if sink is not None:
        sink.submit_many(records)
        sink.start()
        if not await sink.flush(timeout=config.sink.connect_timeout + 10 if config.sink else 10):
            log.warning("sink: %d records could not be written yet; they stay in %s for the next run", sink.waiting, sink.spool.path)
        await sink.stop(flush_timeout=0)
    return records
