"""The month the alert rules are judged on: every probe each target would make, with the exporter's own
scheduling semantics (30 s grid, adaptive re-checks from healthboard/evidence.py, interval doubling on 429s),
under baseline noise and labelled incidents; then the series Prometheus would scrape from it.

Noise model (flags of bench/alert_quality.py; where each figure comes from is in docs/ALERTING.md):
- sporadic outage-like failures of independent probes (``noise_fail``, 0.5-3 %): 5xx 50 %, timeout 25 %,
  connect 25 %;
- overloaded bursts (``bursts_per_day`` 4, 20-60 s, 90 % of probes answer 529/overloaded), provider-side:
  every region of the model sees the same burst;
- 429 storms (``ratelimit_per_day`` 1, 2-5 minutes, half the probes rate limited), provider-side;
- network blips of one region (``blips_per_day`` 2, 5-40 s of connect errors), shared by every target
  probed from that region;
- heavy-tailed latency: lognormal (median 600 ms, sigma 0.5) with a diurnal swing of +-40 %, and isolated
  spikes (``slow_share`` 0.3 %) of 5-30 s, past the 10 s timeout a third of the time;
- post-incident tails: for 10 minutes after an incident, 5 % of probes of that model still fail (5xx).
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import random
import zlib
from collections.abc import Iterator

from prometheus_client.utils import floatToGoString

from healthboard.metrics.families import DURATION_BUCKETS
from healthboard.evidence import DEFAULT_FAST, DEFAULT_RECHECK, DEFAULT_SLOW, Evidence, Suspicion, UsualLatency, is_suspicious
from healthboard.record import ErrorType

OUTAGE_TYPES = {"5xx", "overloaded", "timeout", "connect", "dns", "tls", "invalid_response", "other"}
BACKOFF_TYPES = {"rate_limit", "quota"}
NOISE_MIX = (("5xx", 0.50), ("timeout", 0.25), ("connect", 0.25))


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
    recheck: float = DEFAULT_RECHECK
    recheck_fast: float = DEFAULT_FAST
    suspicion_window: float = 0.0  # 0: four intervals, as the exporter
    slow: float = DEFAULT_SLOW  # the exporter's slow_threshold: an answer this slow is re-checked
    timeout: float = 10.0
    backoff_max: float = 600.0
    scrape: float = 15.0
    noise_fail: float = 0.015
    bursts_per_day: float = 4.0
    burst_ratio: float = 0.9
    ratelimit_per_day: float = 1.0
    blips_per_day: float = 2.0
    latency_median: float = 0.6
    latency_sigma: float = 0.5
    diurnal: float = 0.4
    slow_share: float = 0.003
    tail_minutes: float = 10.0
    tail_ratio: float = 0.05
    partials: int = 1  # how many times the 50 % and 30 % partial incidents are repeated (a detection-time run)
    hards: int = 1  # how many times the hard outages are repeated
    latencies: int = 1  # how many times the latency incidents are repeated

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
    for k in range(params.hards):
        for target in (t[0], t[2], t[3], t[4]) if full else ((t[0],) if k == 0 else ()):
            add("hard_outage", target, None, 15, expect=hard)
    for k in range(params.partials):
        for target in ((t[(1 + k) % len(t)], t[(4 + k) % len(t)]) if full else ()):
            add("partial_50", target, None, 20, ratio=0.50, expect=("LLMModelOutage",))
        for target in ((t[(2 + k) % len(t)], t[(3 + k) % len(t)]) if full else (t[2 % len(t)],) if k == 0 else ()):
            add("partial_30", target, None, 30, ratio=0.30, expect=("LLMModelOutage",))
    for target in (t[0], t[4]) if full else ():
        add("partial_10", target, None, 60, ratio=0.10, expect=("LLMModelErrorRateElevated|LLMModelOutage",))
    for k in range(params.latencies):
        for target in ((t[(1 + k) % len(t)], t[(3 + k) % len(t)]) if full else ((t[1 % len(t)],) if k == 0 else ())):
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


class Spans:
    """Time spans, sorted by start; ``t in spans`` by bisection."""

    def __init__(self, spans: list[tuple[float, float]]) -> None:
        self.spans = sorted(spans)
        self.starts = [a for a, _ in self.spans]

    def __contains__(self, t: float) -> bool:
        i = bisect.bisect_right(self.starts, t) - 1
        return i >= 0 and self.spans[i][0] <= t < self.spans[i][1]


def spans(seed: str, per_day: float, days: float, low: float, high: float) -> Spans:
    """Events at random times (``per_day`` a day), each lasting low..high seconds; the seed names the scope that
    shares them (a provider's model, a region)."""
    rng = random.Random(seed)
    starts = sorted(rng.uniform(0, days * 86400) for _ in range(int(per_day * days + 0.5)))
    return Spans([(t, t + rng.uniform(low, high)) for t in starts])


def simulate(params: Params, target: Target, region: str, incidents: list[Incident], rng: random.Random,
             offset: float | None = None) -> Run:
    end = params.seconds
    bursts = spans(f"{params.seed}/bursts/{target.key}", params.bursts_per_day, params.days, 20, 60)
    storms = spans(f"{params.seed}/429/{target.key}", params.ratelimit_per_day, params.days, 120, 300)
    blips = spans(f"{params.seed}/blips/{region}", params.blips_per_day, params.days, 5, 40)
    tails = Spans([(i.end, i.end + params.tail_minutes * 60) for i in incidents
                   if i.kind in ("hard_outage", "partial_50", "partial_30", "partial_10", "status_mismatch")
                   and i.provider == target.provider and i.model in (None, target.model)])
    mine = [i for i in incidents if (i.kind == "exporter_down" and i.region == region)
            or (i.provider == target.provider and i.model in (None, target.model) and i.region in (None, region))]
    if offset is None:  # the exporter spreads offsets evenly; any fixed spread will do for the month
        offset = (zlib.crc32(f"{target.key}/{region}".encode()) % 1000) / 1000 * params.interval
    probes: list[Probe] = []
    intervals: list[tuple[float, float]] = [(0.0, params.interval)]
    next_regular, recheck = offset, None
    suspicion = Suspicion(window=params.suspicion_window or 4 * params.interval, recheck=params.recheck, fast=params.recheck_fast)
    usual = UsualLatency()
    backoff = 0
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
        ok, error_type, latency = True, None, 0.0
        if "hard_outage" in kinds or "status_mismatch" in kinds:
            ok, error_type, latency = False, "5xx", rng.uniform(0.05, 0.3)
        elif "region_down" in kinds:
            ok, error_type, latency = False, "connect", rng.uniform(0.001, 0.05)
        elif "key_revoked" in kinds:
            ok, error_type, latency = False, "auth", rng.uniform(0.05, 0.2)
        elif "model_retired" in kinds:
            ok, error_type, latency = False, "not_found", rng.uniform(0.05, 0.2)
        elif t in blips:
            ok, error_type, latency = False, "connect", rng.uniform(0.001, 0.05)
        else:
            partial = max([getattr(i, "ratio", 0.0) for i in active if i.kind.startswith("partial")] + [0.0])
            if partial and rng.random() < partial:
                ok, error_type, latency = False, "5xx", rng.uniform(0.05, 0.5)
            elif t in bursts and rng.random() < params.burst_ratio:
                ok, error_type, latency = False, "overloaded", rng.uniform(0.05, 0.3)
            elif t in storms and rng.random() < 0.5:
                ok, error_type, latency = False, "rate_limit", rng.uniform(0.02, 0.1)
            elif t in tails and rng.random() < params.tail_ratio:
                ok, error_type, latency = False, "5xx", rng.uniform(0.05, 0.5)
            elif rng.random() < params.noise_fail:
                error_type = _noise_type(rng)
                ok, latency = False, params.timeout if error_type == "timeout" else rng.uniform(0.01, 0.5)
            else:
                if "latency_p95_8s" in kinds:
                    latency = 3.0 * math.exp(rng.gauss(0, 0.6))  # p95 ≈ 8 s
                elif rng.random() < params.slow_share:
                    latency = rng.uniform(5.0, 30.0)
                else:
                    swing = 1 + params.diurnal * math.sin(2 * math.pi * t / 86400)
                    latency = params.latency_median * swing * math.exp(rng.gauss(0, params.latency_sigma))
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
            slow = usual.slow_threshold(params.slow)
            suspicion.observe(now, is_suspicious(ok, ErrorType(error_type) if error_type else None, latency, slow))
            if ok and scheduled:
                usual.add(latency)
            recheck = suspicion.next_recheck(t)  # counted from the probe's start (healthboard/scheduler.py)
            cadence = 0.0 if recheck is None else recheck - t
            recheck = None if recheck is None else max(recheck, now)
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
        if recheck is not None and recheck > next_regular - cadence / 2:
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
        for error_type, failed in failures.items():  # as the exporter: a series per error type seen, from its first failure
            put("llm_probe_failures_total", f'llm_probe_failures_total{{{labels},error_type="{error_type}"}}', s, failed)
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
