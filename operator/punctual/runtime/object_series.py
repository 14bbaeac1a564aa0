"""The per-ScheduledJob series, held compactly, and written in the Prometheus text format.

Role: the store behind the per-object families of :mod:`punctual.runtime.metric_families`
(``PER_OBJECT``). prometheus_client keeps a child object per series, a value object with its own
lock per number, and a histogram child per bucket: about 20 KiB for one ScheduledJob's 55 series,
200 MB at 10,000 (docs/benchmarks.md, "Per-object series"). Here one ScheduledJob is one small
record: its counters in one array, each histogram in one array (bucket counts, then the sum), its
gauges in one list (None: no series). About a tenth of the memory.

It is a prometheus_client ``Collector`` (``collect()`` yields the standard families, so a
``CollectorRegistry`` and ``get_sample_value`` see it like any other) and it writes its own text
(:meth:`ObjectSeries.render`): what ``generate_latest`` writes for ``collect()``, byte for byte,
without a ``Sample`` per line (550,000 lines at 10,000 ScheduledJobs; a test compares the bytes).

Not pure (mutable state) but no Kubernetes I/O and no clock. The event loop updates it; /metrics
renders it from a thread: the set of objects is copied under a lock, and each number is one
item store or read.
"""

from __future__ import annotations

import threading
from array import array
from bisect import bisect_left
from collections.abc import Iterator
from typing import Final

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from punctual.runtime.metric_families import PER_OBJECT, PerObjectFamily

__all__ = ["COUNTER_AT", "GAUGE_AT", "HISTOGRAM_AT", "ObjectSeries", "Series"]

_INF: Final = float("inf")

_COUNTERS: Final = tuple(f for f in PER_OBJECT if f.kind == "counter")
_GAUGES: Final = tuple(f for f in PER_OBJECT if f.kind == "gauge")

#: Where each counter series starts in :attr:`Series.counters`: a family without an extra label
#: has one slot, one with a label (``trigger``, ``result``) one per value, in their order.
COUNTER_AT: Final[dict[str, int]] = {}
_at = 0
for _family in _COUNTERS:
    COUNTER_AT[_family.name] = _at
    _at += max(1, len(_family.values))
_COUNTER_SLOTS: Final = _at
#: The index of each gauge in :attr:`Series.gauges`.
GAUGE_AT: Final[dict[str, int]] = {f.name: i for i, f in enumerate(_GAUGES)}


def _go(value: float) -> str:
    """``floatToGoString``: ``repr`` below a million (what it returns there), the client's own above."""
    if -_INF < value < 1e6:
        return repr(value)
    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text


_HISTOGRAMS: Final = tuple(f for f in PER_OBJECT if f.kind == "histogram")
#: The index of each histogram family in :attr:`Series.histograms`.
HISTOGRAM_AT: Final[dict[str, int]] = {f.name: i for i, f in enumerate(_HISTOGRAMS)}
#: Each histogram's ``le`` values as written, ``+Inf`` last.
_LES: Final[dict[str, tuple[str, ...]]] = {f.name: (*(_go(b) for b in f.buckets), "+Inf") for f in _HISTOGRAMS}


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _extras(family: PerObjectFamily) -> list[str]:
    """The family's own label as written, one per value (``[""]`` when it has none)."""
    return [f'{family.label}="{_escape(v)}"' for v in family.values] if family.label else [""]


def _joined(namespace: str, name: str, extra: str) -> str:
    """The labels of a sample without ``le``, in generate_latest's order (sorted by name):
    namespace < result < scheduledjob < trigger."""
    if not extra:
        return f"{namespace},{name}"
    return f"{namespace},{extra},{name}" if extra < "scheduledjob" else f"{namespace},{name},{extra}"


class Series:
    """One ScheduledJob's series.

    ``counters``: every counter, always present once tracked. ``histograms``: per histogram family
    (in ``PER_OBJECT`` order), per value of its extra label (one when it has none), None until the
    first observation, else the counts per bucket (not cumulative, ``+Inf`` last) then the sum.
    ``gauges``: each gauge's value, None when it has no series.
    """

    __slots__ = ("counters", "gauges", "histograms")

    def __init__(self) -> None:
        self.counters: Final = array("d", bytes(8 * _COUNTER_SLOTS))
        self.histograms: Final[list[list[array[float] | None]]] = [[None] * max(1, len(f.values)) for f in _HISTOGRAMS]
        self.gauges: Final[list[float | None]] = [None] * len(_GAUGES)

    def observe(self, histogram: int, value: float, which: int = 0) -> None:
        """One observation in histogram ``histogram`` (its index among the histograms), label value ``which``."""
        bounds = _HISTOGRAMS[histogram].buckets
        counts = self.histograms[histogram][which]
        if counts is None:
            counts = self.histograms[histogram][which] = array("d", bytes(8 * (len(bounds) + 2)))
        # prometheus_client's Histogram: the first bucket whose upper bound is >= value.
        counts[bisect_left(bounds, value)] += 1.0
        counts[-1] += value


