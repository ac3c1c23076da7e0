"""The evidence a target's probes give the alert rules, and the sampling policy that gathers it.

This is the exporter's half of the outage detector described in docs/ALERTING.md; Prometheus does the
other half (likelihood-ratio tests over these counters and gauges, in prometheus/rules/). Everything here
is a pure function of the stream of probe outcomes, so the exporter (``TargetState``) and the alert
benchmark (bench/alertsim) share one definition and cannot drift apart.

Error classes, by what a failure says about the provider:

- *server*: the provider answered and said it is broken (5xx other than overloaded, a malformed reply, a stream
  that broke off).
- *transient*: overloaded (Anthropic's 529, "model overloaded" 503s), or the network path (connect, DNS,
  TLS). Providers document these as short-lived and their SDKs retry them; they come in bursts of
  tens of seconds several times a day, so a run of them must last longer before it means an outage.
- *timeout*: latency evidence (the probe was slower than its deadline), not availability evidence,
  except as part of a long run of failures (a provider that hangs).
- auth, quota, not_found, bad_request and rate_limit say nothing about availability (our probe is wrong,
  or we are throttled) and are not evidence at all.
"""

from __future__ import annotations

import dataclasses
import math

from healthboard.record import ErrorType

#: Successes in a row after which /api/health calls a target "recovering" while failures still weigh on its
#: window (the alert rules end an outage on the last minute's evidence instead: docs/ALERTING.md).
RECOVERED_SUCCESSES = 6

SERVER_TYPES = frozenset({ErrorType.SERVER_ERROR, ErrorType.INVALID_RESPONSE, ErrorType.STREAM_INTERRUPTED, ErrorType.OTHER})
TRANSIENT_TYPES = frozenset({ErrorType.OVERLOADED, ErrorType.CONNECT, ErrorType.DNS, ErrorType.TLS})

#: A run of server errors counts at most this many failures as evidence: a run is one event, and a burst
#: of ten failures in 30 s must not weigh like ten independent failures spread over ten minutes.
SERVER_RUN_CAP = 2
#: Transient failures count at most one per this many seconds, for the same reason (their bursts last
#: 20-60 s: docs/ALERTING.md, "noise model").
TRANSIENT_REFRACTORY = 60.0


@dataclasses.dataclass(slots=True)
class Evidence:
    """Per-target evidence, updated with every probe (scheduled or re-check)."""

    probes: int = 0  # availability evidence: successes plus server and transient failures
    failures: int = 0  # of those, failures counted after de-clustering (SERVER_RUN_CAP, TRANSIENT_REFRACTORY)
    run_failures: int = 0  # outage-like failures in a row (timeouts included); 0 after a success
    run_started: float = 0.0  # start time of the first failure of that run
    run_seconds: float = 0.0  # from the start of the run's first failure to the start of its latest
    run_server_errors: int = 0  # server errors in that run
    successes: int = 0  # successful probes in a row
    _server_in_run: int = 0
    _last_transient: float = float("-inf")

    def add(self, ts: float, ok: bool, error_type: ErrorType | None) -> None:
        if ok:
            self.probes += 1
            self.successes += 1
            self.run_failures = self.run_server_errors = self._server_in_run = 0
            self.run_seconds = 0.0
            return
        if error_type in SERVER_TYPES:
            self.probes += 1
            self._server_in_run += 1
            if self._server_in_run <= SERVER_RUN_CAP:
                self.failures += 1
        elif error_type in TRANSIENT_TYPES:
            self.probes += 1
            if ts - self._last_transient >= TRANSIENT_REFRACTORY:
                self.failures += 1
                self._last_transient = ts
        elif error_type is not ErrorType.TIMEOUT:
            return  # misconfiguration and rate limiting: no evidence either way, and the run goes on
        self.successes = 0
        if self.run_failures == 0:
            self.run_started = ts
        self.run_failures += 1
        self.run_seconds = ts - self.run_started
        if error_type in SERVER_TYPES:
            self.run_server_errors += 1

    def progress(self, consecutive: int = 0, consecutive_outage: int = 0) -> "Progress":
        """An immutable snapshot of these counts, with the target's failures in a row."""
        return Progress(consecutive, consecutive_outage, self.successes, self.probes, self.failures, self.run_failures,
                        self.run_seconds, self.run_server_errors)


