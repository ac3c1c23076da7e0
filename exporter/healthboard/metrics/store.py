"""The per-target metric families, kept compact.

Each target has ~90 series (counters, gauges, two histograms). prometheus-client keeps one child object
with its own lock and value objects per series: ~450,000 objects at 5,000 targets, about 450 MB, and
each full garbage collection walked them all (a 1-2 s event-loop stall). Here a target is one ``Slot``:
its label text, rendered once, and one ``array('d')`` holding every value of every family (histogram
buckets stored cumulative). Nothing in it is tracked by the garbage collector.

Rendering formats one family of one target with a single ``str.format`` call on a template built once
per family, so /metrics costs one call per family and target. ``render_chunks`` yields the text in pieces of
about 1 ms of work, so the HTTP handler can stream it and give the event loop back in between: a probe's
reply that arrives during a scrape then waits about that long to be stamped. Each turn of the loop costs
too: at 5,000 targets 0.2 ms pieces made a scrape take 440 ms while probing, 1 ms pieces 257 ms, with the
same overhead p99 (docs/PERFORMANCE.md).

The store is also a prometheus-client collector (``collect``), so ``registry.get_sample_value`` and
``generate_latest`` see the same values; tests/test_exposition.py requires both renderings to parse to
identical samples.
"""

from __future__ import annotations

import dataclasses
import math
import time
from array import array
from collections.abc import Callable, Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

COUNTER, GAUGE, HISTOGRAM = "counter", "gauge", "histogram"
PIECE_BUDGET = 0.001  # seconds of formatting per streamed piece of /metrics
NAN = math.nan


