"""The month the alert rules are judged on: every probe each target would make, with the exporter's own
scheduling semantics (30 s grid, re-checks after outage-like failures, interval doubling on 429s), under
baseline noise and labelled incidents; then the series Prometheus would scrape from it.

Noise model (all flags of bench/alert_quality.py):
- independent failed probes (1 %) mixed as 5xx 40 %, rate_limit 25 %, overloaded 15 %, timeout 15 %, connect 5 %;
- "blips": about six a day per target, in which the next two probes fail (5xx);
- latency lognormal (median 600 ms, sigma 0.6) plus 0.5 % of probes at 3–8 s; a probe slower than the
  probe timeout (3 s, the shipped default) is a timeout failure, as the exporter reports it;
- a 20 % failure burst lasting 2 minutes twice a week per provider/model (both regions: provider-side).
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import random
import zlib
from collections.abc import Iterator

from prometheus_client.utils import floatToGoString

from healthboard.evidence import Evidence, Suspicion, is_suspicious
from healthboard.record import ErrorType

OUTAGE_TYPES = {"5xx", "overloaded", "timeout", "connect", "dns", "tls", "invalid_response", "other"}
BACKOFF_TYPES = {"rate_limit", "quota"}
NOISE_MIX = (("5xx", 0.40), ("rate_limit", 0.25), ("overloaded", 0.15), ("timeout", 0.15), ("connect", 0.05))
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0)


@dataclasses.dataclass(frozen=True)
class Target:
    provider: str
    model: str

    @property
    def key(self) -> str:
        return f"{self.provider}/{self.model}"


@dataclasses.dataclass
class Params:
    days: float = 30.0
    regions: tuple[str, ...] = ("seoul", "virginia")
    targets: tuple[Target, ...] = (
        Target("openai", "gpt-4o-mini"), Target("openai", "gpt-4.1-nano"), Target("anthropic", "claude-3-haiku-20240307"),
        Target("google", "gemini-2.0-flash"), Target("cohere", "command-r7b-12-2024"),
    )
    seed: int = 1
    interval: float = 30.0
    recheck: float = 10.0
    recheck_fast: float = 5.0
    suspicion_window: float = 0.0  # 0: four intervals, as the exporter
    slow: float = 5.0
    timeout: float = 10.0
    backoff_max: float = 600.0
    scrape: float = 15.0
    noise_fail: float = 0.01
    blips_per_day: float = 6.0
    latency_median: float = 0.6
    latency_sigma: float = 0.6
    slow_share: float = 0.005
    bursts_per_week: float = 2.0
    burst_ratio: float = 0.20
    burst_minutes: float = 2.0

    @property
    def seconds(self) -> float:
        return self.days * 86400


@dataclasses.dataclass
class Incident:
    kind: str
    provider: str
    model: str | None  # None: every model of the provider
    region: str | None  # None: every region
    start: float
    end: float
    expect: tuple[str, ...]  # alerts that must notify
    note: str = ""

    def covers(self, target: Target, region: str, t: float) -> bool:
        return (self.start <= t < self.end and target.provider == self.provider
                and (self.model is None or self.model == target.model) and (self.region is None or self.region == region))


@dataclasses.dataclass
class Probe:
    t: float
    scheduled: bool
    ok: bool
    error_type: str | None
    latency: float


@dataclasses.dataclass
class Run:
    """Probes of one target from one region, and when its exporter was down / its scheduler stalled."""

    target: Target
    region: str
    probes: list[Probe]
    intervals: list[tuple[float, float]]  # (time, effective interval) changes


def incident_plan(params: Params, rng: random.Random, full: bool = True) -> list[Incident]:
    """Labelled incidents, spread over the period without overlap, on chosen targets."""
    t = [p for p in params.targets]
    kinds: list[tuple[str, Target, str | None, float, dict]] = []
    add = lambda kind, target, region, minutes, **kw: kinds.append((kind, target, region, minutes * 60, kw))  # noqa: E731
    hard = ("LLMModelOutage",)
    for target in (t[0], t[2], t[3], t[4]) if full else (t[0],):
        add("hard_outage", target, None, 15, expect=hard)
    for target in (t[2], t[3]) if full else (t[2 % len(t)],):
        add("partial_30", target, None, 30, ratio=0.30, expect=("LLMModelOutage",))
    for target in (t[0], t[4]) if full else ():
        add("partial_10", target, None, 60, ratio=0.10, expect=("LLMModelErrorRateElevated|LLMModelOutage",))
    for target in (t[1], t[3]) if full else (t[1 % len(t)],):
        add("latency_p95_8s", target, None, 20, expect=("LLMModelLatencyHigh",))
    for target in (t[2], t[4]) if full else (t[0],):
        add("region_down", target, params.regions[0], 20, expect=("LLMRegionalFailure",))
    add("status_mismatch", t[3 % len(t)], None, 15, expect=("LLMProviderStatusMismatch",))
    add("key_revoked", t[4 % len(t)], None, 120, expect=("LLMProbeMisconfigured",))
    add("model_retired", t[1 % len(t)], None, 120, expect=("LLMProbeMisconfigured",))
    if full:
        add("exporter_down", t[0], params.regions[1], 10, expect=("HealthboardExporterDown",))
        add("probes_stalled", t[2], params.regions[0], 15, expect=("HealthboardProbesStalled",))
    slot = params.seconds / (len(kinds) + 1)
    incidents = []
    for i, (kind, target, region, length, kw) in enumerate(kinds):
        start = slot * (i + 0.5) + rng.uniform(0, max(0.0, slot * 0.5 - length))
        start = math.floor(start)
        model = None if kind in ("exporter_down",) else target.model
        if kind == "hard_outage" and target.provider == "openai":
            model = target.model  # one of two openai models: a model outage, not provider-wide
        incidents.append(Incident(kind, target.provider, model, region, start, start + length, kw.pop("expect"),
                                  note=";".join(f"{k}={v}" for k, v in kw.items())))
        incidents[-1].ratio = kw.get("ratio", 0.0)  # type: ignore[attr-defined]
    return incidents


def _noise_type(rng: random.Random) -> str:
    draw, total = rng.random(), 0.0
    for error_type, share in NOISE_MIX:
        total += share
        if draw < total:
            return error_type
    return NOISE_MIX[-1][0]


def simulate(params: Params, target: Target, region: str, incidents: list[Incident], rng: random.Random,
             offset: float | None = None) -> Run:
    end = params.seconds
    # provider-side noise shared by both regions: bursts; per-region: blips and independent failures
    bursts = sorted(rng.uniform(0, end) for _ in range(int(params.bursts_per_week * params.days / 7 + 0.5)))
    blips = sorted(rng.uniform(0, end) for _ in range(int(params.blips_per_day * params.days + 0.5)))
    mine = [i for i in incidents if (i.kind == "exporter_down" and i.region == region)
            or (i.provider == target.provider and i.model in (None, target.model) and i.region in (None, region))]
    if offset is None:  # the exporter spreads offsets evenly; any fixed spread will do for the month
        offset = (zlib.crc32(f"{target.key}/{region}".encode()) % 1000) / 1000 * params.interval
    probes: list[Probe] = []
    intervals: list[tuple[float, float]] = [(0.0, params.interval)]
    next_regular, recheck = offset, None
    suspicion = Suspicion(window=params.suspicion_window or 4 * params.interval, recheck=params.recheck, fast=params.recheck_fast)
    backoff, blip_next, forced = 0, 0, 0
    effective = params.interval
    while True:
        scheduled = recheck is None or recheck >= next_regular
        t = next_regular if scheduled else recheck
        if t >= end:
            break
        active = [i for i in mine if i.start <= t < i.end]
        kinds = {i.kind for i in active}
        if kinds & {"exporter_down", "probes_stalled"}:
            # no probe runs; the grid carries on
            next_regular = t + params.interval if scheduled else next_regular
            recheck = None
            continue
        while blip_next < len(blips) and blips[blip_next] <= t:
            forced, blip_next = 2, blip_next + 1
        ok, error_type, latency = True, None, 0.0
        in_burst = any(b <= t < b + params.burst_minutes * 60 for b in bursts)
        if "hard_outage" in kinds or "status_mismatch" in kinds:
            ok, error_type, latency = False, "5xx", rng.uniform(0.05, 0.3)
        elif "region_down" in kinds:
            ok, error_type, latency = False, "connect", rng.uniform(0.001, 0.05)
        elif "key_revoked" in kinds:
            ok, error_type, latency = False, "auth", rng.uniform(0.05, 0.2)
        elif "model_retired" in kinds:
            ok, error_type, latency = False, "not_found", rng.uniform(0.05, 0.2)
        elif forced:
            ok, error_type, latency, forced = False, "5xx", rng.uniform(0.05, 0.5), forced - 1
        else:
            partial = max([getattr(i, "ratio", 0.0) for i in active if i.kind.startswith("partial")] + [0.0])
            if partial and rng.random() < partial:
                ok, error_type, latency = False, "5xx", rng.uniform(0.05, 0.5)
            elif in_burst and rng.random() < params.burst_ratio:
                ok, error_type, latency = False, "5xx", rng.uniform(0.05, 0.5)
            elif rng.random() < params.noise_fail:
                error_type = _noise_type(rng)
                ok, latency = False, params.timeout if error_type == "timeout" else rng.uniform(0.01, 0.5)
            else:
                if "latency_p95_8s" in kinds:
                    latency = 3.0 * math.exp(rng.gauss(0, 0.6))  # p95 ≈ 8 s
                elif rng.random() < params.slow_share:
                    latency = rng.uniform(3.0, 8.0)
                else:
                    latency = params.latency_median * math.exp(rng.gauss(0, params.latency_sigma))
                if latency > params.timeout:
                    ok, error_type, latency = False, "timeout", params.timeout
        probes.append(Probe(t, scheduled, ok, error_type, latency))
        # the scheduler's rules (healthboard/scheduler.py), with its own Suspicion policy
        recheck = None
        now = t + latency
        if error_type in BACKOFF_TYPES:
            backoff += 1
            suspicion.reset()
        else:
            was = backoff
            backoff = 0
            suspicion.observe(now, is_suspicious(ok, ErrorType(error_type) if error_type else None, latency, params.slow))
            recheck = suspicion.next_recheck(now)
            if was:
                scheduled = True
        if scheduled or backoff:
            if backoff:
                effective = min(params.backoff_max, max(params.interval * 2 ** backoff, params.interval))
                next_regular = now + effective
            else:
                effective = params.interval
                k = math.floor((now - offset) / params.interval) + 1
                next_regular = offset + k * params.interval
            intervals.append((t, effective))
        if recheck is not None and recheck > next_regular - (recheck - now) / 2:
            recheck = None
    return Run(target, region, probes, intervals)


@dataclasses.dataclass
class Scrapes:
    """Values of one target's series at each scrape time (None: not scraped)."""

    times: list[float]
    up: list[bool]


