"""``punctual simulate``: replay a ScheduledJob on a virtual clock through the real core. Pure.

The simulation owns a virtual world (:class:`punctual.world.World`: Jobs that take given durations
and fail when told to), an operator that is up or down in given windows, and on-demand run requests
at given times. At every
moment the real operator would act (a wake-up, a Job finishing, the operator coming back, a run
request) it calls :func:`punctual.core.decide`, the same function the operator calls, and applies
the decision to the world. A backfill request (``--backfill FROM..TO``) is the same annotation
the plugin writes, decided by the same core. Nothing here reads a clock.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from punctual.api import BackfillStatus, HistoryRecord, Result, ScheduledJobStatus, format_time
from punctual.bodies import ScheduledJobBody
from punctual.core import (
    BackfillRequest,
    CreateJob,
    Decision,
    Subject,
    build_schedule,
    decide,
    encode_request,
    subject_from_body,
)
from punctual.core.exclusions import Calendars
from punctual.core.pipeline import Upstreams, UpstreamView, view_of_status
from punctual.core.run_request import RunOverrides
from punctual.world import SimJob, World

__all__ = [
    "MAX_STEPS",
    "Pipeline",
    "Row",
    "Simulation",
    "format_backfill",
    "format_json",
    "format_table",
    "parse_when",
]

MAX_STEPS = 1_000_000  # a guard against a bug turning the replay into an endless loop


def parse_when(text: str, *, zone: Any = UTC) -> datetime:
    """An RFC 3339 time, or a local ``YYYY-MM-DD[ T]HH:MM[:SS]`` in the given zone."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


@dataclass(frozen=True)
class Row:
    """One line of the run table."""

    number: int
    job: str
    slot: datetime
    trigger: str
    started: datetime | None
    finished: datetime | None
    result: str
    reason: str
    slot_count: int = 1
    scheduledjob: str | None = None
    """Set in a pipeline's table (several ScheduledJobs in one table)."""
    attempt: int | None = None
    """A retry's attempt of its slot (spec.retry): TRIGGER reads ``retry 2``."""
    overrides: dict[str, Any] | None = None
    """What a manual run ran with (``--run-env``/``--run-arg``/``--run-image``), as its history record says."""

    def as_json(self) -> dict[str, Any]:
        named = {"scheduledJob": self.scheduledjob} if self.scheduledjob is not None else {}
        return {
            "#": self.number,
            **named,
            "job": self.job,
            "slot": format_time(self.slot),
            "trigger": self.trigger,
            "started": format_time(self.started) if self.started else None,
            "finished": format_time(self.finished) if self.finished else None,
            "result": self.result,
            "reason": self.reason,
            "slotCount": self.slot_count,
            **({"attempt": self.attempt} if self.attempt is not None else {}),
            **({"overrides": self.overrides} if self.overrides is not None else {}),
        }