class ObjectSeries:
    """Every tracked ScheduledJob's :class:`Series`, keyed by (namespace, name), in the order first tracked."""

    def __init__(self) -> None:
        self._objects: Final[dict[tuple[str, str], Series]] = {}
        self._lock: Final = threading.Lock()

    def __len__(self) -> int:
        return len(self._objects)

    def get(self, key: tuple[str, str]) -> Series | None:
        return self._objects.get(key)

    def add(self, key: tuple[str, str]) -> Series:
        series = Series()
        with self._lock:
            self._objects[key] = series
        return series

    def forget(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._objects.pop(key, None)

    def keys(self) -> frozenset[tuple[str, str]]:
        with self._lock:
            return frozenset(self._objects)

    def _snapshot(self) -> list[tuple[tuple[str, str], Series]]:
        with self._lock:
            return list(self._objects.items())

    # -- as prometheus_client families (registries, get_sample_value, tests) -------------------------

    def describe(self) -> Iterator[Metric]:
        """The families without samples (what a registry needs to check the names)."""
        return self._families([])

    def collect(self) -> Iterator[Metric]:
        return self._families(self._snapshot())

    def _families(self, objects: list[tuple[tuple[str, str], Series]]) -> Iterator[Metric]:
        for family in PER_OBJECT:
            labels = ["namespace", "scheduledjob", *([family.label] if family.label else [])]
            extra = family.values or ("",)
            if family.kind == "counter":
                counter = CounterMetricFamily(family.name, family.doc, labels=labels)
                at = COUNTER_AT[family.name]
                for (ns, name), s in objects:
                    for i, value in enumerate(extra):
                        counter.add_metric([ns, name, *([value] if value else [])], s.counters[at + i])
                yield counter
            elif family.kind == "gauge":
                gauge = GaugeMetricFamily(family.name, family.doc, labels=labels)
                at = GAUGE_AT[family.name]
                for (ns, name), s in objects:
                    if (v := s.gauges[at]) is not None:
                        gauge.add_metric([ns, name], v)
                yield gauge
            else:
                histogram = HistogramMetricFamily(family.name, family.doc, labels=labels)
                at, les = HISTOGRAM_AT[family.name], _LES[family.name]
                for (ns, name), s in objects:
                    for i, value in enumerate(extra):
                        counts = s.histograms[at][i]
                        if counts is None:
                            continue
                        total, buckets = 0.0, []
                        for le, n in zip(les, counts, strict=False):
                            total += n
                            buckets.append((le, total))
                        histogram.add_metric([ns, name, *([value] if value else [])], buckets, counts[-1])
                yield histogram

    # -- the text format, directly ----------------------------------------------------------------

    def render(self) -> str:
        """``generate_latest`` of :meth:`collect`, written straight from the records."""
        objects = self._snapshot()
        # generate_latest sorts a sample's labels by name: le < namespace < result < scheduledjob < trigger.
        names = [(f'namespace="{_escape(ns)}"', f'scheduledjob="{_escape(name)}"') for (ns, name), _ in objects]
        out: list[str] = []
        for family in PER_OBJECT:
            exposed = family.name + "_total" if family.kind == "counter" else family.name
            out.append(f"# HELP {exposed} {_escape_help(family.doc)}\n# TYPE {exposed} {family.kind}\n")
            if family.kind == "counter":
                at, extras = COUNTER_AT[family.name], _extras(family)
                for (nsl, namel), (_, s) in zip(names, objects, strict=True):
                    for i, extra in enumerate(extras):
                        out.append(f"{exposed}{{{_joined(nsl, namel, extra)}}} {_go(s.counters[at + i])}\n")
            elif family.kind == "gauge":
                at = GAUGE_AT[family.name]
                for (nsl, namel), (_, s) in zip(names, objects, strict=True):
                    if (v := s.gauges[at]) is not None:
                        out.append(f"{exposed}{{{nsl},{namel}}} {_go(v)}\n")
            else:
                self._render_histogram(family, names, objects, out)
        return "".join(out)

    @staticmethod
    def _render_histogram(
        family: PerObjectFamily,
        names: list[tuple[str, str]],
        objects: list[tuple[tuple[str, str], Series]],
        out: list[str],
    ) -> None:
        bucket, count, sum_ = f"{family.name}_bucket", f"{family.name}_count", f"{family.name}_sum"
        at, les = HISTOGRAM_AT[family.name], _LES[family.name]
        extras = _extras(family)
        for (nsl, namel), (_, s) in zip(names, objects, strict=True):
            for extra, counts in zip(extras, s.histograms[at], strict=True):
                if counts is None:
                    continue
                plain = _joined(nsl, namel, extra)
                total = 0.0
                for le, n in zip(les, counts, strict=False):
                    total += n
                    out.append(f'{bucket}{{le="{le}",{plain}}} {_go(total)}\n')
                out.append(f"{count}{{{plain}}} {_go(total)}\n{sum_}{{{plain}}} {_go(counts[-1])}\n")