#: The hard branch of the detector (prometheus/rules/detector.yml, ``target:llm_outage_hard:bool``): a run of at
#: least HARD_RUN_FAILURES outage-like failures spanning HARD_RUN_SECONDS with HARD_RUN_SERVER_ERRORS server
#: errors among them and at least half of them server errors, or spanning ANY_RUN_SECONDS whatever they are. The rules are the source of truth; these
#: mirror them for the exporter's own use (the status poller's detection lead), and tests/test_architecture.py
#: checks that the two agree.
HARD_RUN_FAILURES = 4
HARD_RUN_SECONDS = 20.0
HARD_RUN_SERVER_ERRORS = 2
ANY_RUN_SECONDS = 75.0


@dataclasses.dataclass(frozen=True, slots=True)
class Progress:
    """A target's counts after a probe, as the consumers of that probe see them: an immutable snapshot."""

    consecutive: int  # failed probes in a row, re-checks included
    consecutive_outage: int  # of those, in a row, outage-like ones
    successes: int
    evidence_probes: int
    evidence_failures: int
    run_failures: int
    run_seconds: float
    run_server_errors: int

    @property
    def hard_outage(self) -> bool:
        """Whether the run meets the detector's hard branch (what pages within a minute)."""
        return self.run_failures >= HARD_RUN_FAILURES and (
            (self.run_seconds >= HARD_RUN_SECONDS and self.run_server_errors >= HARD_RUN_SERVER_ERRORS
             and 2 * self.run_server_errors >= self.consecutive_outage)
            or self.run_seconds >= ANY_RUN_SECONDS
        )


#: The default slow_threshold: an answer at least this slow makes its target suspicious. Lower than S2's 5 s (the
#: latency test's le="5.0" bucket) on purpose: when p95 climbs towards 8 s about half of all answers take over
#: 3 s but only one in five over 5 s, so waiting for a 5 s answer before sampling densely left about a quarter
#: of latency incidents unalerted after 5 minutes; at 3 s it is one or two in a hundred, for about four points
#: more re-checks over everyday latency (docs/ALERTING.md, "Latency").
DEFAULT_SLOW = 3.0
#: S2's bound (the latency test's le="5.0" bucket): a target's own usual latency never raises its slow threshold
#: past this (nor lowers it below the configured one).
SLOW_BOUND = 5.0
#: An answer this many times the target's usual latency is slow for it (UsualLatency).
SLOW_FACTOR = 3.0


@dataclasses.dataclass(slots=True)
class UsualLatency:
    """A target's usual answer time: a geometric mean of its scheduled successful answers, weighted towards the
    latest (each moves it 1/WEIGHT of the way, in log space). It keeps a model that is slow by nature (a large or
    reasoning model whose one-token answer takes 2 s) from being suspicious on every other probe at the 3 s
    default, which would re-check it every few seconds for ever: its slow threshold rises to SLOW_FACTOR times
    its usual latency, up to S2's 5 s. Re-checks don't feed it (they are taken because answers were slow), and
    at 30 s a latency incident moves it by about a fifth in its first 5 minutes."""

    WEIGHT = 32
    log_seconds: float | None = None

    def add(self, latency_s: float) -> None:
        value = math.log(max(latency_s, 0.001))
        self.log_seconds = value if self.log_seconds is None else self.log_seconds + (value - self.log_seconds) / self.WEIGHT

    def slow_threshold(self, configured: float) -> float:
        """The slow threshold for this target: the configured one, raised to SLOW_FACTOR times its usual latency
        but not past SLOW_BOUND (a configured threshold above that stands)."""
        if self.log_seconds is None:
            return configured
        return max(configured, min(SLOW_BOUND, SLOW_FACTOR * math.exp(self.log_seconds)))


def is_suspicious(ok: bool, error_type: ErrorType | None, latency_s: float, slow_threshold: float) -> bool:
    """Does this outcome call for sampling faster? Outage-like failures (timeouts included) and slow answers."""
    if ok:
        return latency_s >= slow_threshold
    return error_type in SERVER_TYPES or error_type in TRANSIENT_TYPES or error_type is ErrorType.TIMEOUT


