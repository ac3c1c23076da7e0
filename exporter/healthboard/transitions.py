"""A consumer of the scheduler's events that logs what an operator wants to read: one line when a target's state changes
(ok → failing, failing → ok, or the kind of failure changes), never one per probe; every failed probe at
debug level. With ``--log-format json`` each line carries the fields (target, error_type, http_status…)."""

from __future__ import annotations

import logging

from healthboard.events import Event, Probed
from healthboard.record import CheckRecord

log = logging.getLogger("healthboard.targets")


class TransitionLog:
    def __init__(self) -> None:
        self._last: dict[str, str] = {}  # target id → its last error type ("" when ok)
        self._failing_since: dict[str, float] = {}
        self._failures: dict[str, int] = {}

    def __call__(self, event: Event) -> None:
        if type(event) is Probed:
            self.record(event.record)

    def record(self, record: CheckRecord) -> None:
        target = record.target_id
        error = record.error_type.value if record.error_type else ""
        if not record.ok:
            self._failures[target] = self._failures.get(target, 0) + 1
            self._failing_since.setdefault(target, record.ts)
            log.debug("probe of %s failed: %s%s: %s", target, error, _status(record), record.error_message or "",
                      extra={"fields": _fields(record)})
        previous = self._last.get(target)
        self._last[target] = "" if record.ok else error
        if previous == self._last[target] or (previous is None and record.ok):
            if record.ok:
                self._clear(target)
            return
        if not record.ok:
            was = f" (was {previous})" if previous else ""
            log.warning("%s failing: %s%s%s: %s", target, error, _status(record), was, record.error_message or "",
                        extra={"fields": _fields(record)})
            return
        failures, since = self._failures.get(target, 0), self._failing_since.get(target, record.ts)
        log.info("%s ok again after %d failed probe%s over %.0fs", target, failures, "" if failures == 1 else "s",
                 max(0.0, record.ts - since), extra={"fields": {**_fields(record), "failed_probes": failures}})
        self._clear(target)

    def _clear(self, target: str) -> None:
        self._failures.pop(target, None)
        self._failing_since.pop(target, None)


def _status(record: CheckRecord) -> str:
    return f" (HTTP {record.http_status})" if record.http_status else ""


def _fields(record: CheckRecord) -> dict[str, object]:
    return {"target": record.target_id, "region": record.region, "ok": record.ok,
            "error_type": record.error_type.value if record.error_type else None, "http_status": record.http_status,
            "request_id": record.request_id, "latency_ms": round(record.latency_ms), "scheduled": record.scheduled}
