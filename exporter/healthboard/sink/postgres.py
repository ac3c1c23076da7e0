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
import collections
import contextlib
import itertools
import json
import logging
import socket
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from prometheus_client import CollectorRegistry

from healthboard.config.model import SinkConfig
from healthboard.events import Event, IncidentChange, Probed, StatusEvent
from healthboard.record import CheckRecord
from healthboard.secrets import Secret, scrub
from healthboard.sink.metrics import SinkMetrics
from healthboard.sink.spool import Spool

log = logging.getLogger(__name__)

COLUMNS = ("id", "ts", "provider", "model", "region", "check_name", "instance", "ok", "http_status", "error_type",
           "latency_ms", "input_tokens", "output_tokens", "request_id", "error_message", "scheduled",
           "ttft_ms", "tokens_per_s", "max_gap_ms", "quality_score",  # migration 0007; rows spooled before it have 16 values
           "maintenance")  # migration 0008
_TYPES = ("uuid", "timestamptz", "text", "text", "text", "text", "text", "boolean", "smallint", "text",
          "integer", "integer", "integer", "text", "text", "boolean", "integer", "real", "integer", "smallint", "boolean")
#: What a row spooled by an older version (fewer columns) gets for the columns it lacks.
_PADDING: list[Any] = [None] * (len(COLUMNS) - 1) + [False]
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


def to_row(record: CheckRecord, instance: str, request_ids: str = "all") -> str:
    request_id = record.request_id if request_ids == "all" or not record.ok else None
    return json.dumps([
        record.id, record.ts, record.provider, record.model, record.region, record.check, instance, record.ok,
        record.http_status, record.error_type.value if record.error_type else None, round(record.latency_ms),
        record.input_tokens, record.output_tokens, request_id, record.error_message, record.scheduled,
        None if record.ttft_ms is None else round(record.ttft_ms), record.tokens_per_s,
        None if record.max_gap_ms is None else round(record.max_gap_ms), record.quality_score, record.maintenance,
    ], separators=(",", ":"))


def event_to_row(event: StatusEvent) -> str:
    """Spooled like check records; a JSON object (not an array) marks a status event."""
    return json.dumps({"status_event": [
        str(event.id), event.ts, event.provider, event.kind, event.component, event.status, event.title, event.url,
        event.detection_lead_seconds,
    ]}, separators=(",", ":"))


INCIDENT_COLUMNS = ("event_id", "incident_id", "ts", "provider", "model", "change", "severity", "started_at", "detected_at",
                    "ended_at", "error_types", "regions", "instance")
_INCIDENT_TYPES = ("uuid", "uuid", "timestamptz", "text", "text", "text", "text", "timestamptz", "timestamptz",
                   "timestamptz", "jsonb", "text", "text")
INSERT_INCIDENTS = (  # regions: one comma-separated text per row (unnest can't take an array of arrays)
    f"INSERT INTO llm_incident_events ({', '.join(INCIDENT_COLUMNS)}) "
    f"SELECT e, i, t, p, m, c, s, sa, da, ea, et, string_to_array(r, ','), inst FROM unnest("
    f"{', '.join(f'${i + 1}::{t}[]' for i, t in enumerate(_INCIDENT_TYPES))}) AS u(e, i, t, p, m, c, s, sa, da, ea, et, r, inst) "
    "ON CONFLICT DO NOTHING"
)
_INCIDENT_NS = uuid.UUID("0b9a3f5e-8f61-4d0e-a7a4-3f2b6c1d9e10")


def incident_to_row(change: IncidentChange, instance: str) -> str:
    """Spooled like check records; a JSON object with an ``incident`` key marks an incident change. Its id is
    derived from the incident, the change and the exporter: sent again, it is stored once."""
    event_id = uuid.uuid5(_INCIDENT_NS, f"{change.incident_id}|{change.change}|{instance}")
    return json.dumps({"incident": [
        str(event_id), str(change.incident_id), change.ts, change.provider, change.model, change.change, change.severity,
        change.started, change.detected, change.ended, json.dumps(dict(change.error_types)), ",".join(change.regions), instance,
    ]}, separators=(",", ":"))