def escape_label(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _braces(text: str) -> str:
    """Literal text inside a str.format template."""
    return text.replace("{", "{{").replace("}", "}}")


@dataclasses.dataclass(frozen=True)
class Family:
    """One metric family with the target labels plus at most one label of its own, whose values are fixed."""

    name: str  # counters without the _total suffix
    kind: str
    help: str
    label: str | None = None
    values: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()  # histograms: finite upper bounds, ascending
    optional: bool = False  # a child exists only once set (NaN while absent); otherwise every child starts at 0

    @property
    def children(self) -> tuple[str, ...]:
        return self.values if self.label else ("",)

    @property
    def stride(self) -> int:
        """Values per child: one, or for a histogram every bucket (cumulative), +Inf, and the sum."""
        return len(self.buckets) + 2 if self.kind == HISTOGRAM else 1

    @property
    def width(self) -> int:
        return len(self.children) * self.stride

    @property
    def exposed_name(self) -> str:
        return self.name + "_total" if self.kind == COUNTER else self.name

    def child(self, value: str) -> int:
        """Index of a child by its label value."""
        return self.children.index(value)


class Slot:
    """One target: its label text and every value of every family, in one array."""

    __slots__ = ("labels", "label_values", "values")

    def __init__(self, label_values: tuple[str, ...], label_names: Sequence[str], initial: array) -> None:
        self.label_values = label_values
        self.labels = ",".join(f'{n}="{escape_label(v)}"' for n, v in zip(label_names, label_values))
        self.values = array("d", initial)


class TargetSeries:
    def __init__(self, label_names: Sequence[str], families: Sequence[Family]) -> None:
        self.label_names = tuple(label_names)
        self.families = tuple(families)
        self.offsets: dict[str, int] = {}
        offset = 0
        initial: list[float] = []
        for family in self.families:
            self.offsets[family.name] = offset
            offset += family.width
            initial.extend([NAN if family.optional else 0.0] * family.width)
        self._initial = array("d", initial)
        self._slots: dict[str, Slot] = {}
        self._headers = [
            f"# HELP {f.exposed_name} {escape_help(f.help)}\n# TYPE {f.exposed_name} {f.kind}\n" for f in self.families
        ]
        self._templates = [self._template(f) for f in self.families]
        self._child_templates = [
            [self._template(f, only=i) for i in range(len(f.children))] if f.optional else [] for f in self.families
        ]
        # per family, what rendering needs without attribute look-ups: (start, end, the first value's index of each
        # child when optional, else None, values per child)
        self._layout = [
            (self.offsets[f.name], self.offsets[f.name] + f.width,
             tuple(self.offsets[f.name] + position * f.stride for position in range(len(f.children))) if f.optional else None,
             f.stride)
            for f in self.families
        ]
        # the families of one value a target (most of them): rendered by a tighter loop, a format call and an
        # index each, without _family_text's call and slice (2 µs a target and family before: ~40 % of /metrics)
        self._single: list[tuple[Callable[..., str], int, bool] | None] = [
            (self._templates[n].format, self.offsets[f.name], f.optional) if f.width == 1 else None
            for n, f in enumerate(self.families)
        ]

    # -- slots -----------------------------------------------------------------------------------

    def add(self, key: str, label_values: tuple[str, ...]) -> Slot:
        """The slot of a target, created at zero (kept, values and all, when it exists with the same labels)."""
        slot = self._slots.get(key)
        if slot is None or slot.label_values != label_values:
            slot = self._slots[key] = Slot(label_values, self.label_names, self._initial)
        return slot

    def remove(self, key: str) -> None:
        self._slots.pop(key, None)

    def get(self, key: str) -> Slot | None:
        return self._slots.get(key)

    def family(self, name: str) -> Family:
        return next(f for f in self.families if f.name == name)

    def __len__(self) -> int:
        return len(self._slots)

    # -- rendering -------------------------------------------------------------------------------

    def _template(self, family: Family, only: int | None = None) -> str:
        """A str.format template of a family for one target: {0} is the target's label text, {1}… its values
        (with ``only``, one child's template, whose {1}… are that child's values alone)."""
        lines: list[str] = []
        index = 1
        for value in family.children if only is None else (family.children[only],):
            own = f',{family.label}="{escape_label(value)}"' if family.label else ""
            if family.kind == HISTOGRAM:
                for bound in (*family.buckets, math.inf):
                    lines.append(f'{_braces(family.name)}_bucket{{{{{{0}}{_braces(own)},le="{floatToGoString(bound)}"}}}} {{{index}}}\n')
                    index += 1
                lines.append(f"{_braces(family.name)}_count{{{{{{0}}{_braces(own)}}}}} {{{index - 1}}}\n")
                lines.append(f"{_braces(family.name)}_sum{{{{{{0}}{_braces(own)}}}}} {{{index}}}\n")
            else:
                lines.append(f"{_braces(family.exposed_name)}{{{{{{0}}{_braces(own)}}}}} {{{index}}}\n")
            index += 1
        return "".join(lines)

    def _family_text(self, number: int, slot: Slot) -> str:
        start, end, firsts, stride = self._layout[number]
        all_values = slot.values
        if firsts is None:
            return self._templates[number].format(slot.labels, *all_values[start:end])
        # NaN (value != value): an optional child (or histogram) not set yet; most targets set none of a family
        # (stream timings on chat targets), so look before slicing
        if len(firsts) == 1:
            value = all_values[start]
            if value != value:
                return ""
            return self._child_templates[number][0].format(slot.labels, *all_values[start:end])
        # one child's template takes that child's values only: a single value for a labelled counter or gauge
        templates = self._child_templates[number]
        labels = slot.labels
        if stride == 1:
            return "".join([templates[position].format(labels, value)
                            for position, index in enumerate(firsts) if (value := all_values[index]) == value])
        return "".join([templates[position].format(labels, *all_values[index:index + stride])
                        for position, index in enumerate(firsts) if all_values[index] == all_values[index]])

    def render_chunks(self, budget: float = PIECE_BUDGET) -> Iterator[str]:
        """The exposition text of every family, in pieces of about ``budget`` seconds of formatting each (at
        least one target's family per piece), so a streaming caller can give the event loop back in between."""
        slots = list(self._slots.values())  # a snapshot: a reload during a streamed scrape doesn't break it
        clock = time.perf_counter
        pieces: list[str] = []
        deadline = clock() + budget
        family_text = self._family_text
        append = pieces.append
        for number, header in enumerate(self._headers):
            append(header)
            single = self._single[number]
            for count, slot in enumerate(slots, 1):
                if single is None:
                    append(family_text(number, slot))
                else:
                    fmt, index, optional = single
                    value = slot.values[index]
                    if not optional or value == value:  # NaN: an optional family not set yet
                        append(fmt(slot.labels, value))
                if (count & 7 == 0 or budget <= 0) and clock() >= deadline:  # the clock every 8 targets: it costs too
                    yield "".join(pieces)
                    pieces.clear()
                    deadline = clock() + budget
        if pieces:
            yield "".join(pieces)

    def render(self) -> str:
        return "".join(self.render_chunks(math.inf))

    # -- prometheus-client collector ---------------------------------------------------------------

    def describe(self) -> list:
        return []  # registered without describe-time validation; collect() gives the families

    def collect(self) -> Iterator[object]:
        labels = list(self.label_names)
        for family in self.families:
            names = labels + ([family.label] if family.label else [])
            if family.kind == COUNTER:
                out = CounterMetricFamily(family.name, family.help, labels=names)
            elif family.kind == GAUGE:
                out = GaugeMetricFamily(family.name, family.help, labels=names)
            else:
                out = HistogramMetricFamily(family.name, family.help, labels=names)
            start = self.offsets[family.name]
            bounds = [floatToGoString(b) for b in (*family.buckets, math.inf)]
            for slot in self._slots.values():
                for position, value in enumerate(family.children):
                    own = [value] if family.label else []
                    base = start + position * family.stride
                    if slot.values[base] != slot.values[base]:  # NaN: an optional child not set yet
                        continue
                    if family.kind == HISTOGRAM:
                        cumulative = slot.values[base : base + len(bounds)]
                        out.add_metric([*slot.label_values, *own], list(zip(bounds, cumulative)), slot.values[base + len(bounds)])
                    else:
                        out.add_metric([*slot.label_values, *own], slot.values[base])
            yield out
