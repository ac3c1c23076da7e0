"""The per-target metric families, kept compact.

Each target has ~90 series (counters, gauges, two histograms). prometheus-client keeps one child object
with its own lock and value objects per series: ~450,000 objects at 5,000 targets, about 450 MB, and
each full garbage collection walked them all (a 1-2 s event-loop stall). Here a target is one ``Slot``:
its label text, rendered once, and one ``array('d')`` holding every value of every family (histogram
buckets stored cumulative). Nothing in it is tracked by the garbage collector.

Rendering formats one family of one target with a single ``%`` on a printf-style template built once per
family, and runs those calls column-wise with ``map`` over a block of targets, so no Python loop runs per
target (at 5,000 targets ~40 % less render time than a loop of ``str.format`` calls). ``render_chunks``
yields the text in pieces of about 1 ms of work, so the HTTP handler can stream it and give the event loop
back in between: a probe's reply that arrives during a scrape then waits about that long to be stamped.
Each turn of the loop costs too: at 5,000 targets 0.2 ms pieces made a scrape take 440 ms while probing,
1 ms pieces 257 ms, with the same overhead p99 (docs/PERFORMANCE.md).

The store is also a prometheus-client collector (``collect``), so ``registry.get_sample_value`` and
``generate_latest`` see the same values; tests/test_exposition.py requires both renderings to parse to
identical samples.
"""

from __future__ import annotations

import dataclasses
import math
import string
import time
from array import array
from collections.abc import Callable, Iterator, Sequence
from itertools import compress
from operator import eq, itemgetter

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

COUNTER, GAUGE, HISTOGRAM = "counter", "gauge", "histogram"
#: How one family (or one child of an optional family) renders: a printf-style template's ``%``, the same with
#: ``%r`` for every value (for a block where a count is NaN or infinite, which ``%d`` can't write), for each
#: field in order the itemgetter of its value (None: the target's label text), and for an optional one the
#: index and getter of the value whose NaN means "not set" (targets without it are left out; -1 and None
#: otherwise).
Column = tuple[Callable[[tuple], str], Callable[[tuple], str], tuple[itemgetter | None, ...], int, itemgetter | None]
PIECE_BUDGET = 0.001  # seconds of formatting per streamed piece of /metrics
BLOCK_VALUES = 2048  # values formatted between two looks at the clock: ~0.5 ms
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
    #: the values are counts (whole numbers), rendered as integers ("6", not "6.0": the same sample to a parser,
    #: and an int formats ~40 % faster than a float's shortest repr). A histogram's buckets always are; its sum
    #: is not.
    whole: bool = False

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

    def whole_values(self) -> tuple[bool, ...]:
        """Per value of one child: is it a count?"""
        if self.kind == HISTOGRAM:
            return (True,) * (len(self.buckets) + 1) + (False,)
        return (self.whole,)

    def child(self, value: str) -> int:
        """Index of a child by its label value."""
        return self.children.index(value)


def _column(template: str, start: int, whole: Sequence[bool], optional: bool) -> Column:
    """A str.format template (``{0}`` the label text, ``{1}``… the values from ``start`` on) as a Column: printf
    style, ``%d`` for a count and ``%r`` (a float's shortest repr, what ``{}`` writes) otherwise. ``%`` over a
    tuple is ~30 % faster than ``str.format`` on the 16-line histogram template, and ``%d`` writes a float
    count as an integer with no ``int()`` call."""
    parts: list[str] = []
    fallback: list[str] = []
    fields: list[itemgetter | None] = []
    for literal, field, _, _ in string.Formatter().parse(template):
        parts.append(literal.replace("%", "%%"))
        fallback.append(literal.replace("%", "%%"))
        if field is not None:
            index = int(field)
            fields.append(None if index == 0 else itemgetter(start + index - 1))
            parts.append("%s" if index == 0 else "%d" if whole[index - 1] else "%r")
            fallback.append("%s" if index == 0 else "%r")
    return ("".join(parts).__mod__, "".join(fallback).__mod__, tuple(fields), start if optional else -1,
            itemgetter(start) if optional else None)


