"""The Prometheus text format (0.0.4) of the per-ScheduledJob families, written straight from their series.

Role: what ``prometheus_client.generate_latest`` writes for a Counter, Gauge or Histogram with
labels (minus the ``*_created`` samples, which Punctual does not expose), byte for byte, without
building a ``Sample`` per line on the way. At 10,000 ScheduledJobs the per-object families are
550,000 lines: generate_latest took 7-14 s of CPU for them on a 2-core machine, longer than
Prometheus's default 10 s scrape timeout (docs/benchmarks.md, "Metrics exposition"). This writes
them in a fraction of that. A test renders the same families both ways and compares the bytes.

It reads prometheus_client's series where ``collect()`` reads them (``_metrics`` under the
metric's ``_lock``; each value's ``_value``, which ``get()`` returns, without taking its lock: one
attribute read is atomic): those are the client's
internals, pinned by that test against the installed version. Safe to call from a thread while
the event loop updates the series (each family's series are copied under its lock first).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.utils import floatToGoString

__all__ = ["render"]

_Labels = dict[tuple[tuple[str, ...], tuple[str, ...]], tuple[str, str, str]]
"""(label names, values) -> the label text before ``le``, after it, and without it."""


def _go(value: float) -> str:
    """``floatToGoString``: ``repr`` below a million (what it returns there), the client's own above."""
    if -_INF < value < 1e6:
        return repr(value)
    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text


_INF = float("inf")


def _escape_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def render(families: Iterable[Counter | Gauge | Histogram]) -> str:
    """The text of ``families`` (labelled metrics), as generate_latest writes it without ``_created``."""
    out: list[str] = []
    labels: _Labels = {}  # the families share their series' labels
    for family in families:
        _render_family(family, out, labels)
    return "".join(out)


def _label_text(labelnames: tuple[str, ...], values: tuple[str, ...], known: _Labels) -> tuple[str, str, str]:
    found = known.get((labelnames, values))
    if found is None:
        # generate_latest sorts a sample's labels by name: a histogram's "le" goes among them.
        pairs = sorted(zip(labelnames, values, strict=True))
        before = [f'{n}="{_escape_value(v)}"' for n, v in pairs if n < "le"]
        after = [f'{n}="{_escape_value(v)}"' for n, v in pairs if n > "le"]
        found = known[(labelnames, values)] = (
            ",".join(before) + ("," if before else ""),
            ("," if after else "") + ",".join(after),
            ",".join([*before, *after]),
        )
    return found


def _render_family(family: Counter | Gauge | Histogram, out: list[str], known: _Labels) -> None:
    metric: Any = family  # the client's internals are untyped
    name: str = metric._name
    kind: str = metric._type
    exposed = name + "_total" if kind == "counter" else name
    out.append(f"# HELP {exposed} {_escape_help(metric._documentation)}\n# TYPE {exposed} {kind}\n")
    labelnames: tuple[str, ...] = metric._labelnames
    with metric._lock:
        series = list(metric._metrics.items())
    if kind == "histogram":
        _render_histogram(name, labelnames, series, out, known)
        return
    for values, child in series:
        plain = _label_text(labelnames, values, known)[2]
        out.append(f"{exposed}{{{plain}}} {_go(child._value._value)}\n")


def _render_histogram(
    name: str, labelnames: tuple[str, ...], series: list[tuple[Any, Any]], out: list[str], known: _Labels
) -> None:
    bucket_name, count_name, sum_name = f"{name}_bucket", f"{name}_count", f"{name}_sum"
    les: list[str] = []  # the bounds as written: one family's series share them
    for values, child in series:
        head, tail, plain = _label_text(labelnames, values, known)
        bounds: list[float] = child._upper_bounds
        if len(les) != len(bounds):
            les = [_go(bound) for bound in bounds]
        total = 0.0
        for le, bucket in zip(les, child._buckets, strict=True):
            total += bucket._value
            out.append(f'{bucket_name}{{{head}le="{le}"{tail}}} {_go(total)}\n')
        out.append(f"{count_name}{{{plain}}} {_go(total)}\n")
        if bounds[0] >= 0:
            out.append(f"{sum_name}{{{plain}}} {_go(child._sum._value)}\n")
