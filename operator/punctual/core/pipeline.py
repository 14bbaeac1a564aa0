"""Pipelines (``spec.dependsOn``): which upstream runs a downstream runs after, and when a slot waits. Pure.

The rules:

* An upstream run's *logical time* is its scheduled time (a manual run's: when it was requested).
  An upstream run *counts* when its result is the one required: ``Succeeded`` (the default), or any
  ended run (Succeeded, Failed, Replaced) for ``Finished``.
* A downstream without a schedule runs once per logical time for which **every** upstream has a run
  that counts, with that same scheduled time and trigger ``upstream``. A logical time is decided
  once every upstream has settled it: each upstream has decided up to it (a record at or after it,
  or its own cursor past it), and none has a run at or before it still running or queued. Decided
  times move ``upstreamThrough``; a time at or before it is never decided again (nor is one whose
  Job name is in history or exists: one run per downstream and logical time, across restarts and
  re-reads). When an upstream's run
  for a decided time ended without the required result, the downstream records the time Skipped
  (``UpstreamNotSucceeded``); a time some upstream never ran (upstreams on different schedules) is left.
* Only upstream runs after the downstream was created (and after ``upstreamThrough``) count, and
  only those still in the upstreams' ``status.history`` (``historyLimit``, default 20): runs
  trimmed from it while the operator was down are not seen downstream.
* A downstream with a schedule and ``dependsOn`` starts a slot once every upstream has a run that
  counts within ``dependsOnWindow`` (default: the slot's interval) before the slot. Until then the
  slot waits in ``status.queued`` (reason ``WaitingForUpstream``; ``startingDeadlineSeconds`` applies);
  once every upstream has settled the window without such a run, the slot is Skipped.
* Dependencies must name ScheduledJobs of the same namespace that exist and form no cycle;
  otherwise ``DependenciesValid`` is False (its reason says which) and nothing upstream-triggered
  runs; scheduled slots wait (and expire under their deadline).

What the core is given is :data:`Upstreams`: the ScheduledJobs of the downstream's namespace by
name, each as an :class:`UpstreamView` (its recorded runs and its own dependsOn, for cycles); a
name that is not in it does not exist. The runtime builds it from its ScheduledJob cache,
``punctual simulate`` from the simulated ScheduledJobs; :func:`view_of` reads one body.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from punctual.api import Dependency, DependencyResult, Result, ScheduledJobStatus, parse_time
from punctual.core.spec import SpecError, Subject
from punctual.durations import DurationError, parse_duration
from punctual.jobs import slot_job_name

__all__ = [
    "ENDED",
    "Gate",
    "Problem",
    "Settled",
    "UpstreamRun",
    "UpstreamView",
    "Upstreams",
    "dependency_problem",
    "depends_on_window",
    "gate",
    "upstream_job_name",
    "upstream_times",
    "view_of",
    "view_of_status",
]

ENDED = frozenset({Result.SUCCEEDED, Result.FAILED, Result.REPLACED})
"""The results of a run that ended: what ``result: Finished`` accepts."""


@dataclass(frozen=True)
class UpstreamRun:
    """One record of an upstream's history: its logical time and result."""

    logical_time: datetime
    result: Result


@dataclass(frozen=True)
class UpstreamView:
    """What a downstream needs to know about one ScheduledJob of its namespace."""

    runs: tuple[UpstreamRun, ...] = ()
    pending: tuple[datetime, ...] = ()
    """Logical times waiting in its ``status.queued`` (not yet run)."""
    through: datetime | None = None
    """Its decision cursor (``scheduledThrough``, or ``upstreamThrough`` for a downstream): a run it
    records later has a later logical time (or is in ``pending``)."""
    depends_on: tuple[str, ...] = ()
    """Its own upstreams' names (to find cycles)."""


Upstreams = Mapping[str, UpstreamView]
"""The ScheduledJobs of a namespace by name; a name missing from it does not exist."""