def _incident_columns(rows: list[list[Any]]) -> list[list[Any]]:
    import datetime as dt

    columns = [list(c) for c in zip(*rows)]
    for i in (0, 1):
        columns[i] = [uuid.UUID(v) for v in columns[i]]
    for i in (2, 7, 8, 9):
        columns[i] = [None if v is None else dt.datetime.fromtimestamp(v, tz=dt.timezone.utc) for v in columns[i]]
    return columns


def _columns(rows: list[list[Any]]) -> list[list[Any]]:
    """Rows (id, epoch seconds, …) as the typed column arrays unnest() takes."""
    import datetime as dt

    columns = [list(c) for c in zip(*rows)]
    columns[0] = [uuid.UUID(v) for v in columns[0]]
    columns[1] = [dt.datetime.fromtimestamp(v, tz=dt.timezone.utc) for v in columns[1]]
    return columns


#: A retention run (healthboard_prune(): batches of deletes) may take this long before it is abandoned.
PRUNE_TIMEOUT = 300.0
#: Records held in memory at most while the spool's disk refuses them (about 300 bytes each).
OVERFLOW_MAX_ROWS = 100_000

#: What a failed write means, by exception type (the first match wins), for the log line.
_HINTS: tuple[tuple[type[BaseException], str], ...] = (
    (TimeoutError, "no answer within {timeout:g}s: the connection was discarded"),
    (asyncpg.UndefinedTableError, "the schema is missing: run `healthboard migrate`"),
    (asyncpg.InsufficientPrivilegeError, "the role lacks INSERT on llm_checks: use healthboard_writer, see supabase-sink/README.md"),
    (asyncpg.InvalidPasswordError, "the database refused the password in sink.dsn"),
    (OSError, "the database is unreachable"),
)


def _failure(exc: BaseException, timeout: float) -> str:
    hint = next((h for kind, h in _HINTS if isinstance(exc, kind)), "")
    text = scrub(f"{type(exc).__name__}: {exc}") if str(exc) else type(exc).__name__
    return f"{text} ({hint.format(timeout=timeout)})" if hint else text


