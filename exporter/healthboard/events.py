"""What flows out of the scheduler, one way, to every consumer (metrics, the health book, the recent-checks ring,
the transition log, the sink, the status poller): immutable events. Consumers never call back into the
scheduler or read its state; what they need is in the event.

- ``TargetAdded``: a target starts being probed, or its settings changed (same id);
- ``TargetRemoved``: it stopped (removed from the config);
- ``TargetPaused``: the kill switch turned it off or on again;
- ``TargetHandedOver``: with replicas (healthboard/cluster/), another replica probes it from now on (``here``
  False: its series leave this replica's /metrics) or this one does again (``here`` True);
- ``Probed``: one probe's record, with the target's counts after it and its effective interval.

The status poller produces ``StatusEvent``s (what an official status page said changed) and the history book
``IncidentChange``s (our detected incidents opening, turning major, resolving), both for the sink.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Union

from healthboard.evidence import Progress
from healthboard.record import CheckRecord

if TYPE_CHECKING:
    from healthboard.plan import Target


@dataclasses.dataclass(frozen=True, slots=True)
class TargetAdded:
    target: "Target"


@dataclasses.dataclass(frozen=True, slots=True)
class TargetRemoved:
    target_id: str


@dataclasses.dataclass(frozen=True, slots=True)
class TargetHandedOver:
    target: "Target"
    here: bool  # True: this replica probes it from now on; False: another one does


@dataclasses.dataclass(frozen=True, slots=True)
class TargetPaused:
    target_id: str
    paused: bool


@dataclasses.dataclass(frozen=True, slots=True)
class Probed:
    record: CheckRecord
    progress: Progress
    interval: float  # the target's effective interval from now on (429 backoff stretches it)
    lag: float  # seconds between when the probe was due and when it started


@dataclasses.dataclass(frozen=True, slots=True)
class StatusEvent:
    """A row of provider_status_events. ``id`` is derived from what happened, so the same change seen by
    several exporters (one per region) or again after a restart is stored once."""

    id: uuid.UUID
    ts: float
    provider: str
    kind: str  # component | incident
    component: str
    status: str
    title: str | None
    url: str | None
    detection_lead_seconds: float | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class IncidentChange:
    """A change of an incident our probes detected (healthboard/history.py): a row of llm_incident_events."""

    incident_id: uuid.UUID
    change: str  # opened | major | resolved
    ts: float
    provider: str
    model: str
    severity: str  # partial | major
    started: float
    detected: float
    ended: float | None
    error_types: tuple[tuple[str, int], ...]
    regions: tuple[str, ...]


Event = Union[TargetAdded, TargetRemoved, TargetHandedOver, TargetPaused, Probed]  # noqa: UP007
#: A consumer takes every event; it ignores the kinds it has no use for.
Consumer = Callable[[Event], None]

__all__ = ["Consumer", "Event", "IncidentChange", "Probed", "Progress", "StatusEvent", "TargetAdded", "TargetHandedOver", "TargetPaused", "TargetRemoved"]
