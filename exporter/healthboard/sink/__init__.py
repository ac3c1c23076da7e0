"""Mirror of every check record into Postgres/Supabase (see supabase-sink/README.md)."""

from typing import TYPE_CHECKING, Any

from healthboard.sink.spool import Spool

if TYPE_CHECKING:
    from healthboard.sink.postgres import PostgresSink

__all__ = ["PostgresSink", "Spool"]


def __getattr__(name: str) -> Any:
    """PostgresSink on first use (PEP 562): it loads asyncpg, which an exporter without a sink doesn't need."""
    if name == "PostgresSink":
        from healthboard.sink.postgres import PostgresSink

        return PostgresSink
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
