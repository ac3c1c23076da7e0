"""Mirror of every check record into Postgres/Supabase (see supabase-sink/README.md)."""

from healthboard.sink.postgres import PostgresSink
from healthboard.sink.spool import Spool

__all__ = ["PostgresSink", "Spool"]
