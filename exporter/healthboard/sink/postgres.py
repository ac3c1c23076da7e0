"""The sink: every check record mirrored into Postgres/Supabase, through a durable spool.

Flow: the scheduler hands a record to ``submit`` (a listener) → it is appended to the on-disk spool (a
small local write; it never waits for the network) → a background task writes the oldest spooled rows to
Postgres in batches (by size and age), ``INSERT … ON CONFLICT DO NOTHING` (on the id primary key)` so a re-sent batch is
harmless, and removes them from the spool only after the commit. While the database is unreachable, rows
stay spooled (bounded; past the bound the oldest are dropped and counted) and are replayed in order with
exponential backoff. Memory holds one batch at most.

Compatible with Supabase's pooler in transaction mode: asyncpg's statement cache is off, so no prepared
statement outlives its transaction.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sqlite3
import time
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg

from healthboard.config import env as config_env
from healthboard.config.loader import ConfigError
from healthboard.config.model import SinkConfig
from healthboard.metrics import Metrics
from healthboard.record import CheckRecord
from healthboard.secrets import Secret, scrub
from healthboard.sink.spool import Spool

if TYPE_CHECKING:
    from healthboard.status.poller import StatusEvent

log = logging.getLogger(__name__)

COLUMNS = ("id", "ts", "provider", "model", "region", "check_name", "instance", "ok", "http_status", "error_type",
           "latency_ms", "input_tokens", "output_tokens", "request_id", "error_message", "scheduled")
_TYPES = ("uuid", "timestamptz", "text", "text", "text", "text", "text", "boolean", "smallint", "text",
          "integer", "integer", "integer", "text", "text", "boolean")
INSERT = (
    f"INSERT INTO llm_checks ({', '.join(COLUMNS)}) "
    f"SELECT * FROM unnest({', '.join(f'${i + 1}::{t}[]' for i, t in enumerate(_TYPES))}) "
    "ON CONFLICT DO NOTHING"  # no conflict target: needs no SELECT privilege; the id is the only unique key
)

EVENT_COLUMNS = ("event_id", "ts", "provider", "kind", "component", "status", "title", "url", "detection_lead_seconds")
_EVENT_TYPES = ("uuid", "timestamptz", "text", "text", "text", "text", "text", "text", "real")
INSERT_EVENTS = (
    f"INSERT INTO provider_status_events ({', '.join(EVENT_COLUMNS)}) "
    f"SELECT * FROM unnest({', '.join(f'${i + 1}::{t}[]' for i, t in enumerate(_EVENT_TYPES))}) "
    "ON CONFLICT DO NOTHING"
)


def resolve_dsn(config: SinkConfig, environ: Mapping[str, str], source: str) -> Secret:
    """The DSN as a Secret (its password registered for scrubbing); a ConfigError naming what to set."""
    try:
        if config.dsn_file is not None:
            path = Path(config_env.expand(config.dsn_file, environ))
            value = path.read_text(encoding="utf-8").strip()
        else:
            value = config_env.expand(config.dsn or "", environ)
    except config_env.UnsetVariable as exc:
        raise ConfigError(source, [("sink.dsn", f"environment variable {exc.name} is not set; export it (a postgresql:// URL for the healthboard_writer role) or remove the sink block")]) from None
    except OSError as exc:
        raise ConfigError(source, [("sink.dsn_file", f"can't be read: {exc.strerror or exc}")]) from None
    if not value.startswith(("postgres://", "postgresql://")):
        raise ConfigError(source, [("sink.dsn", "must be a postgresql:// URL, e.g. postgresql://healthboard_writer:PASSWORD@HOST:6543/postgres")])
    password = urllib.parse.urlsplit(value).password
    if password:
        Secret(password)
        Secret(urllib.parse.unquote(password))
    return Secret(value)


def to_row(record: CheckRecord, instance: str, request_ids: str = "all") -> str:
    request_id = record.request_id if request_ids == "all" or not record.ok else None
    return json.dumps([
        record.id, record.ts, record.provider, record.model, record.region, record.check, instance, record.ok,
        record.http_status, record.error_type.value if record.error_type else None, round(record.latency_ms),
        record.input_tokens, record.output_tokens, request_id, record.error_message, record.scheduled,
    ], separators=(",", ":"))


def event_to_row(event: "StatusEvent") -> str:
    """Spooled like check records; a JSON object (not an array) marks a status event."""
    return json.dumps({"status_event": [
        str(event.id), event.ts, event.provider, event.kind, event.component, event.status, event.title, event.url,
        event.detection_lead_seconds,
    ]}, separators=(",", ":"))


def _columns(rows: list[list[Any]]) -> list[list[Any]]:
    """Rows (id, epoch seconds, …) as the typed column arrays unnest() takes."""
    import datetime as dt
    import uuid

    columns = [list(c) for c in zip(*rows)]
    columns[0] = [uuid.UUID(v) for v in columns[0]]
    columns[1] = [dt.datetime.fromtimestamp(v, tz=dt.timezone.utc) for v in columns[1]]
    return columns


class PostgresSink:
    def __init__(self, config: SinkConfig, dsn: Secret, metrics: Metrics) -> None:
        self.config = config
        self.dsn = dsn
        self.metrics = metrics
        self.instance = config.instance or socket.gethostname()
        self.spool = Spool(Path(config.spool_dir) / "spool.sqlite3", config.spool_max_rows)
        self.metrics.sink_spool_rows.set(self.spool.count)
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: asyncpg.Connection | None = None
        self._pg_cron: bool | None = None
        self._last_prune = 0.0
        self._dropped_logged = 0.0

    # -- listener ---------------------------------------------------------------------------------

    def submit(self, record: CheckRecord, state: object = None) -> None:
        self.submit_many([record])

    def submit_many(self, records: list[CheckRecord]) -> None:
        self._spool([to_row(r, self.instance, self.config.request_ids) for r in records])

    def submit_status_event(self, event: "StatusEvent") -> None:
        """Status poller listener: status changes and official incidents, through the same spool."""
        self._spool([event_to_row(event)])

    def _spool(self, payloads: list[str]) -> None:
        dropped = self.spool.append(payloads)
        self.metrics.sink_spool_rows.set(self.spool.count)
        self._drained.clear()
        if dropped:
            self.metrics.sink_dropped_rows.inc(dropped)
            now = time.monotonic()
            if now - self._dropped_logged > 60:
                self._dropped_logged = now
                log.warning("sink spool is full (%d rows): dropped the %d oldest; the database has been unreachable too long",
                            self.spool.max_rows, dropped)
        if self.spool.count >= self.config.batch_size:
            self._wake.set()

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="sink")

    async def flush(self, timeout: float) -> bool:
        """Wait until the spool is empty (True) or ``timeout`` passes (False; rows stay spooled)."""
        if self.spool.count == 0:
            return True
        self._wake.set()
        try:
            await asyncio.wait_for(self._drained.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def stop(self, flush_timeout: float = 5.0) -> None:
        if self._task is not None:
            await self.flush(flush_timeout)
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._conn is not None:
            await self._close()
        self.spool.close()

    # -- the writer -------------------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = 1.0
        while True:
            if self.spool.count == 0:
                self._drained.set()
                try:
                    await asyncio.wait_for(self._wake.wait(), self.config.batch_max_age)
                except TimeoutError:
                    pass
                self._wake.clear()
                await self._maybe_prune()
                continue
            if self.spool.count < self.config.batch_size:
                # let a batch fill up, at most batch_max_age
                try:
                    await asyncio.wait_for(self._wake.wait(), self.config.batch_max_age)
                except TimeoutError:
                    pass
                self._wake.clear()
            batch = self.spool.peek(self.config.batch_size)
            if not batch:
                continue
            if await self._write([payload for _, payload in batch]):
                self.spool.remove_through(batch[-1][0])
                self.metrics.sink_spool_rows.set(self.spool.count)
                await self._checkpoint()
                backoff = 1.0
                if self.spool.count >= self.config.batch_size:
                    self._wake.set()  # catching up: next batch at once
            else:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.config.retry_max)

    async def _checkpoint(self) -> None:
        """Copy the spool's WAL into its database file from a worker thread (it writes and fsyncs)."""
        try:
            await asyncio.to_thread(self.spool.checkpoint)
        except sqlite3.Error as exc:  # the automatic checkpoint is the backstop; rows are committed either way
            log.warning("sink: spool checkpoint failed: %s", exc)

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(
                self.dsn.reveal(),
                timeout=self.config.connect_timeout,
                statement_cache_size=0,  # Supabase pooler (transaction mode): no prepared statement reuse
                server_settings={"application_name": "llm-healthboard-sink"},
            )
        return self._conn

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await asyncio.wait_for(conn.close(), 2)
            except Exception:  # noqa: BLE001 - the connection is being discarded anyway
                conn.terminate()

    async def _write(self, payloads: list[str]) -> bool:
        started = time.perf_counter()
        try:
            conn = await self._connection()
            checks, events = [], []
            for payload in payloads:
                if payload.startswith("{"):
                    events.append(json.loads(payload)["status_event"])
                else:
                    checks.append(json.loads(payload))
            async with conn.transaction():
                if checks:
                    await conn.execute(INSERT, *_columns(checks), timeout=self.config.connect_timeout)
                if events:
                    await conn.execute(INSERT_EVENTS, *_columns(events), timeout=self.config.connect_timeout)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            self.metrics.sink_write_errors.inc()
            hint = ""
            if isinstance(exc, asyncpg.UndefinedTableError):
                hint = " (the schema is missing: run `healthboard migrate`)"
            elif isinstance(exc, asyncpg.InsufficientPrivilegeError):
                hint = " (the role lacks INSERT on llm_checks: use healthboard_writer, see supabase-sink/README.md)"
            log.warning("sink: writing %d records failed, they stay spooled (%d waiting): %s%s",
                        len(payloads), self.spool.count, scrub(f"{type(exc).__name__}: {exc}"), hint)
            await self._close()
            return False
        self.metrics.sink_batch_duration.observe(time.perf_counter() - started)
        self.metrics.sink_rows_written.inc(len(payloads))
        self.metrics.sink_last_success.set(time.time())
        return True

    async def _maybe_prune(self) -> None:
        if self.config.prune == "never" or time.monotonic() - self._last_prune < self.config.prune_interval:
            return
        self._last_prune = time.monotonic()
        try:
            conn = await self._connection()
            if self.config.prune == "auto":
                if self._pg_cron is None:
                    self._pg_cron = bool(await conn.fetchval("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron')"))
                if self._pg_cron:
                    return
            deleted = await conn.fetchval("SELECT healthboard_prune()", timeout=300)
            if deleted:
                log.info("sink retention: deleted %d rows older than the retention period", deleted)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            log.warning("sink retention run failed (will retry in %gs): %s", self.config.prune_interval, scrub(str(exc)))
            await self._close()

