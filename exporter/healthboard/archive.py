"""The status page's long history from the Postgres sink (``status_page.history_dsn``, the healthboard_reader role):
each target's settled days (requests, outage failures and maintenance probes, counted as everywhere else) and our
detected incidents, loaded into the history book in the background. The first load reads the whole window; after
that only the days that settled since, and the incidents, every REFRESH seconds. The page itself never waits on
the database: it renders from memory (bench/status_report.py times it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

import asyncpg

from healthboard.history import HistoryBook, Incident
from healthboard.secrets import Secret, scrub

log = logging.getLogger(__name__)

REFRESH = 600.0
DAYS = 90

DAYS_SQL = """
SELECT (extract(epoch FROM date_trunc('day', ts, 'UTC')) / 86400)::int AS day, provider, model, region, check_name,
       count(*) FILTER (WHERE scheduled AND NOT maintenance)                                          AS requests,
       count(*) FILTER (WHERE scheduled AND NOT maintenance AND NOT ok
                        AND error_type NOT IN ('auth', 'quota', 'not_found', 'bad_request', 'rate_limit')) AS failures,
       count(*) FILTER (WHERE scheduled AND maintenance)                                              AS maintenance
FROM llm_checks
WHERE ts >= to_timestamp($1::float8 * 86400) AND ts < to_timestamp($2::float8 * 86400)
GROUP BY 1, 2, 3, 4, 5
"""
INCIDENTS_SQL = """
SELECT incident_id, provider, model, severity, started_at, detected_at, ended_at, error_types::text AS error_types, regions
FROM llm_incidents WHERE started_at >= now() - make_interval(days => $1)
"""


class ArchiveLoader:
    def __init__(self, dsn: Secret, book: HistoryBook, region: str, days: int = DAYS) -> None:
        self.dsn, self.book, self.region, self.days = dsn, book, region, days
        self.loaded_until: int | None = None  # the first unix day not loaded yet
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="history-archive")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.load()
                self.last_error = None
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                message = scrub(f"{type(exc).__name__}: {exc}")
                if message != self.last_error:
                    log.warning("status page history: the sink's Postgres can't be read (%s); the page shows memory only", message)
                self.last_error = message
            await asyncio.sleep(REFRESH)

    async def load(self, now: float | None = None) -> None:
        """Read what is new since the last load: settled days (before yesterday) and the incidents."""
        today = int((time.time() if now is None else now) // 86400)
        first = self.loaded_until if self.loaded_until is not None else today - self.days + 1
        conn = await asyncpg.connect(self.dsn.reveal(), timeout=15)
        try:
            if first < today - 1:
                for row in await conn.fetch(DAYS_SQL, first, today - 1, timeout=300):
                    if row["region"] == self.region:
                        target = f"{row['provider']}/{row['model']}/{row['check_name']}"
                        self.book.archived.setdefault(target, {})[row["day"]] = (row["requests"], row["failures"], row["maintenance"])
                self.loaded_until = today - 1
            incidents = []
            for row in await conn.fetch(INCIDENTS_SQL, self.days, timeout=60):
                incident = Incident(row["provider"], row["model"], row["started_at"].timestamp(), row["detected_at"].timestamp(),
                                    row["ended_at"].timestamp() if row["ended_at"] else None, row["severity"])
                incident.error_types.update(json.loads(row["error_types"] or "{}"))
                incident.regions.update(row["regions"] or [])
                incidents.append(incident)
            self.book.archived_incidents = incidents
        finally:
            await conn.close()
        oldest = today - self.days
        for days in self.book.archived.values():
            for day in [d for d in days if d < oldest]:
                del days[day]
