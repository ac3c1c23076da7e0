"""Applies supabase-sink/migrations/*.sql in order, once each, tracked in healthboard_migrations.

The files are idempotent on their own too (IF NOT EXISTS, CREATE OR REPLACE), so applying them by hand
(Supabase SQL editor, docker-entrypoint-initdb.d) and then with this runner is safe.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

import asyncpg

from healthboard.secrets import Secret

log = logging.getLogger(__name__)

_TRACKING = """
CREATE TABLE IF NOT EXISTS healthboard_migrations (
    version    text PRIMARY KEY,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE healthboard_migrations ENABLE ROW LEVEL SECURITY;
"""


def migration_files() -> list[Path]:
    folder = Path(str(resources.files("healthboard.sink").joinpath("migrations")))
    return sorted(folder.glob("*.sql"))


LOGIN_ROLES = ("healthboard_writer", "healthboard_reader")


async def migrate(dsn: str, passwords: Mapping[str, Secret] | None = None) -> list[str]:
    """Apply pending migrations; return the versions applied now. ``passwords`` (role → password) lets
    those roles log in (they are created NOLOGIN)."""
    conn = await asyncpg.connect(dsn, statement_cache_size=0)
    applied_now: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock(hashtext('healthboard_migrations'))")
        await conn.execute(_TRACKING)
        done = {r["version"]: r["checksum"] for r in await conn.fetch("SELECT version, checksum FROM healthboard_migrations")}
        for path in migration_files():
            version, sql = path.stem, path.read_text(encoding="utf-8")
            checksum = hashlib.sha256(sql.encode()).hexdigest()
            if version in done:
                if done[version] != checksum:
                    log.warning("migration %s changed since it was applied; applying it again (migrations are idempotent)", version)
                else:
                    continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO healthboard_migrations (version, checksum) VALUES ($1, $2) "
                    "ON CONFLICT (version) DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = now()",
                    version, checksum,
                )
            applied_now.append(version)
            log.info("applied migration %s", version)
        await conn.execute("SELECT healthboard_hide_from_api('healthboard_migrations')")  # defined by 0002
        for role, password in (passwords or {}).items():
            if role not in LOGIN_ROLES:
                raise ValueError(f"{role} is not one of {LOGIN_ROLES}")
            literal = await conn.fetchval("SELECT quote_literal($1::text)", password.reveal())
            await conn.execute(f"ALTER ROLE {role} LOGIN PASSWORD {literal}")  # no bind parameters in ALTER ROLE
            log.info("role %s can log in", role)
    finally:
        try:
            await conn.execute("SELECT pg_advisory_unlock(hashtext('healthboard_migrations'))")
        finally:
            await conn.close()
    return applied_now