#: The default suspicion window is four probe intervals, but never longer than this.
DEFAULT_WINDOW_MAX = 120.0
#: An outage under way: this many suspicious outcomes within BURST_WINDOW seconds sample at half the fast cadence.
#: At 1.5 s the last 90 s hold as many probes as two minutes at 3 s did, so the page's hysteresis decides on 90 s
#: (its stay window, prometheus/rules/detector.yml) with the same confidence and resolves about 25 s sooner; a
#: partial outage also gathers its evidence sooner. Everyday noise rarely puts four suspicious outcomes in a minute
#: (an overloaded burst or a network blip does, for its length): +3 points of probes (docs/ALERTING.md).
BURST_COUNT = 4
BURST_WINDOW = 60.0
#: The default re-check intervals (config keys recheck_interval and recheck_fast_interval). A partial outage
#: is decided on about 16 probes' evidence (docs/ALERTING.md); at 3 s they take under a minute.
DEFAULT_RECHECK = 7.5
DEFAULT_FAST = 3.0


@dataclasses.dataclass(slots=True)
class Suspicion:
    """Adaptive sampling: after a suspicious outcome, probe every ``recheck`` seconds until ``window`` seconds
    have passed since the last one; once two suspicious outcomes fall inside one window, every ``fast``
    seconds; while BURST_COUNT fall within BURST_WINDOW (an outage under way), every ``fast / 2``. One failure
    among hundreds of successes costs a few extra probes; an incident is sampled four to twenty times more
    densely than the regular interval, which is what lets the likelihood-ratio rules decide within minutes
    (docs/ALERTING.md)."""

    window: float = 120.0
    recheck: float = DEFAULT_RECHECK
    fast: float = DEFAULT_FAST
    _times: list[float] = dataclasses.field(default_factory=list)

    def copy(self) -> "Suspicion":
        """The same settings, no history."""
        return Suspicion(self.window, self.recheck, self.fast)

    def for_interval(self, interval: float) -> "Suspicion":
        """These settings for a target probed every ``interval``: a window of 0 means four intervals, at most
        DEFAULT_WINDOW_MAX (a stretched interval must not make every failure buy many minutes of re-checks)."""
        suspicion = self.copy()
        if suspicion.window <= 0:
            suspicion.window = min(4 * interval, DEFAULT_WINDOW_MAX)
        return suspicion

    def for_check(self, check: str) -> "Suspicion":
        """These settings for a check kind: adaptive re-checks gather availability evidence, which the ``chat``
        checks give; the other kinds (stream, quality, tools, vision, embeddings) measure at their own pace and are never
        re-checked."""
        if check == "chat":
            return self
        return Suspicion(self.window, 0.0, 0.0)

    def same_settings(self, other: "Suspicion") -> bool:
        return (self.window, self.recheck, self.fast) == (other.window, other.recheck, other.fast)

    def observe(self, ts: float, suspicious: bool) -> None:
        self._times = [t for t in self._times if t > ts - self.window]
        if suspicious:
            self._times.append(ts)

    def reset(self) -> None:
        self._times.clear()

    def next_recheck(self, now: float) -> float | None:
        """When to probe again before the regular tick, or None (not suspicious, or re-checks disabled)."""
        if self.recheck <= 0 or not self._times or now >= self._times[-1] + self.window:
            return None
        live = sum(1 for t in self._times if t > now - self.window)
        if live < 2 or self.fast <= 0:
            return now + self.recheck
        burst = sum(1 for t in self._times if t > now - BURST_WINDOW) >= BURST_COUNT
        return now + (self.fast / 2 if burst else self.fast)


#: For the cost estimate: the share of probes taken as opening a suspicion window at the ``recheck`` cadence.
#: Calibrated on bench/alertsim's month of noise alone (5 models x 2 regions x 30 days: 1.5 % sporadic failures
#: plus overloaded bursts, network blips, 429 storms and latency spikes; the default 7.5 s / 3 s / 1.5 s re-checks
#: timed from each probe's start, answers of 3 s and more suspicious), so that the estimate equals what the model
#: measured (2026-12-08: +48.2 %): 1 + 0.040 x (120 s / 7.5 s - 120 s / 30 s) = 1.48. At 3 % background failures
#: the model measures about +100 % (docs/ALERTING.md).
ASSUMED_SUSPICIOUS_SHARE = 0.040


def extra_probe_factor(interval: float, suspicion: Suspicion) -> float:
    """Probes sent per scheduled probe, re-checks included, at ASSUMED_SUSPICIOUS_SHARE: each suspicious outcome
    keeps the target at ``recheck`` for a window instead of ``interval``."""
    if suspicion.recheck <= 0 or suspicion.recheck >= interval:
        return 1.0
    window = suspicion.for_interval(interval).window
    extra = window / suspicion.recheck - window / interval
    return 1.0 + ASSUMED_SUSPICIOUS_SHARE * max(0.0, extra)