@dataclass
class Simulation:
    """One ScheduledJob replayed from ``start`` to ``until``."""

    document: Mapping[str, Any]
    start: datetime
    until: datetime
    durations: Sequence[timedelta] = (timedelta(minutes=1),)
    failures: frozenset[int] = frozenset()
    down: Sequence[tuple[datetime, datetime]] = ()
    run_now: Sequence[datetime] = ()
    run_overrides: RunOverrides | None = None
    """The overrides of every run request (``kubectl sj run --env/--arg/--image``; its token is replaced
    by each request's)."""
    backfill: tuple[datetime, datetime] | None = None
    """A backfill of this range, requested at ``backfill_at`` (default: the start)."""
    backfill_at: datetime | None = None
    backfill_parallel: int = 1
    default_time_zone: str = "UTC"
    calendars: Calendars | None = None
    """The Calendars given beside it (name -> rules), as the operator's Calendar watch holds them."""
    decisions: list[tuple[datetime, Decision]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.world = World(outcome=self._outcome)
        meta = self.document.get("metadata") or {}
        # The simulated object is created at `start` (whatever creationTimestamp the document has),
        # under the document's namespace and name.
        simulated: ScheduledJobBody = {
            "metadata": {
                "namespace": meta.get("namespace") or "default",
                "name": meta.get("name") or "simulated",
                "uid": "simulated",
                "generation": 1,
            },
            "spec": self.document.get("spec") or {},
        }
        self.subject = subject_from_body(simulated, now=self.start)
        if self.subject.spec.expressions():
            build_schedule(self.subject, default_time_zone=self.default_time_zone)  # fail early on bad input
        # The object exists from `start`; a slot exactly at `start` is due then (and an upstream's
        # run for it counts downstream).
        just_before = self.start - timedelta(microseconds=1)
        self.status = ScheduledJobStatus(scheduledThrough=just_before, upstreamThrough=just_before)
        if not self.durations:
            self.durations = (timedelta(minutes=1),)
        self._requests = sorted(self.run_now)
        self._token: str | None = None
        self._wake: datetime | None = self.start
        self._backfill_at = self.backfill_at or self.start
        self._backfill_request = None
        if self.backfill is not None:
            request = BackfillRequest(
                token=f"simulated-backfill-{format_time(self._backfill_at)}",
                start=self.backfill[0],
                end=self.backfill[1],
                parallel=self.backfill_parallel,
            )
            self._backfill_request = encode_request(request)

    def _outcome(self, create: CreateJob, run: int) -> tuple[timedelta, bool]:
        return self.durations[(run - 1) % len(self.durations)], run in self.failures

    @property
    def jobs(self) -> dict[str, SimJob]:
        """The simulated Jobs that exist."""
        return self.world.jobs

    @property
    def records(self) -> dict[str, HistoryRecord]:
        """Every history record a decision wrote, by Job name."""
        return self.world.records

    @property
    def status(self) -> ScheduledJobStatus:
        """The status the last decision wrote."""
        return self.world.status

    @status.setter
    def status(self, status: ScheduledJobStatus) -> None:
        self.world.status = status

    def _up(self, t: datetime) -> bool:
        return not any(a <= t < b for a, b in self.down)

    def _next_up(self, t: datetime) -> datetime:
        for a, b in sorted(self.down):
            if a <= t < b:
                t = b
        return t

    def _apply(self, t: datetime, decision: Decision) -> None:
        self.world.apply(decision, t)

    def run(self) -> list[Row]:
        """Replay and return the run table, oldest slot first."""
        t = self.start
        steps = 0
        while t <= self.until:
            steps += 1
            if steps > MAX_STEPS:
                raise RuntimeError("simulation did not converge")
            self.step(t)
            nxt = self.next_time(t)
            if nxt is None:
                break
            t = nxt
        return self.rows()

    def step(self, t: datetime, upstreams: Upstreams | None = None) -> Decision | None:
        """Decide at ``t`` (when the operator is up) and apply the decision to the simulated world."""
        while self._requests and self._requests[0] <= t:
            self._token = f"simulated-{format_time(self._requests.pop(0))}"
        if not self._up(t):
            return None
        backfill = self._backfill_request if t >= self._backfill_at else None
        overrides = None
        if self.run_overrides is not None and self._token is not None:
            overrides = RunOverrides(**{**self.run_overrides.__dict__, "token": self._token})
        subject = Subject(
            **{
                **self.subject.__dict__,
                "run_request": self._token,
                "run_overrides": overrides,
                "backfill_request": backfill,
            }
        )
        observed = [j.observe(t) for j in self.jobs.values()]
        decision = decide(
            subject,
            status=self.status,
            jobs=observed,
            now=t,
            default_time_zone=self.default_time_zone,
            upstreams=upstreams,
            calendars=self.calendars,
        )
        self.decisions.append((t, decision))
        self._apply(t, decision)
        self._wake = decision.wake_at
        return decision

    def next_time(self, t: datetime) -> datetime | None:
        """The next moment the operator would act: a wake-up, a Job finishing, a request, a restart."""
        candidates = [j.finish_at for j in self.jobs.values() if j.finish_at > t]
        candidates += [r for r in self._requests if r > t]
        if self._backfill_request is not None and self._backfill_at > t:
            candidates.append(self._backfill_at)
        if self._wake is not None and self._wake > t:
            candidates.append(self._wake)
        candidates += [b for a, b in self.down if b > t]
        if not candidates:
            return None
        nxt = min(candidates)
        return self._next_up(nxt) if not self._up(nxt) else nxt

    def rows(self) -> list[Row]:
        records = sorted(self.records.values(), key=lambda r: (r.scheduledTime, r.startTime or r.scheduledTime, r.job))
        out = []
        for i, r in enumerate(records, start=1):
            job = self.jobs.get(r.job)
            finished = r.completionTime
            result = r.result.value
            if r.result is Result.RUNNING and job is not None and job.finish_at > self.until:
                result = "Running"
            out.append(
                Row(
                    number=i,
                    job=r.job,
                    slot=r.scheduledTime,
                    trigger=r.trigger.value,
                    started=r.startTime,
                    finished=finished,
                    result=result,
                    reason=r.reason or "",
                    slot_count=r.slotCount or 1,
                    attempt=r.attempt,
                    overrides=r.overrides.model_dump(mode="json", exclude_none=True) if r.overrides else None,
                )
            )
        return out


@dataclass
class Pipeline:
    """Several ScheduledJobs (a pipeline, ``spec.dependsOn``) replayed together on one virtual clock.

    At every moment one of them would act, each is decided (upstreams first) with the others'
    statuses as its ``upstreams``, the way the operator hands a downstream its upstreams' cached
    status; the ones whose upstreams changed are decided again at the same moment, until nothing
    changes. The run table holds every ScheduledJob's runs, oldest logical time first.
    """

    members: Sequence[Simulation]

    def __post_init__(self) -> None:
        names = [m.subject.name for m in self.members]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"ScheduledJob {', '.join(duplicates)} given more than once")
        self._order = _upstreams_first(self.members)

    def views(self) -> dict[str, UpstreamView]:
        return {
            m.subject.name: view_of_status(m.status, depends_on=tuple(d.name for d in m.subject.spec.dependsOn or []))
            for m in self.members
        }

    def run(self) -> list[Row]:
        """Replay every member and return one run table."""
        t = min(m.start for m in self.members)
        until = max(m.until for m in self.members)
        steps = 0
        while t <= until:
            for _ in range(len(self._order) + 1):
                steps += 1
                if steps > MAX_STEPS:
                    raise RuntimeError("simulation did not converge")
                before = self.views()
                for member in self._order:
                    if member.start <= t <= member.until:
                        member.step(t, upstreams=self.views())
                if self.views() == before:
                    break
            upcoming = [n for m in self._order if (n := m.next_time(t)) is not None]
            if not upcoming:
                break
            t = min(upcoming)
        rows = [Row(**{**r.__dict__, "scheduledjob": m.subject.name}) for m in self.members for r in m.rows()]
        rows.sort(key=lambda r: (r.slot, r.started or r.slot, self._order.index(self._by_name(r.scheduledjob)), r.job))
        return [Row(**{**r.__dict__, "number": i}) for i, r in enumerate(rows, start=1)]

    def _by_name(self, name: str | None) -> Simulation:
        return next(m for m in self.members if m.subject.name == name)


