"""The status poller's own metric group (llm_provider_*), registered by the poller on the registry it is given."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

ERROR_REASONS = ("unreachable", "timeout", "http_status", "parse", "no_component")


class StatusMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else CollectorRegistry()
        self.registry = r
        self.official_status = Gauge(
            "llm_provider_official_status",
            "What the provider's status page says of a component: 0 operational, 1 degraded performance or maintenance, "
            "2 partial outage, 3 major outage. Absent while the page can't be read.", ("provider", "component"), registry=r,
        )
        self.incident_info = Gauge(
            "llm_provider_official_incident_info", "1 for each incident open on the provider's status page.",
            ("provider", "incident_id", "impact", "title", "url"), registry=r,
        )
        self.status_up = Gauge("llm_provider_status_poll_success", "1 if the last poll of the provider's status page was read, else 0.", ("provider",), registry=r)
        self.status_errors = Counter(
            "llm_provider_status_poll_errors", "Status page polls that failed, by reason (unreachable, timeout, http_status, parse, no_component).",
            ("provider", "reason"), registry=r,
        )
        self.status_last_success = Gauge(
            "llm_provider_status_last_success_timestamp_seconds", "Unix time the provider's status page was last read.", ("provider",), registry=r,
        )
        self.status_poll_duration = Gauge(
            "llm_provider_status_poll_duration_seconds", "How long the last poll of the provider's status page took.", ("provider",), registry=r,
        )
        self.detection_lead = Gauge(
            "llm_provider_detection_lead_seconds",
            "For the newest official incident: its start minus the time our probes alerted (positive: we were first).", ("provider",), registry=r,
        )
        self.official_incidents = Counter(
            "llm_provider_official_incidents", "Official incidents seen, by whether our probes alerted first.", ("provider", "probes_first"), registry=r,
        )

    def page_added(self, provider: str) -> None:
        for reason in ERROR_REASONS:
            self.status_errors.labels(provider, reason)
        for first in ("true", "false"):
            self.official_incidents.labels(provider, first)

    def forget_page(self, provider: str) -> None:
        for metric in (self.status_up, self.status_last_success, self.status_poll_duration, self.detection_lead):
            remove(metric, (provider,))
        for reason in ERROR_REASONS:
            remove(self.status_errors, (provider, reason))
        for first in ("true", "false"):
            remove(self.official_incidents, (provider, first))


def remove(metric: Gauge | Counter, labels: tuple[str, ...]) -> None:
    try:
        metric.remove(*labels)
    except KeyError:
        pass
