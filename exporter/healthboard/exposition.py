"""A fast text exposition of the exporter's own prometheus-client metrics (scheduler lag, sink, status
poller, build info). The per-target families are not here: they live in a compact store of their own
(healthboard/target_series.py), rendered ahead of these.

prometheus-client's generate_latest builds a Sample object per series and formats each one generically.
This renders the same text format (version 0.0.4) straight from the metric children, with each child's
label string built once and cached. tests/test_exposition.py parses the output and requires the samples
generate_latest gives, so a prometheus-client change that breaks this fails CI.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.utils import floatToGoString

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape_label(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _value(v: float) -> str:
    # repr() matches Go's formatting below 1e6; above it (timestamps), and for NaN/Inf, use the client's formatter
    return repr(v) if -1e300 < v < 1e6 else floatToGoString(v)


class Renderer:
    def __init__(self, metrics: Iterable[Any]) -> None:
        self.metrics = list(metrics)
        self._labels: dict[tuple[int, tuple[str, ...]], str] = {}

    def _label_string(self, metric: Any, values: tuple[str, ...]) -> str:
        """Labels sorted by name, as prometheus-client writes them."""
        key = (id(metric), values)
        text = self._labels.get(key)
        if text is None:
            pairs = sorted(zip(metric._labelnames, values))  # noqa: SLF001
            text = ",".join(f'{n}="{_escape_label(v)}"' for n, v in pairs)
            self._labels[key] = text
        return text

    def _bucket_affixes(self, metric: Any, values: tuple[str, ...]) -> tuple[str, str]:
        """The label text before and after le="…", with le in its sorted place."""
        key = (id(metric), values, "le")
        found = self._labels.get(key)
        if found is None:
            pairs = sorted(zip(metric._labelnames, values))  # noqa: SLF001
            before = "".join(f'{n}="{_escape_label(v)}",' for n, v in pairs if n < "le")
            after = "".join(f',{n}="{_escape_label(v)}"' for n, v in pairs if n > "le")
            found = before + "\0" + after
            self._labels[key] = found
        before, after = found.split("\0")
        return before, after

    def forget(self) -> None:
        """Drop cached label strings (after targets were removed)."""
        self._labels.clear()

    def render(self) -> bytes:
        out: list[str] = []
        add = out.append
        for metric in self.metrics:
            name = metric._name  # noqa: SLF001
            kind = metric._type  # noqa: SLF001
            add(f"# HELP {name}{'_total' if kind == 'counter' else ''} {_escape_help(metric._documentation)}\n")  # noqa: SLF001
            add(f"# TYPE {name}{'_total' if kind == 'counter' else ''} {kind}\n")
            if metric._labelnames:  # noqa: SLF001
                with metric._lock:  # noqa: SLF001
                    children = list(metric._metrics.items())  # noqa: SLF001
            else:
                children = [((), metric)]
            for values, child in children:
                labels = self._label_string(metric, values) if values else ""
                if isinstance(metric, Counter):
                    add(f"{name}_total{{{labels}}} {_value(child._value.get())}\n" if labels else f"{name}_total {_value(child._value.get())}\n")  # noqa: SLF001
                elif isinstance(metric, Gauge):
                    add(f"{name}{{{labels}}} {_value(child._value.get())}\n" if labels else f"{name} {_value(child._value.get())}\n")  # noqa: SLF001
                elif isinstance(metric, Histogram):
                    before, after = self._bucket_affixes(metric, values)
                    acc = 0.0
                    for bound, bucket in zip(child._upper_bounds, child._buckets):  # noqa: SLF001
                        acc += bucket.get()
                        add(f'{name}_bucket{{{before}le="{floatToGoString(bound)}"{after}}} {_value(acc)}\n')
                    tail = f"{{{labels}}}" if labels else ""
                    add(f"{name}_count{tail} {_value(acc)}\n")
                    add(f"{name}_sum{tail} {_value(child._sum.get())}\n")  # noqa: SLF001
                else:  # pragma: no cover - Metrics uses only the three types above
                    raise TypeError(f"unsupported metric type {type(metric).__name__}")
        return "".join(out).encode()
