"""The sink's own metric group (healthboard_sink_*), registered by the sink on the registry it is given."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class SinkMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else CollectorRegistry()
        self.registry = r
        self.rows_written = Counter("healthboard_sink_rows_written", "Check records written to Postgres by the sink.", registry=r)
        self.write_errors = Counter("healthboard_sink_write_errors", "Failed batch writes to Postgres (each is retried).", registry=r)
        self.spool_rows = Gauge(
            "healthboard_sink_spool_rows",
            "Check records waiting to be written: in the on-disk spool, or in memory while the disk refuses them.", registry=r,
        )
        self.spool_errors = Counter(
            "healthboard_sink_spool_errors", "Records the on-disk spool refused (disk full, I/O error); they wait in memory.", registry=r
        )
        self.dropped_rows = Counter(
            "healthboard_sink_dropped_rows", "Records dropped from the spool because it reached spool_max_rows (oldest first).", registry=r
        )
        self.last_success = Gauge(
            "healthboard_sink_last_success_timestamp_seconds", "Unix time of the last successful batch write.", registry=r
        )
        self.batch_duration = Histogram(
            "healthboard_sink_batch_duration_seconds", "Time to write one batch to Postgres (successful writes).",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0), registry=r,
        )