class PostgresSink:
    def __init__(self, config: SinkConfig, dsn: Secret, registry: CollectorRegistry | None = None) -> None:
        self.config = config
        self.dsn = dsn
        self.metrics = SinkMetrics(registry)
        self.instance = config.instance or socket.gethostname()
        self.spool = Spool(Path(config.spool_dir) / "spool.sqlite3", config.spool_max_rows)
        self.metrics.spool_rows.set(self.spool.count)
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: asyncpg.Connection | None = None
        self._pg_cron: bool | None = None
        self._last_prune = 0.0
        self._dropped_logged = 0.0
        # Records the spool couldn't take (disk full, I/O error), oldest first, in memory until it can again
        # or the database takes them directly. Bounded; past the bound the oldest are dropped and counted.
        self._overflow: collections.deque[str] = collections.deque()
        self._overflow_max = min(config.spool_max_rows, OVERFLOW_MAX_ROWS)
        self._spool_error_logged = float("-inf")
        self._prune_task: asyncio.Task[None] | None = None

    # -- consumer ---------------------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        """A consumer of the scheduler's events: every probe's record, re-checks included."""
        if type(event) is Probed:
            self.submit_many([event.record])

    def submit(self, record: CheckRecord) -> None:
        self.submit_many([record])

    def submit_many(self, records: list[CheckRecord]) -> None:
        self._spool([to_row(r, self.instance, self.config.request_ids) for r in records])

    def submit_status_event(self, event: StatusEvent) -> None:
        """A listener of the status poller: status changes and official incidents, through the same spool."""
        self._spool([event_to_row(event)])

    def submit_incident(self, change: IncidentChange) -> None:
        """A listener of the history book: our detected incidents as they open, turn major and resolve."""
        self._spool([incident_to_row(change, self.instance)])

    @property
    def waiting(self) -> int:
        """Records not yet in Postgres: spooled on disk plus held in memory while the disk refuses them."""
        return self.spool.count + len(self._overflow)

    def _spool(self, payloads: list[str]) -> None:
        self._drained.clear()
        if self._overflow:
            # keep the order: these go after what waits in memory; the writer retries the disk, not every submit
            self._overflow.extend(payloads)
            self._trim_overflow()
            return
        try:
            dropped = self.spool.append(payloads)
        except sqlite3.Error as exc:
            self._spool_failed(exc)
            self._overflow.extend(payloads)
            self._trim_overflow()
            self._wake.set()
            return
        self._spooled(dropped)

    def _move_overflow(self) -> bool:
        """Try to move the records held in memory into the spool; True when none are left."""
        if not self._overflow:
            return True
        try:
            dropped = self.spool.append(list(self._overflow))
        except sqlite3.Error as exc:
            self._spool_failed(exc)
            return False
        self._overflow.clear()
        log.warning("sink spool %s writable again: records held in memory moved to it", self.spool.path)
        self._spooled(dropped)
        return True

    def _trim_overflow(self) -> None:
        excess = len(self._overflow) - self._overflow_max
        for _ in range(max(0, excess)):
            self._overflow.popleft()
        if excess > 0:
            self.metrics.dropped_rows.inc(excess)
        self.metrics.spool_rows.set(self.waiting)

    def _spool_failed(self, exc: sqlite3.Error) -> None:
        self.metrics.spool_errors.inc()
        now = time.monotonic()
        if now - self._spool_error_logged > 60:  # one line a minute, not a traceback per record
            self._spool_error_logged = now
            log.error("sink spool %s can't take records (%s): holding up to %d in memory until it can or the database "
                      "takes them; free disk space under %s", self.spool.path, exc, self._overflow_max, self.spool.path.parent)

    def _spooled(self, dropped: int) -> None:
        self.metrics.spool_rows.set(self.waiting)
        if dropped:
            self.metrics.dropped_rows.inc(dropped)
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
        if self.waiting == 0:
            return True
        self._wake.set()
        try:
            async with asyncio.timeout(timeout):
                await self._drained.wait()
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
        if self._prune_task is not None:
            self._prune_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prune_task
            self._prune_task = None
        if self._conn is not None:
            await self._close()
        if self._overflow and not self._move_overflow():
            log.error("sink: %d records held in memory are lost at shutdown: the spool %s still can't take them",
                      len(self._overflow), self.spool.path)
        self.spool.close()

    # -- the writer -------------------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = 1.0
        while True:
            try:
                backoff = await self._step(backoff)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the writer must never end: log, wait, go on
                log.exception("sink writer: unexpected error; retrying in %gs", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.config.retry_max)

    async def _step(self, backoff: float) -> float:
        """One turn of the writer: wait for a batch, write it, remove it. Returns the next backoff."""
        if self._overflow and not self._move_overflow() and self.spool.count == 0:
            # the disk still refuses records: send the oldest held in memory straight to the database
            batch = list(itertools.islice(self._overflow, self.config.batch_size))
            if await self._write(batch):
                for _ in batch:
                    self._overflow.popleft()
                self.metrics.spool_rows.set(self.waiting)
                return 1.0
            await asyncio.sleep(backoff)
            return min(backoff * 2, self.config.retry_max)
        if self.waiting == 0:
            self._drained.set()
            await self._wait(self.config.batch_max_age)
            await self._maybe_prune()
            return backoff
        if self.spool.count < self.config.batch_size and not self._overflow:
            await self._wait(self.config.batch_max_age)  # let a batch fill up, at most batch_max_age
        batch = self.spool.peek(self.config.batch_size)
        if not batch:
            self.spool.recount()  # the count was off: never spin on an empty spool
            self.metrics.spool_rows.set(self.waiting)
            await asyncio.sleep(0.1 if self._overflow else 0)
            return backoff
        if await self._write([payload for _, payload in batch]):
            self.spool.remove_through(batch[-1][0])
            self.metrics.spool_rows.set(self.waiting)
            await self._checkpoint()
            if self.waiting >= self.config.batch_size:
                self._wake.set()  # catching up: next batch at once
            return 1.0
        await asyncio.sleep(backoff)
        return min(backoff * 2, self.config.retry_max)

    async def _wait(self, timeout: float) -> None:
        try:
            async with asyncio.timeout(timeout):  # not wait_for: on 3.11 it can swallow a cancellation
                await self._wake.wait()
        except TimeoutError:
            pass
        self._wake.clear()

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
                async with asyncio.timeout(2):
                    await conn.close()
            except Exception:  # noqa: BLE001 - the connection is being discarded anyway
                conn.terminate()

    def _discard(self) -> None:
        """Drop the connection at once, whatever state it is in (after a deadline passed mid-operation)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    async def _write(self, payloads: list[str]) -> bool:
        """Write one batch in one transaction, within ``write_timeout`` for everything (connecting, BEGIN, the
        INSERTs, COMMIT): past it the connection is discarded, whatever it was doing, and the batch retried."""
        started = time.perf_counter()
        try:
            checks, events, incidents = [], [], []
            for payload in payloads:
                if payload.startswith("{"):
                    message = json.loads(payload)
                    if "incident" in message:
                        incidents.append(message["incident"])
                    else:
                        events.append(message["status_event"])
                else:
                    row = json.loads(payload)
                    checks.append(row + _PADDING[len(row):])  # spooled by an older version
            async with asyncio.timeout(self.config.write_timeout):
                conn = await self._connection()
                # no `async with conn.transaction()`: on a timeout its exit would await a ROLLBACK on the hung
                # connection, outside any deadline. A failed write discards the connection instead, which
                # ends the transaction on the server.
                transaction = conn.transaction()
                await transaction.start()
                if checks:
                    await conn.execute(INSERT, *_columns(checks))
                if events:
                    await conn.execute(INSERT_EVENTS, *_columns(events))
                if incidents:
                    await conn.execute(INSERT_INCIDENTS, *_incident_columns(incidents))
                await transaction.commit()
        except asyncio.CancelledError:
            self._discard()
            raise
        except Exception as exc:  # noqa: BLE001 - every failure keeps the batch spooled; see _failure
            self.metrics.write_errors.inc()
            log.warning("sink: writing %d records failed, they stay spooled (%d waiting): %s",
                        len(payloads), self.waiting, _failure(exc, self.config.write_timeout))
            self._discard()
            return False
        self.metrics.batch_duration.observe(time.perf_counter() - started)
        self.metrics.rows_written.inc(len(payloads))
        self.metrics.last_success.set(time.time())
        return True

    async def _maybe_prune(self) -> None:
        """Start a retention run when one is due, in a task of its own on a connection of its own: a long
        delete (or a hung database) must never hold up the writer."""
        if self.config.prune == "never" or time.monotonic() - self._last_prune < self.config.prune_interval:
            return
        if self._prune_task is not None and not self._prune_task.done():
            return
        self._last_prune = time.monotonic()
        self._prune_task = asyncio.create_task(self._prune(), name="sink-retention")

    async def _prune(self) -> None:
        conn: asyncpg.Connection | None = None
        try:
            async with asyncio.timeout(PRUNE_TIMEOUT):
                conn = await asyncpg.connect(self.dsn.reveal(), timeout=self.config.connect_timeout, statement_cache_size=0,
                                             server_settings={"application_name": "llm-healthboard-retention"})
                if self.config.prune == "auto":
                    if self._pg_cron is None:
                        self._pg_cron = bool(await conn.fetchval("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron')"))
                    if self._pg_cron:
                        return
                deleted = await conn.fetchval("SELECT healthboard_prune()")
            if deleted:
                log.info("sink retention: deleted %d rows older than the retention period", deleted)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - retried at the next interval
            log.warning("sink retention run failed (will retry in %gs): %s", self.config.prune_interval, _failure(exc, PRUNE_TIMEOUT))
        finally:
            if conn is not None:
                conn.terminate()
