"""Shared fixtures: a live simulator on loopback, targets built from config text, binary lookup."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest

from healthboard.config import parse_config
from healthboard.simulator import Scenario, Simulator, parse_scenario, running_simulator
from healthboard.plan import Target, build_plan
from healthboard.sink.migrate import migrate, migration_files

from devtools.postgres import External, Postgres, PostgresMissing, new_database_name

if TYPE_CHECKING:
    from helpers import Database

IN_CI = bool(os.environ.get("CI"))


def require_binary(name: str) -> str:
    """Path of a real binary the test needs. Missing: skipped loudly outside CI, a failure in CI."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed: run `make test` (it installs it) or scripts/install-system-deps.sh"
    if IN_CI:
        pytest.fail(message)
    pytest.skip("SKIPPED LOUDLY: " + message)
    raise AssertionError  # unreachable


@pytest.fixture(autouse=True)
def _logging_to_a_live_stream():  # type: ignore[no-untyped-def]
    """`main()` points the log handler at the sys.stderr of its moment, which capsys closes afterwards."""
    yield
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and getattr(handler.stream, "closed", False):
            handler.stream = sys.stderr  # not setStream(): it flushes the closed stream first


class Sim:
    def __init__(self, simulator: Simulator, url: str) -> None:
        self.simulator = simulator
        self.url = url

    def script(self, text: str) -> None:
        """Replace the scenario (YAML) and restart its clock."""
        self.simulator.load(parse_scenario(text))


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    async with running_simulator(Scenario(latency={"fixed": 0.01})) as (simulator, url):
        yield Sim(simulator, url)


PROVIDERS = {
    "openai": ("openai", "{url}/v1", "sk-test-openai-0123456789abcdef", "gpt-4o-mini"),
    "anthropic": ("anthropic", "{url}", "sk-ant-test-0123456789abcdef", "claude-3-haiku-20240307"),
    "google": ("gemini", "{url}", "AIzaTestKey0123456789abcdefghij", "gemini-2.0-flash"),
    "cohere": ("cohere", "{url}", "co-test-0123456789abcdef", "command-r7b-12-2024"),
}


#: One working example per registered wire format (kind → base URL on the simulator, key, model, extra keys):
#: tests/test_providers.py runs every kind through the simulator with these. A new wire format adds its line.
KIND_EXAMPLES: dict[str, tuple[str, str, str, str]] = {
    "openai": ("{url}/v1", "sk-test-openai-0123456789abcdef", "gpt-4o-mini", ""),
    "azure-openai": ("{url}", "azure-test-key-0123456789", "my-gpt-4o-mini", "api_version: '2024-10-21'"),
    "anthropic": ("{url}", "sk-ant-test-0123456789abcdef", "claude-3-haiku-20240307", ""),
    "gemini": ("{url}", "AIzaTestKey0123456789abcdefghij", "gemini-2.0-flash", ""),
    "cohere": ("{url}", "co-test-0123456789abcdef", "command-r7b-12-2024", ""),
}


def config_text(url: str, providers: list[str] | None = None, extra: str = "", **overrides: Any) -> str:
    lines = [f"{k}: {v}" for k, v in {"timeout": "2s", "interval": "30s", **overrides}.items()]
    lines.append("providers:")
    for name in providers or list(PROVIDERS):
        kind, base, key, model = PROVIDERS[name]
        lines += [
            f"  - name: {name}",
            f"    kind: {kind}",
            f"    base_url: {base.format(url=url)}",
            f"    api_key: {key}",
            f"    models: [{model}]",
        ]
    return "\n".join(lines) + "\n" + extra


def targets_for(url: str, providers: list[str] | None = None, **overrides: Any) -> list[Target]:
    return build_plan(parse_config(config_text(url, providers, **overrides)), {}).targets


def target(url: str, provider: str = "openai", **overrides: Any) -> Target:
    return targets_for(url, [provider], **overrides)[0]


# -- PostgreSQL (tests/test_sink.py, test_faults.py, test_dashboards.py) --------------------------------


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Postgres | External]:
    dsn = os.environ.get("HEALTHBOARD_TEST_DSN")
    try:
        server: Postgres | External = External(dsn) if dsn else Postgres()
    except PostgresMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(f"SKIPPED LOUDLY: {exc}")
    yield server
    server.close()


@pytest.fixture
async def db(pg_server: Postgres | External) -> AsyncIterator[Database]:
    """A fresh database, set up the way Supabase's is (anon/authenticated with default grants), migrated."""
    from helpers import Database

    name = new_database_name()
    conn = await asyncpg.connect(pg_server.dsn())
    await conn.execute(f"CREATE DATABASE {name}")
    for role in ("anon", "authenticated"):
        await conn.execute(f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN CREATE ROLE {role} NOLOGIN; END IF; END $$")
    await conn.close()
    database = Database(pg_server, name)
    conn = await database.admin()
    await conn.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated")
    await conn.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON FUNCTIONS TO anon, authenticated")
    await conn.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO anon, authenticated")
    await conn.execute("GRANT USAGE ON SCHEMA public TO anon, authenticated")
    await conn.close()
    assert await migrate(database.dsn()) == [p.stem for p in migration_files()]
    conn = await database.admin()
    for role in ("healthboard_writer", "healthboard_reader", "anon", "authenticated"):
        await conn.execute(f"ALTER ROLE {role} LOGIN PASSWORD 'secret-{role}'")
    await conn.close()
    yield database
    conn = await asyncpg.connect(pg_server.dsn())
    await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await conn.close()
