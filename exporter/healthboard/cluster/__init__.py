"""Replicas that split the work (README "Scaling out"): N exporters of one region, one config, each target
probed by exactly one of them per tick.

- ``ownership``: who owns a target at a given time — rendezvous hashing over the members active then;
- ``lease``: the membership itself, a lease row per replica in the sink's PostgreSQL
  (``healthboard_members``, migration 0010), renewed by heartbeats and read with the database's clock.
"""

from typing import TYPE_CHECKING, Any

from healthboard.cluster.ownership import Member, Membership, rendezvous_owner

if TYPE_CHECKING:
    from healthboard.cluster.lease import PostgresLease


def __getattr__(name: str) -> Any:
    """PostgresLease on first use (PEP 562): it loads asyncpg, which a single exporter doesn't need."""
    if name == "PostgresLease":
        from healthboard.cluster.lease import PostgresLease

        return PostgresLease
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Member", "Membership", "PostgresLease", "rendezvous_owner"]