def _arguments(fields: Sequence[itemgetter | None], labels: list[str], rows: list[array]) -> Iterator[tuple]:
    """A Column's format arguments for each target of a block: its label text, then its values, field by field."""
    return zip(*[labels if field is None else map(field, rows) for field in fields])


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
        # per value index, 1 once an optional child's first value was set in any target (``mark``): the renderer
        # looks for present targets only in those children, so an optional family no target has set (the phase
        # histograms when off, the stream and quality families on chat targets, most error types) costs nothing
        self._marked = bytearray(offset)
        self._slots: dict[str, Slot] = {}
        self._headers = [
            f"# HELP {f.exposed_name} {escape_help(f.help)}\n# TYPE {f.exposed_name} {f.kind}\n" for f in self.families
        ]
        self._templates = [self._template(f) for f in self.families]
        # per family, its Columns: one for the whole family, or one per child of an optional family (each child
        # is present or absent on its own)
        self._columns = [self._column_specs(n, f) for n, f in enumerate(self.families)]
        # targets per block: about BLOCK_VALUES values formatted between two looks at the clock (an optional
        # family's children are looked at one by one, and most targets have few of them)
        self._blocks = [max(1, BLOCK_VALUES // (f.stride if f.optional else f.width)) for f in self.families]

    # -- slots -----------------------------------------------------------------------------------

    def add(self, key: str, label_values: tuple[str, ...]) -> Slot:
        """The slot of a target, created at zero (kept, values and all, when it exists with the same labels)."""
        slot = self._slots.get(key)
        if slot is None or slot.label_values != label_values:
            slot = self._slots[key] = Slot(label_values, self.label_names, self._initial)
        return slot

    def mark(self, index: int) -> None:
        """An optional child's first value (``offsets[family] + position * stride``) was set in some target: from
        now on the renderer looks for it. Whoever sets an optional value calls this (metrics/probes.py); one
        not marked is never rendered."""
        self._marked[index] = 1

    def remove(self, key: str) -> None:
        self._slots.pop(key, None)

    def get(self, key: str) -> Slot | None:
        return self._slots.get(key)

    def family(self, name: str) -> Family:
        return next(f for f in self.families if f.name == name)

    def __len__(self) -> int:
        return len(self._slots)

    # -- rendering -------------------------------------------------------------------------------

    def _column_specs(self, number: int, family: Family) -> list[Column]:
        start, stride = self.offsets[family.name], family.stride
        whole = family.whole_values() * len(family.children)
        if not family.optional:
            return [_column(self._templates[number], start, whole, optional=False)]
        return [
            _column(self._template(family, only=position), start + position * stride, whole[:stride], optional=True)
            for position in range(len(family.children))
        ]

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

    def render_chunks(self, budget: float = PIECE_BUDGET) -> Iterator[str]:
        """The exposition text of every family, in pieces of about ``budget`` seconds of formatting each (at
        least one block of targets per piece), so a streaming caller can give the event loop back in between.

        A family is rendered a column at a time over a block of targets: ``map`` runs the template's ``%``
        over ``zip`` of the targets' label texts and one ``itemgetter`` column per field, so the loop over
        targets is C code; only the formatting itself remains (a Python loop per target and family was ~40 %
        of /metrics). An optional child is a column too: its targets without a value (NaN, which is the one
        value unequal to itself) are dropped with ``compress`` before formatting, and a child no target has
        set (never ``mark``ed) costs nothing. Within a labelled family the series come child by child; the
        exposition format asks only that a family's samples be together."""
        slots = list(self._slots.values())  # a snapshot: a reload during a streamed scrape doesn't break it
        labels = [slot.labels for slot in slots]
        rows = [slot.values for slot in slots]
        total = len(slots)
        marked = self._marked
        clock = time.perf_counter
        pieces: list[str] = []
        append = pieces.append
        deadline = clock() + budget
        for header, columns, block in zip(self._headers, self._columns, self._blocks):
            append(header)
            for first in range(0, total, block):
                block_labels = labels[first:first + block]
                block_rows = rows[first:first + block]
                for fmt, fallback, fields, first_value, present in columns:
                    targets, targets_rows = block_labels, block_rows
                    if present is not None:
                        if not marked[first_value]:
                            continue
                        values = list(map(present, block_rows))
                        keep = list(map(eq, values, values))  # False where NaN: not set for that target
                        if not any(keep):
                            continue
                        if not all(keep):
                            targets, targets_rows = list(compress(block_labels, keep)), list(compress(block_rows, keep))
                    try:
                        append("".join(map(fmt, _arguments(fields, targets, targets_rows))))
                    except (ValueError, OverflowError):  # a count is NaN or infinite: written as a float, never a failed scrape
                        append("".join(map(fallback, _arguments(fields, targets, targets_rows))))
                    if clock() >= deadline:
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
