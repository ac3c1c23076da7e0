"""Maintenance windows, resolved from the config (``maintenance:``) for the plan's targets.

A window is one-off (start, length) or recurring (start, length, every period). During it probes still run; the
scheduler flags their records (``CheckRecord.maintenance``), the probe metrics export ``llm_probe_maintenance``
(1 while it lasts), which the LLMMaintenance alert turns into an Alertmanager inhibition of the scope's alerts,
and every availability figure (status page, badges, report, sink views) leaves those records out. The exporter's
config is the single source of truth: Alertmanager needs no time_intervals of its own (docs/ALERTING.md).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable


@dataclasses.dataclass(frozen=True, slots=True)
class Window:
    name: str
    start: float  # unix seconds of the (first) occurrence
    length: float  # seconds
    period: float = 0.0  # seconds between occurrences; 0: one-off
    provider: str | None = None
    model: str | None = None
    region: str | None = None

    def applies_to(self, provider: str, model: str, region: str) -> bool:
        return ((self.provider is None or self.provider == provider) and (self.model is None or self.model == model)
                and (self.region is None or self.region == region))

    def occurrence(self, ts: float) -> tuple[float, float] | None:
        """The (start, end) of the occurrence covering ``ts``, or None."""
        if ts < self.start:
            return None
        begin = self.start + (math.floor((ts - self.start) / self.period) * self.period if self.period else 0.0)
        return (begin, begin + self.length) if ts < begin + self.length else None

    def next_start(self, ts: float) -> float | None:
        """The start of the next occurrence after ``ts`` (None: a one-off window already begun)."""
        if ts < self.start:
            return self.start
        if not self.period:
            return None
        return self.start + (math.floor((ts - self.start) / self.period) + 1) * self.period

    @property
    def scope(self) -> str:
        """provider/model as people read it ("all providers" when unscoped); the region is a separate field."""
        return "/".join(p for p in (self.provider or "all providers", self.model) if p)


def active(windows: Iterable[Window], ts: float) -> Window | None:
    """The window covering ``ts`` among ``windows`` (the first, when several do)."""
    return next((w for w in windows if w.occurrence(ts) is not None), None)


def of_config(entries: Iterable[object]) -> tuple[Window, ...]:
    """Windows from the config's ``maintenance:`` entries (config.model.MaintenanceConfig)."""
    return tuple(
        Window(e.name, e.start.timestamp(), e.length, e.period, e.provider, e.model, e.region)  # type: ignore[attr-defined]
        for e in entries
    )

