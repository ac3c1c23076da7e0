"""A durable, bounded, ordered spool on local disk (SQLite in WAL mode, from the standard library).

Every record goes through the spool before it is written to Postgres, and leaves it only after Postgres
committed it. A committed SQLite transaction survives SIGKILL of the process, so a crash loses nothing;
a record sent but not yet removed is sent again after a restart and deduplicated by its id.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path


class Spool:
    def __init__(self, path: Path, max_rows: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_rows = max_rows
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # a commit survives a process crash; fsync at checkpoints
        # Checkpoints run inside whichever commit crosses the WAL threshold, here on the event loop, and their
        # fsync stalled it for up to ~270 ms at the default 1,000 pages. checkpoint() runs them from a worker
        # thread after each batch; the automatic one stays only as a backstop (10,000 pages, ~40 MB) for
        # when appends never leave the WAL fully copied long enough for it to be reused.
        self._db.execute("PRAGMA wal_autocheckpoint=10000")
        self._checkpointer: sqlite3.Connection | None = None
        self._checkpoint_lock = threading.Lock()  # close() must not pull the connection from under a checkpoint
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

    def checkpoint(self) -> None:
        """Copy the WAL into the database file (PASSIVE: never blocks appends) on a connection of its own.
        Meant for a worker thread (sqlite releases the GIL while it writes and fsyncs)."""
        with self._checkpoint_lock:
            if self._db is None:
                return  # closed meanwhile
            if self._checkpointer is None:
                self._checkpointer = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        with self._checkpoint_lock:
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None
            if self._db is not None:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                self._db.close()
                self._db = None  # type: ignore[assignment]
