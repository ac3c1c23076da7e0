"""Who probes a target at a given time: rendezvous (highest-random-weight) hashing over the members whose lease
covers that time.

Every replica holds the same view (the lease rows, in the database's clock) and the same target list, so each
decides alone, with no message exchanged, and all agree on every tick: a tick at time t belongs to the member
with the highest ``weight(member, target)`` among those with ``active_from <= t < expires_at``. When a member
leaves, only its own targets move (each to the member with the next-highest weight); when it comes back under
the same name, exactly those targets move back (Thaler & Ravishankar, "Using name-based mappings to increase hit
rates", IEEE/ACM ToN 1998).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable


@dataclasses.dataclass(frozen=True, slots=True)
class Member:
    name: str
    active_from: float  # database clock, unix seconds
    expires_at: float

    def active(self, at: float) -> bool:
        return self.active_from <= at < self.expires_at


def weight(member: str, target_id: str) -> int:
    digest = hashlib.blake2b(f"{member}\x00{target_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def rendezvous_owner(target_id: str, members: Iterable[str]) -> str | None:
    """The member that owns ``target_id`` among ``members`` (None when there are none)."""
    best, best_weight = None, -1
    for name in members:
        w = weight(name, target_id)
        if w > best_weight or (w == best_weight and best is not None and name < best):
            best, best_weight = name, w
    return best


@dataclasses.dataclass(frozen=True, slots=True)
class Membership:
    """One heartbeat's view of a region's members."""

    members: tuple[Member, ...]

    def active(self, at: float) -> list[str]:
        return [m.name for m in self.members if m.active(at)]

    def owner(self, target_id: str, at: float) -> str | None:
        return rendezvous_owner(target_id, self.active(at))
