"""Prometheus metrics. ``Metrics`` is what /metrics serves: the per-target series (the probe metrics' compact
store, rendered by its own fast path) followed by every subsystem's own metric group, which each subsystem
registers on ``Metrics.own`` and prometheus-client renders.

- ``families.py``: names, help, labels and buckets of the per-target families;
- ``store.py``: the compact per-target store and its renderer;
- ``probes.py``: the consumer that fills the store from the scheduler's events;
- ``exporter.py``: the exporter's own group (build, config loads, budget).

The sink (healthboard/sink/metrics.py) and the status poller (healthboard/status/metrics.py) own their groups.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, disable_created_metrics, generate_latest

from healthboard.metrics.exporter import ExporterMetrics
from healthboard.metrics.probes import ProbeMetrics
from healthboard.metrics.store import PIECE_BUDGET

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# No `_created` series: nothing reads them and they add a sample to every counter and histogram series.
disable_created_metrics()


class _Collected:
    """A registry seen as one collector of another (describe() is empty: its names are its own registry's)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self):  # type: ignore[no-untyped-def]
        return self.registry.collect()

    def describe(self) -> list[object]:
        return []


class Metrics:
    """``own``: the registry subsystems register their groups on. ``registry``: everything /metrics shows (the
    store and ``own``), for ``generate_latest`` and ``get_sample_value``."""

    def __init__(self) -> None:
        self.own = CollectorRegistry()
        self.probes = ProbeMetrics(self.own)
        self.exporter = ExporterMetrics(self.own)
        self.registry = CollectorRegistry()
        self.registry.register(self.probes.series)  # type: ignore[arg-type]
        self.registry.register(_Collected(self.own))  # type: ignore[arg-type]

    def render(self) -> bytes:
        return b"".join(chunk.encode() for chunk in self.render_chunks())

    def render_chunks(self, budget: float = PIECE_BUDGET) -> Iterator[str]:
        """The exposition in pieces of about ``budget`` seconds of work, for streaming: the per-target families
        (the fast path), then the subsystems' own groups (prometheus-client's rendering)."""
        yield from self.probes.series.render_chunks(budget)
        yield generate_latest(self.own).decode()


__all__ = ["CONTENT_TYPE", "ExporterMetrics", "Metrics", "ProbeMetrics"]
