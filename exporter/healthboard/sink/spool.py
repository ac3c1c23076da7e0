"""A durable, bounded, ordered spool on local disk (SQLite in WAL mode, from the standard library).

Every record goes through the spool before it is written to Postgres, and leaves it only after Postgres
committed it. A committed SQLite transaction survives SIGKILL of the process, so a crash loses nothing;
a record sent but not yet removed is sent again after a restart and deduplicated by its id.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


class Spool:
    def __init__(self, path: Path, max_rows: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_rows = max_rows
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # a commit survives a process crash; fsync at checkpoints
        self._db.execute("CREATE TABLE IF NOT EXISTS spool (seq INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL)")
        self.count: int = self._db.execute("SELECT count(*) FROM spool").fetchone()[0]

    def append(self, payloads: list[str]) -> int:
        """Add rows at the end; past the bound drop the oldest. Returns how many were dropped."""
        self._db.execute("BEGIN")
        self._db.executemany("INSERT INTO spool (payload) VALUES (?)", [(p,) for p in payloads])
        self.count += len(payloads)
        dropped = 0
        if self.count > self.max_rows:
            excess = self.count - self.max_rows
            cursor = self._db.execute(
                "DELETE FROM spool WHERE seq IN (SELECT seq FROM spool ORDER BY seq LIMIT ?)", (excess,)
            )
            dropped = cursor.rowcount
            self.count -= dropped
        self._db.execute("COMMIT")
        return dropped

    def peek(self, limit: int) -> list[tuple[int, str]]:
        """The oldest rows, in order, without removing them."""
        return self._db.execute("SELECT seq, payload FROM spool ORDER BY seq LIMIT ?", (limit,)).fetchall()

    def remove_through(self, seq: int) -> None:
        cursor = self._db.execute("DELETE FROM spool WHERE seq <= ?", (seq,))
        self.count -= cursor.rowcount

    def close(self) -> None:
        self._db.close()
