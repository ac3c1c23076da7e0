"""A durable, bounded, ordered spool on local disk (SQLite in WAL mode, from the standard library).

Every record goes through the spool before it is written to Postgres, and leaves it only after Postgres
committed it. A committed SQLite transaction survives SIGKILL of the process, so a crash loses nothing;
a record sent but not yet removed is sent again after a restart and deduplicated by its id.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path


class SpoolUnusable(Exception):
    """The spool can't be opened: the message names the path, the reason and what to do."""


class Spool:
    def __init__(self, path: Path, max_rows: int) -> None:
        self.path = path
        self.max_rows = max_rows
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self._open()
        except (OSError, sqlite3.Error) as exc:
            raise SpoolUnusable(_why(path, exc)) from None

    def _open(self) -> None:
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
        if not os.access(self.path, os.W_OK):
            raise sqlite3.OperationalError("attempt to write a readonly database")

    def append(self, payloads: list[str]) -> int:
        """Add rows at the end; past the bound drop the oldest. Returns how many were dropped. All or nothing:
        on an error (disk full, I/O) nothing was added, ``count`` is unchanged and the error is raised."""
        dropped = 0
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT INTO spool (payload) VALUES (?)", [(p,) for p in payloads])
            excess = self.count + len(payloads) - self.max_rows
            if excess > 0:
                cursor = self._db.execute(
                    "DELETE FROM spool WHERE seq IN (SELECT seq FROM spool ORDER BY seq LIMIT ?)", (excess,)
                )
                dropped = cursor.rowcount
            self._db.execute("COMMIT")
        except sqlite3.Error:
            if self._db.in_transaction:
                try:
                    self._db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # SQLite rolled back by itself (it does on SQLITE_FULL and I/O errors)
            raise
        self.count += len(payloads) - dropped
        return dropped

    def recount(self) -> int:
        """Re-read the row count from the file (after an error left it in doubt)."""
        self.count = self._db.execute("SELECT count(*) FROM spool").fetchone()[0]
        return self.count

    def peek(self, limit: int) -> list[tuple[int, str]]:
        """The oldest rows, in order, without removing them."""
        return self._db.execute("SELECT seq, payload FROM spool ORDER BY seq LIMIT ?", (limit,)).fetchall()

    def remove_through(self, seq: int) -> None:
        cursor = self._db.execute("DELETE FROM spool WHERE seq <= ?", (seq,))
        self.count = max(0, self.count - cursor.rowcount)

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


def _why(path: Path, exc: BaseException) -> str:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    if isinstance(exc, (NotADirectoryError, FileExistsError)):
        todo = f"{path.parent} (or a folder above it) is a file: set sink.spool_dir to a directory"
    elif isinstance(exc, PermissionError) or "readonly" in reason or "unable to open" in reason:
        todo = f"make {path.parent} writable by this user, or set sink.spool_dir to a writable directory"
    elif isinstance(exc, sqlite3.DatabaseError) and ("not a database" in reason or "malformed" in reason):
        todo = f"{path} is not a healthboard spool or is damaged: move it aside (its unsent records are lost) and restart"
    else:
        todo = "check the disk and sink.spool_dir"
    return f"spool {path}: {reason}; {todo}"