def _upstreams_first(members: Sequence[Simulation]) -> list[Simulation]:
    """Members ordered so that each comes after its upstreams (a cycle keeps the given order)."""
    by_name = {m.subject.name: m for m in members}
    out: list[Simulation] = []
    visiting: set[str] = set()

    def visit(member: Simulation) -> None:
        name = member.subject.name
        if any(m is member for m in out) or name in visiting:
            return
        visiting.add(name)
        for dep in member.subject.spec.dependsOn or []:
            if dep.name in by_name:
                visit(by_name[dep.name])
        out.append(member)

    for member in members:
        visit(member)
    return out


def _local(value: datetime | None, zone: Any) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def format_table(rows: Sequence[Row], *, zone: Any = UTC) -> str:
    """The run table as aligned text, times in the schedule's zone (a pipeline's with a NAME column)."""
    named = any(r.scheduledjob is not None for r in rows)
    header = ("#", *(("NAME",) if named else ()), "SLOT", "TRIGGER", "STARTED", "FINISHED", "RESULT", "REASON")
    lines = [header]
    for r in rows:
        reason = r.reason + (f" ({r.slot_count} slots)" if r.slot_count > 1 else "")
        lines.append(
            (
                str(r.number),
                *((r.scheduledjob or "",) if named else ()),
                _local(r.slot, zone),
                r.trigger + (f" {r.attempt}" if r.attempt is not None else ""),
                _local(r.started, zone),
                _local(r.finished, zone),
                r.result,
                reason,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines)


def format_json(rows: Sequence[Row]) -> str:
    return json.dumps([r.as_json() for r in rows], indent=2)


def format_backfill(entry: BackfillStatus) -> str:
    """One backfill's outcome, as a line under the run table."""
    text = (
        f"{entry.token}: {entry.state.value}, {entry.done} run ({entry.failed} failed), {entry.running} running, "
        f"{entry.pending} pending, {entry.skippedExisting} skipped (existing) of {entry.total}"
    )
    return f"{text}; {entry.message}" if entry.message else text