@dataclass(frozen=True)
class Problem:
    """Why the dependencies are not valid: the ``DependenciesValid`` condition's reason and message."""

    reason: str
    message: str


class Gate(StrEnum):
    """What a scheduled slot of a downstream with a schedule does about its upstreams."""

    OPEN = "open"
    WAIT = "wait"
    NEVER = "never"


def _names(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(str(d.get("name")) for d in raw if isinstance(d, Mapping) and d.get("name"))


def view_of(body: Mapping[str, Any]) -> UpstreamView:
    """A ScheduledJob body as an :class:`UpstreamView` (records it cannot read are left out)."""
    status = body.get("status") or {}
    runs = []
    for record in status.get("history") or []:
        try:
            runs.append(UpstreamRun(parse_time(str(record["scheduledTime"])), Result(record["result"])))
        except (KeyError, TypeError, ValueError):
            continue
    pending = []
    for queued in status.get("queued") or []:
        try:
            pending.append(parse_time(str(queued["scheduledTime"])))
        except (KeyError, TypeError, ValueError):
            continue
    cursors = []
    for field in ("scheduledThrough", "upstreamThrough"):
        try:
            cursors.append(parse_time(str(status[field])))
        except (KeyError, TypeError, ValueError):
            continue
    return UpstreamView(
        runs=tuple(runs),
        pending=tuple(pending),
        through=max(cursors, default=None),
        depends_on=_names((body.get("spec") or {}).get("dependsOn")),
    )


def view_of_status(status: ScheduledJobStatus, *, depends_on: tuple[str, ...] = ()) -> UpstreamView:
    """A parsed status as an :class:`UpstreamView` (what ``punctual simulate`` has of each ScheduledJob)."""
    cursors = [c for c in (status.scheduledThrough, status.upstreamThrough) if c is not None]
    return UpstreamView(
        runs=tuple(UpstreamRun(r.scheduledTime, r.result) for r in status.history),
        pending=tuple(q.scheduledTime for q in status.queued),
        through=max(cursors, default=None),
        depends_on=depends_on,
    )


def _counts(run: UpstreamRun, wanted: DependencyResult) -> bool:
    if wanted is DependencyResult.FINISHED:
        return run.result in ENDED
    return run.result is Result.SUCCEEDED


def _cycle(start: str, upstreams: Upstreams) -> list[str] | None:
    """A dependency path from ``start`` back to itself, if there is one (depth-first, iterative)."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        name, path = stack.pop()
        view = upstreams.get(name)
        for parent in view.depends_on if view is not None else ():
            if parent == start:
                return [*path, start]
            if parent not in seen:
                seen.add(parent)
                stack.append((parent, [*path, parent]))
    return None


def dependency_problem(subject: Subject, upstreams: Upstreams) -> Problem | None:
    """None when every dependency is a ScheduledJob of the namespace and there is no cycle."""
    deps = subject.spec.dependsOn or []
    for dep in deps:
        if "/" in dep.name or (dep.namespace is not None and dep.namespace != subject.namespace):
            where = dep.name if "/" in dep.name else f"{dep.namespace}/{dep.name}"
            return Problem(
                "CrossNamespace",
                f"dependsOn {where!r}: upstreams must be in this ScheduledJob's namespace ({subject.namespace})",
            )
    if any(dep.name == subject.name for dep in deps):
        return Problem("Cycle", f"dependsOn names this ScheduledJob itself ({subject.name})")
    missing = sorted({dep.name for dep in deps if dep.name not in upstreams})
    if missing:
        return Problem("UpstreamMissing", f"no ScheduledJob {', '.join(missing)} in namespace {subject.namespace}")
    # The downstream itself, as the graph would show it with this spec (the cache may hold an older one).
    graph = {**upstreams, subject.name: UpstreamView(depends_on=tuple(d.name for d in deps))}
    path = _cycle(subject.name, graph)
    if path is not None:
        return Problem("Cycle", f"dependsOn forms a cycle: {' -> '.join(reversed(path))}")
    return None


def upstream_job_name(name: str, logical_time: datetime) -> str:
    """The Job of a downstream run: derived from the logical time (epoch seconds), like a slot's."""
    return slot_job_name(name, logical_time, seconds=True)


def _settled(view: UpstreamView) -> tuple[datetime | None, datetime | None]:
    """(how far it has decided: its newest record or its cursor; its oldest time still running or queued)."""
    decided = max([r.logical_time for r in view.runs] + ([view.through] if view.through else []), default=None)
    open_ = [r.logical_time for r in view.runs if r.result is Result.RUNNING] + list(view.pending)
    return decided, min(open_, default=None)


def _unsettled(deps: Iterable[Dependency], upstreams: Upstreams, when: datetime) -> bool:
    """Whether some upstream may still record a run, or finish one, at or before ``when``."""
    for dep in deps:
        decided, open_ = _settled(upstreams[dep.name])
        if decided is None or decided < when or (open_ is not None and open_ <= when):
            return True
    return False


@dataclass(frozen=True)
class Settled:
    """A logical time every upstream has settled: whether the downstream runs for it, and if not, why."""

    logical_time: datetime
    runs: bool
    reason: str | None = None
    """Set when some upstream's run for it ended without the required result (recorded Skipped);
    None for a time some upstream has no run for (nothing is recorded)."""


def upstream_times(subject: Subject, upstreams: Upstreams, *, after: datetime) -> list[Settled]:
    """The logical times after ``after`` that every upstream has settled, oldest first."""
    deps = subject.spec.dependsOn or []
    if not deps:
        return []
    by_time: dict[str, dict[datetime, list[UpstreamRun]]] = {}
    candidates: set[datetime] = set()
    for dep in deps:
        times = by_time.setdefault(dep.name, {})
        for run in upstreams[dep.name].runs:
            times.setdefault(run.logical_time, []).append(run)
            if run.logical_time > after:
                candidates.add(run.logical_time)
    out: list[Settled] = []
    for when in sorted(candidates):
        if _unsettled(deps, upstreams, when):
            break  # later times are not settled either: each upstream's newest and open times bound them
        failed = []
        complete = True
        for dep in deps:
            at = by_time[dep.name].get(when)
            if not at:
                complete = False
            elif not any(_counts(r, dep.result) for r in at):
                failed.append(f"{dep.name} {at[0].result.value}")
        if failed:
            needed = "Succeeded" if any(d.result is DependencyResult.SUCCEEDED for d in deps) else "Finished"
            out.append(Settled(when, runs=False, reason=f"upstream {', '.join(failed)} (needs {needed})"))
        else:
            out.append(Settled(when, runs=complete))
    return out


def depends_on_window(subject: Subject, interval: timedelta | None) -> timedelta | None:
    """``dependsOnWindow`` (or the slot's interval); None when neither gives one (no lower bound)."""
    text = subject.spec.dependsOnWindow
    if text is None:
        return interval
    try:
        return parse_duration(text)
    except DurationError as exc:
        raise SpecError(f"spec.dependsOnWindow: {exc}") from exc
    except (OverflowError, ValueError) as exc:
        raise SpecError(f"spec.dependsOnWindow {text!r} is not a usable duration; use e.g. 1h") from exc


def gate(subject: Subject, upstreams: Upstreams, *, slot: datetime, window: timedelta | None) -> Gate:
    """Whether a scheduled slot may start: every upstream has a run that counts in ``[slot - window, slot]``."""
    deps = subject.spec.dependsOn or []
    if dependency_problem(subject, upstreams) is not None:
        return Gate.WAIT
    lowest = slot - window if window is not None else None
    verdict = Gate.OPEN
    for dep in deps:
        view = upstreams[dep.name]
        if any(
            _counts(r, dep.result) and r.logical_time <= slot and (lowest is None or r.logical_time >= lowest)
            for r in view.runs
        ):
            continue
        if _unsettled((dep,), upstreams, slot):
            verdict = Gate.WAIT
        else:
            return Gate.NEVER
    return verdict
