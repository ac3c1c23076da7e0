"""A real PostgreSQL for tests and benchmarks: our own server in a temp dir on a free loopback port (as the
postgres user when running as root: initdb and postgres refuse root), or the one HEALTHBOARD_TEST_DSN
names (an admin URL). Not used by the exporter itself."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path



class PostgresMissing(RuntimeError):
    pass


def _bindir() -> Path | None:
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=10)
        candidates = [Path(out.stdout.strip())] if out.returncode == 0 else []
    except FileNotFoundError:
        candidates = []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for path in candidates:
        if (path / "initdb").exists() and (path / "postgres").exists():
            return path
    return None


class Postgres:
    """Our own server, stoppable and restartable (for outage tests)."""

    def __init__(self) -> None:
        bindir = _bindir()
        if bindir is None:
            raise PostgresMissing("PostgreSQL server binaries (initdb, postgres) not found: apt-get install postgresql-15")
        self.bindir = bindir
        self.tmp = Path(tempfile.mkdtemp(prefix="healthboard-pg-"))
        self.data = self.tmp / "data"
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            postgres = pwd.getpwnam("postgres")
            os.chown(self.tmp, postgres.pw_uid, postgres.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
        self.start()

    def _run(self, binary: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / binary), *args]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise RuntimeError(f"{binary} failed: {result.stdout}{result.stderr}")
        return result

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.tmp} -c fsync=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.tmp / "server.log"), "-o", options, "-w", "-t", "30", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def dsn(self, user: str = "postgres", database: str = "postgres") -> str:
        return f"postgresql://{user}:secret-{user}@127.0.0.1:{self.port}/{database}"

    def close(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop", check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)


class External:
    """A server we don't control (HEALTHBOARD_TEST_DSN): no stop/start."""

    def __init__(self, dsn: str) -> None:
        self.admin = dsn

    def dsn(self, user: str = "postgres", database: str = "postgres") -> str:
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(self.admin)
        if user == "postgres":
            return urlunsplit(parts._replace(path="/" + database))
        host = parts.hostname + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=f"{user}:secret-{user}@{host}", path="/" + database))

    def close(self) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_database_name() -> str:
    return "hb_" + uuid.uuid4().hex[:12]


def wait_until(predicate, timeout: float, interval: float = 0.2) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
