"""The recent-checks ring: a consumer that keeps the newest check records of all targets, for drill-down
(/api/checks)."""

from __future__ import annotations

import collections
from collections.abc import Iterator

from healthboard.events import Event, Probed
from healthboard.record import CheckRecord


class RecentChecks:
    """The newest checks of all targets, for drill-down (/api/checks)."""

    def __init__(self, size: int) -> None:
        self._ring: collections.deque[CheckRecord] = collections.deque(maxlen=size)

    def __call__(self, event: Event) -> None:
        if type(event) is Probed:
            self._ring.append(event.record)

    def resize(self, size: int) -> None:
        if size != self._ring.maxlen:
            self._ring = collections.deque(self._ring, maxlen=size)

    def newest_first(self) -> Iterator[CheckRecord]:
        return reversed(self._ring)
