"""The per-target metric families: names, help, labels and buckets. Names and labels are a contract (rules,
dashboards and users depend on them; docs/METRICS.md lists them)."""

from __future__ import annotations

from healthboard.metrics.store import COUNTER, GAUGE, HISTOGRAM, Family
from healthboard.record import PHASES, ErrorType

LABELS = ("provider", "model", "region", "check")
SOURCE = " Values come from scheduled synthetic probes."

#: Successful probe latency: 100 ms … 30 s, 11 bounds (14 series a target with +Inf, _sum and _count). Dense
#: where small probes answer (0.25 … 3 s); 5.0 is S2's bound (LLMModelLatencyHigh reads it); past it only
#: 10 and 30 (a timed-out probe is counted in +Inf). Five fewer than before (0.05, 4, 7.5, 15, 20): at 5,000
#: targets that is 25,000 series and ~2.9 MB of /metrics (bench/probe_engine.py; docs/PERFORMANCE.md).
DURATION_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
PHASE_BUCKETS = (0.005, 0.025, 0.1, 0.25, 1.0, 5.0)  # few: 5 phases x every target adds up on /metrics
#: Time to first token of stream checks: 100 ms … 20 s.
TTFT_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0)
RATELIMIT_RESOURCES = ("requests", "tokens", "input_tokens", "output_tokens")

ERROR_TYPES = tuple(e.value for e in ErrorType)

#: The per-target families, in a compact store (healthboard/metrics/store.py), in exposition order.
TARGET_FAMILIES = (
    Family("llm_probe_requests", COUNTER, "Scheduled probes sent (re-checks excluded, so ratios aren't biased)." + SOURCE, whole=True),
    # one series per error type seen (the rules count a new series' first failure: prometheus/rules/recording.yml)
    Family("llm_probe_failures", COUNTER, "Scheduled probes that failed, by error type (re-checks excluded)." + SOURCE, "error_type", ERROR_TYPES,
           optional=True, whole=True),
    Family("llm_probe_rechecks", COUNTER, "Extra probes sent sooner after an outage-like failure, to confirm it fast." + SOURCE, whole=True),
    Family("llm_probe_recheck_failures", COUNTER, "Re-checks that failed." + SOURCE, whole=True),
    Family(
        "llm_probe_duration_seconds", HISTOGRAM,
        "Whole-probe latency of successful probes and of timed-out ones (counted in +Inf: slower than the timeout), "
        "re-checks included: the latency evidence." + SOURCE, buckets=DURATION_BUCKETS,
    ),
    Family(
        "llm_probe_phase_duration_seconds", HISTOGRAM,
        "Latency by phase (dns, connect, tls, ttfb, transfer) of scheduled probes that got a response; with phase_histograms: true." + SOURCE,
        "phase", PHASES, buckets=PHASE_BUCKETS, optional=True,  # opt-in: config phase_histograms
    ),
    Family("llm_probe_success", GAUGE, "1 if the last probe (scheduled or re-check) succeeded, else 0." + SOURCE, whole=True),
    Family("llm_probe_consecutive_failures", GAUGE, "Failed probes in a row, re-checks included; 0 after a success." + SOURCE, whole=True),
    Family(
        "llm_probe_consecutive_outage_failures", GAUGE,
        "Failed probes in a row whose error type suggests an outage (auth, quota, not_found, bad_request and rate_limit excluded)." + SOURCE, whole=True,
    ),
    Family(
        "llm_probe_evidence_probes", COUNTER,
        "Probes that are availability evidence: successes, server errors and transient failures, re-checks included "
        "(docs/ALERTING.md)." + SOURCE, whole=True,
    ),
    Family(
        "llm_probe_evidence_failures", COUNTER,
        "Failed evidence probes, de-clustered: at most 2 per run of server errors, at most 1 transient failure a minute." + SOURCE, whole=True,
    ),
    Family(
        "llm_probe_outage_run_seconds", GAUGE,
        "Seconds from the first to the latest failure of the current run of outage-like failures; 0 after a success." + SOURCE,
    ),
    Family("llm_probe_outage_run_server_errors", GAUGE, "Server errors (5xx, malformed replies) in the current run of failures." + SOURCE, whole=True),
    Family("llm_probe_consecutive_successes", GAUGE, "Successful probes in a row, re-checks included." + SOURCE, whole=True),
    Family("llm_probe_last_run_timestamp_seconds", GAUGE, "Unix time the last probe started." + SOURCE),
    Family("llm_probe_interval_seconds", GAUGE, "Effective probe interval: the configured one, stretched by 429 backoff or the budget." + SOURCE),
    Family("llm_probe_paused", GAUGE, "1 while the target is paused through the API (kill switch)." + SOURCE, whole=True),
    Family("llm_probe_tokens", COUNTER, "Tokens the providers reported for probes." + SOURCE, "direction", ("input", "output"), whole=True),
    Family("llm_probe_cost_usd", COUNTER, "Estimated cost of probes in USD, from the price table." + SOURCE),
    Family("llm_probe_ratelimit_remaining", GAUGE, "Rate-limit headroom the provider advertised on the last reply." + SOURCE,
           "resource", RATELIMIT_RESOURCES, optional=True),
    Family("llm_probe_ratelimit_limit", GAUGE, "Rate limit the provider advertised on the last reply." + SOURCE,
           "resource", RATELIMIT_RESOURCES, optional=True),
    Family("llm_probe_ttft_seconds", HISTOGRAM, "Stream checks: time from the request to the first content token." + SOURCE,
           buckets=TTFT_BUCKETS, optional=True),
    Family("llm_probe_output_tokens_per_second", GAUGE, "Stream checks: output tokens per second after the first token, last probe." + SOURCE,
           optional=True),
    Family("llm_probe_stream_max_gap_seconds", GAUGE, "Stream checks: the longest wait between two events after the first token, last probe." + SOURCE,
           optional=True),
    Family("llm_quality_score_recent", GAUGE, "Quality checks: mean score (0-100) of the last 5 known-answer questions." + SOURCE,
           optional=True),
    Family("llm_probe_served_model_mismatch", GAUGE,
           "1 when the model the provider says answered is not the one asked for (nor a dated snapshot of it), 0 when it is; last reply." + SOURCE,
           optional=True, whole=True),
    Family("llm_probe_reasoning_exhausted", COUNTER,
           "Successful probes whose output budget went on hidden reasoning (stopped at the cap with reasoning tokens and no answer): not an outage, not a wrong answer; raise max_tokens or lower the effort." + SOURCE,
           optional=True, whole=True),
    Family("llm_probe_maintenance", GAUGE,
           "1 while a configured maintenance window covers the target (its last probe), else 0; only targets a window applies to." + SOURCE,
           optional=True, whole=True),
    Family("llm_probe_model_deprecated", GAUGE,
           "1 when the last reply announced the model's retirement (Sunset or Deprecation header) or said it is gone; else 0." + SOURCE,
           optional=True, whole=True),
)
