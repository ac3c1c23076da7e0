"""Helpers shared by several test modules (fixtures are in conftest.py): a PostgreSQL database set up the way
Supabase's is, a TCP proxy that can take it away, the CLI as a subprocess, an exporter on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import AsyncIterator

import asyncpg

from healthboard.app.exporter import Exporter, plan_or_fail
from healthboard.app.run import running_exporter
from healthboard.config import parse_config
from healthboard.record import CheckRecord

from conftest import config_text
from devtools.postgres import External, Postgres


class Database:
    def __init__(self, server: Postgres | External, name: str) -> None:
        self.server, self.name = server, name

    def dsn(self, user: str = "postgres") -> str:
        return self.server.dsn(user, self.name)

    async def admin(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.dsn())

    async def fetch(self, query: str, *args: object) -> list[asyncpg.Record]:
        conn = await self.admin()
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()


def record(**fields: object) -> CheckRecord:
    values: dict[str, object] = dict(ts=time.time(), provider="openai", model="gpt-4o-mini", region="seoul", check="chat",
                                     ok=True, http_status=200, error_type=None, latency_ms=420.4)
    values.update(fields)
    return CheckRecord(**values)  # type: ignore[arg-type]


async def insert_as(database: Database, user: str, rec: CheckRecord) -> None:
    conn = await asyncpg.connect(database.dsn(user), statement_cache_size=0)
    try:
        from healthboard.sink.postgres import INSERT, _columns, to_row

        await conn.execute(INSERT, *_columns([json.loads(to_row(rec, "test"))]))
    finally:
        await conn.close()


class Proxy:
    """TCP proxy to Postgres that can be taken down (refuses and resets connections) and brought back."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.server: asyncio.Server | None = None
        self.port = 0
        self._writers: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(Exception):
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


def upstream_port(db: Database) -> int:
    from urllib.parse import urlsplit

    return urlsplit(db.dsn()).port or 5432


def via(db: Database, proxy: Proxy, user: str = "healthboard_writer") -> str:
    return db.dsn(user).replace(f":{upstream_port(db)}/", f":{proxy.port}/")


async def ids_in_db(db: Database) -> list[str]:
    return [str(r["id"]).replace("-", "") for r in await db.fetch("SELECT id FROM llm_checks")]


SINK = """
sink:
  dsn: {dsn}
  spool_dir: {spool}
  batch_size: 25
  batch_max_age: 300ms
  retry_max: 1s
  connect_timeout: 2s
  instance: test-exporter
"""


async def run(*args: str, env: dict[str, str] | None = None, timeout: float = 30) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "healthboard", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**clean_env(), **(env or {})},
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    return process.returncode or 0, out.decode(), err.decode()


def clean_env() -> dict[str, str]:
    drop = {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "COHERE_API_KEY"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.asynccontextmanager
async def exporter_for(text: str, path: str | None = None) -> AsyncIterator[tuple[Exporter, str]]:
    config = parse_config(text, path or "test", {})
    async with running_exporter(config, plan_or_fail(config, "test", {}), path, "127.0.0.1:0", environ={}) as running:
        yield running


def poller_config(url: str, fmt: str = "statuspage", components: str = "[API]", timeout: str = "2s"):  # type: ignore[no-untyped-def]
    """A config probing openai on ``url`` whose status page (``fmt``) is at ``url`` (a page URL)."""
    sim_url = url.split("/status/")[0]
    return parse_config(config_text(sim_url, ["openai"]) + (
        f"status:\n  timeout: {timeout}\n  pages:\n    - {{provider: openai, format: {fmt}, url: '{url}', components: {components}}}\n"), "t", {})


def poller_for(config, metrics, listener=None):  # type: ignore[no-untyped-def]
    """A status poller for ``config``, its metric group on ``metrics`` (what /metrics shows), ``listener`` taking
    its status events."""
    from healthboard.plan import build_plan
    from healthboard.status.poller import StatusPoller

    poller = StatusPoller(config, build_plan(config, {}), metrics.own)
    if listener is not None:
        poller.listeners.append(listener)
    return poller
