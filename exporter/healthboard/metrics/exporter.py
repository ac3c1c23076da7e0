"""The exporter's own metric group: build, start time, config loads, the budget. Set by the composition layer
(healthboard/app/) when a config is loaded."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Gauge

from healthboard import __version__


class ExporterMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.build_info = Gauge("healthboard_build_info", "Build information of this exporter.", ("version",), registry=r)
        self.build_info.labels(__version__).set(1)
        self.start_time = Gauge("healthboard_start_time_seconds", "Unix time this exporter started.", registry=r)
        self.start_time.set(time.time())
        self.reload_ok = Gauge("healthboard_config_last_reload_successful", "1 if the last config (re)load succeeded.", registry=r)
        self.reload_time = Gauge(
            "healthboard_config_last_reload_success_timestamp_seconds", "Unix time of the last successful config load.", registry=r
        )
        self.budget_factor = Gauge(
            "healthboard_budget_interval_factor", "How much the monthly budget stretched probe intervals (1 = not at all).", registry=r
        )
        self.monthly_cost = Gauge(
            "healthboard_estimated_monthly_cost_usd", "Estimated monthly cost of scheduled probes at the effective intervals.", registry=r
        )

    def config_loaded(self, ok: bool) -> None:
        self.reload_ok.set(1 if ok else 0)
        if ok:
            self.reload_time.set(time.time())

    def plan_applied(self, budget_factor: float, monthly_cost_usd: float) -> None:
        self.budget_factor.set(budget_factor)
        self.monthly_cost.set(monthly_cost_usd)