def scrape_times(params: Params, region_index: int) -> list[float]:
    offset = (region_index * 7.3) % params.scrape
    n = int((params.seconds - offset) // params.scrape)
    return [offset + k * params.scrape for k in range(n)]


def series_lines(params: Params, run: Run, times: list[float], down: list[tuple[float, float]], instance: str) -> Iterator[tuple[str, list[str]]]:
    """(metric family, lines) of one target, cumulative at each scrape, as the exporter would expose them."""
    labels = f'job="llm-healthboard",instance="{instance}",provider="{run.target.provider}",model="{run.target.model}",region="{run.region}",check="chat"'
    probes = run.probes
    probe_times = [p.t + p.latency for p in probes]  # a result is visible once the probe finished
    scraped = [s for s in times if not any(a <= s < b for a, b in down)]
    families: dict[str, dict[str, list[str]]] = {}

    def put(family: str, series: str, s: float, value: float) -> None:
        families.setdefault(family, {}).setdefault(series, []).append(f"{series} {value:g} {s:.3f}")

    requests = 0
    evidence = Evidence()
    failures: dict[str, int] = {}
    consecutive_outage = 0
    last_run = 0.0
    buckets = [0] * len(DURATION_BUCKETS)
    count, total = 0, 0.0
    i = 0
    interval_idx = 0
    for s in scraped:
        while i < len(probes) and probe_times[i] <= s:
            p = probes[i]
            last_run = p.t
            evidence.add(p.t, p.ok, ErrorType(p.error_type) if p.error_type else None)
            if p.ok or p.error_type == "timeout":
                count += 1
                total += p.latency
                for b, le in enumerate(DURATION_BUCKETS):
                    if p.ok and p.latency <= le:
                        buckets[b] += 1
            if p.ok:
                consecutive_outage = 0
            elif p.error_type in OUTAGE_TYPES:
                consecutive_outage += 1
            else:
                consecutive_outage = 0
            if p.scheduled:
                requests += 1
                if not p.ok:
                    failures[p.error_type or "other"] = failures.get(p.error_type or "other", 0) + 1
            i += 1
        while interval_idx + 1 < len(run.intervals) and run.intervals[interval_idx + 1][0] <= s:
            interval_idx += 1
        put("llm_probe_requests_total", f"llm_probe_requests_total{{{labels}}}", s, requests)
        for error_type in ("5xx", "rate_limit", "overloaded", "timeout", "connect", "auth", "not_found"):
            put("llm_probe_failures_total", f'llm_probe_failures_total{{{labels},error_type="{error_type}"}}', s, failures.get(error_type, 0))
        put("llm_probe_consecutive_outage_failures", f"llm_probe_consecutive_outage_failures{{{labels}}}", s, consecutive_outage)
        put("llm_probe_last_run_timestamp_seconds", f"llm_probe_last_run_timestamp_seconds{{{labels}}}", s, last_run)
        put("llm_probe_interval_seconds", f"llm_probe_interval_seconds{{{labels}}}", s, run.intervals[interval_idx][1])
        put("llm_probe_paused", f"llm_probe_paused{{{labels}}}", s, 0)
        put("llm_probe_evidence_probes_total", f"llm_probe_evidence_probes_total{{{labels}}}", s, evidence.probes)
        put("llm_probe_evidence_failures_total", f"llm_probe_evidence_failures_total{{{labels}}}", s, evidence.failures)
        put("llm_probe_outage_run_seconds", f"llm_probe_outage_run_seconds{{{labels}}}", s, round(evidence.run_seconds, 3))
        put("llm_probe_outage_run_server_errors", f"llm_probe_outage_run_server_errors{{{labels}}}", s, evidence.run_server_errors)
        put("llm_probe_consecutive_successes", f"llm_probe_consecutive_successes{{{labels}}}", s, evidence.successes)
        for b, le in enumerate(DURATION_BUCKETS):
            put("llm_probe_duration_seconds", f'llm_probe_duration_seconds_bucket{{{labels},le="{floatToGoString(le)}"}}', s, buckets[b])
        put("llm_probe_duration_seconds", f'llm_probe_duration_seconds_bucket{{{labels},le="+Inf"}}', s, count)
        put("llm_probe_duration_seconds", f"llm_probe_duration_seconds_count{{{labels}}}", s, count)
        put("llm_probe_duration_seconds", f"llm_probe_duration_seconds_sum{{{labels}}}", s, round(total, 3))
    for family, series in families.items():
        yield family, [line for lines in series.values() for line in lines]


def in_any(t: float, spans: list[tuple[float, float]]) -> bool:
    i = bisect.bisect_right([a for a, _ in spans], t) - 1
    return i >= 0 and spans[i][0] <= t < spans[i][1]
