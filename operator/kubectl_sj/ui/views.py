"""What the UI's pages show, computed from ScheduledJobs. Pure: no I/O, no clock (``now`` is passed).

The server reads the API and renders templates; everything between (the fleet's rows, a timeline's
lanes, a ScheduledJob's history rows and backfills, the outcome of a run or backfill request, the
backfill form's values, which error page a failure is)
is here, so it is tested without a server or a browser (``tests/ui/test_ui_views.py``). Upcoming
runs come from :func:`kubectl_sj.slots.next_slots`, the code ``kubectl sj next`` prints, which
builds the schedule as the operator does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kubectl_sj.errors import CRD_MISSING, InputError, PluginError
from kubectl_sj.format import backfill_progress, format_local, human_duration, last_run, relative
from kubectl_sj.objects import ScheduledJob
from kubectl_sj.slots import SlotError, next_slots, parse_time_flag
from kubectl_sj.status import HistoryRecord
from punctual.core import parse_cancel
from punctual.jobs import ANNOTATION_BACKFILL_CANCEL, manual_job_name

__all__ = [
    "FAILED_RESULTS",
    "NOT_RUN_RESULTS",
    "SPARK_RUNS",
    "BackfillForm",
    "BackfillOutcome",
    "BackfillRow",
    "DurationBar",
    "ErrorPage",
    "FleetRow",
    "HistoryRow",
    "Lane",
    "RunOutcome",
    "Timeline",
    "TimelineBar",
    "backfill_form",
    "backfill_outcome",
    "backfill_rows",
    "describe_spec",
    "duration_bars",
    "error_page",
    "fleet_rows",
    "history_rows",
    "matches_search",
    "run_outcome",
    "state_of",
    "timeline",
    "upcoming",
]

SPARK_RUNS = 20
"""How many of the newest recorded runs the fleet's sparkline and success rate cover."""

FAILED_RESULTS = frozenset({"Failed", "Missed", "Dropped"})
NOT_RUN_RESULTS = frozenset({"Skipped", "Dropped", "Missed", "Replaced"})
_FINISHED = frozenset({"Succeeded", "Failed"})


def state_of(sj: ScheduledJob) -> str:
    """``suspended``, ``invalid``, ``paused``, ``ended``, ``active``, ``queued`` or ``idle`` (the first
    that holds)."""
    conditions = {c.type: c for c in sj.status.conditions}
    if sj.suspended:
        return "suspended"
    valid = conditions.get("ScheduleValid")
    if sj.spec_error is not None or (valid is not None and valid.status == "False"):
        return "invalid"
    paused = conditions.get("Paused")
    if paused is not None and paused.status == "True":
        return "paused"
    ready = conditions.get("Ready")
    if ready is not None and ready.reason == "Ended" and not sj.status.active:
        return "ended"  # past spec.notAfter: no more slots (manual runs still work)
    if sj.status.active:
        return "active"
    if sj.status.queued:
        return "queued"
    return "idle"


@dataclass(frozen=True)
class FleetRow:
    """One ScheduledJob in the fleet table."""

    namespace: str
    name: str
    schedule: str
    zone: str
    state: str
    active: int
    queued: int
    last_result: str | None
    last_time: str
    last_at: str
    next_time: str
    next_at: str
    success_rate: str
    spark: tuple[str, ...]
    """The newest ``SPARK_RUNS`` results, oldest first (the sparkline's bars)."""


def _success_rate(results: Sequence[str]) -> str:
    """Succeeded among the runs that ended and the slots lost (Missed, Dropped); a run still going,
    and a slot the concurrency policy skipped or replaced on purpose, count neither way."""
    finished = [r for r in results if r == "Succeeded" or r in FAILED_RESULTS]
    if not finished:
        return "-"
    ok = sum(1 for r in finished if r == "Succeeded")
    return f"{round(100 * ok / len(finished))}%"


def _next_run(sj: ScheduledJob, now: datetime) -> datetime | None:
    if sj.suspended:
        return None
    if sj.status.nextScheduleTime is not None:
        return sj.status.nextScheduleTime
    try:
        slots = next_slots(sj, after=now, count=1)
    except SlotError:
        return None
    return slots[0].slot if slots else None


def fleet_rows(items: Sequence[ScheduledJob], *, now: datetime) -> list[FleetRow]:
    """The fleet table: one row per ScheduledJob, in the given order."""
    rows = []
    for sj in items:
        # status.history is newest first; the sparkline reads left to right, oldest first.
        results = [r.result for r in sj.status.history[:SPARK_RUNS]][::-1]
        last = last_run(sj)
        nxt = _next_run(sj, now)
        rows.append(
            FleetRow(
                namespace=sj.namespace,
                name=sj.name,
                schedule=sj.schedule_text,
                zone=sj.time_zone,
                state=state_of(sj),
                active=len(sj.status.active),
                queued=len(sj.status.queued),
                last_result=sj.status.lastResult,
                last_time=relative(last, now=now) if last else "never",
                last_at=format_local(last, sj.time_zone) if last else "",
                next_time="suspended" if sj.suspended else (relative(nxt, now=now) if nxt else "none"),
                next_at=format_local(nxt, sj.time_zone) if nxt else "",
                success_rate=_success_rate(results),
                spark=tuple(results),
            )
        )
    return rows


def matches_search(sj: ScheduledJob, text: str) -> bool:
    """The fleet's search box: every word appears in the namespace, name, schedule or image."""
    template = (sj.raw_spec.get("jobTemplate") or {}).get("spec") or {}
    containers = ((template.get("template") or {}).get("spec") or {}).get("containers") or []
    images = " ".join(str(c.get("image") or "") for c in containers if isinstance(c, dict))
    haystack = f"{sj.namespace}/{sj.name} {sj.schedule_text} {images}".lower()
    return all(word in haystack for word in text.lower().split())


# -- the timeline ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineBar:
    """A recorded run: from ``x`` to ``x + width`` (fractions of the window), coloured by result."""

    x: float
    width: float
    result: str
    label: str
    job: str


@dataclass(frozen=True)
class Lane:
    """One ScheduledJob's row: its recent runs as bars and its upcoming starts as marks."""

    namespace: str
    name: str
    bars: tuple[TimelineBar, ...]
    marks: tuple[float, ...]
    """Upcoming starts (slot plus jitter) as fractions of the window."""
    next_labels: tuple[str, ...]
    """The first few upcoming starts, as text (in the job's zone)."""
    more: bool
    """Whether there are more upcoming starts in the window than the mark limit (not drawn)."""
    error: str | None = None


@dataclass(frozen=True)
class Timeline:
    start: datetime
    end: datetime
    now_x: float
    lanes: tuple[Lane, ...]
    ticks: tuple[tuple[float, str], ...]
    """(x, label) for the axis, in UTC."""
    density: tuple[int, ...]
    """How many of the lanes start a run in each bucket of the time ahead: the clusters of jobs
    firing at once that ``H`` would spread (a job every 10 s counts once per bucket, not 6 times a
    minute, so it does not drown the others)."""
    busiest: tuple[str, int] | None = None
    """The bucket the most jobs start in (its start time as text) and how many, if any."""
    buckets: int = field(default=60)


_MARK_LIMIT = 2500
_TICK_STEPS = (
    timedelta(minutes=5),
    timedelta(minutes=10),
    timedelta(minutes=15),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=2),
    timedelta(hours=3),
    timedelta(hours=6),
)


def upcoming(
    sj: ScheduledJob,
    *,
    after: datetime,
    until: datetime,
    limit: int,
    calendars: Mapping[str, Sequence[str] | None] | None = None,
) -> tuple[list[datetime], bool]:
    """The starts (slot plus jitter) of the slots in (after, until], at most ``limit``, and whether
    there are more: the same code as ``kubectl sj next`` (``calendars``: the namespace's, by name)."""
    slots = next_slots(sj, after=after, count=limit + 1, calendars=calendars)
    starts = [s.start for s in slots if s.slot <= until]
    return starts[:limit], len(starts) > limit


def _ticks(start: datetime, end: datetime) -> tuple[tuple[float, str], ...]:
    span = end - start
    step = next((s for s in _TICK_STEPS if span / s <= 12), timedelta(hours=12))
    seconds = int(step.total_seconds())
    first = datetime.fromtimestamp((int(start.timestamp()) // seconds + 1) * seconds, start.tzinfo)
    out = []
    tick = first
    while tick < end:
        out.append(((tick - start) / span, tick.strftime("%H:%M")))
        tick += step
    return tuple(out)


def timeline(
    items: Sequence[ScheduledJob],
    *,
    now: datetime,
    ahead: timedelta,
    behind: timedelta,
    buckets: int = 60,
    calendars: Mapping[str, Mapping[str, Sequence[str] | None]] | None = None,
) -> Timeline:
    """Lanes over [now - behind, now + ahead]: the recorded runs and the upcoming starts of each job."""
    start, end = now - behind, now + ahead
    span = end - start

    def x_of(when: datetime) -> float:
        return min(1.0, max(0.0, (when - start) / span))

    density = [0] * buckets
    lanes = []
    for sj in items:
        bars = []
        for record in sj.status.history:
            begin = record.startTime or record.scheduledTime
            finish = record.completionTime or (now if record.result == "Running" else begin)
            if finish < start or begin > end:
                continue
            x0, x1 = x_of(begin), x_of(finish)
            took = _took(record, now=now)
            bars.append(
                TimelineBar(
                    x=x0,
                    width=max(x1 - x0, 0.0),
                    result=record.result,
                    label=f"{sj.name} {record.result} at {format_local(begin, sj.time_zone)}"
                    + (f" ({took})" if took else ""),
                    job=record.job,
                )
            )
        marks: list[float] = []
        labels: list[str] = []
        more = False
        error = None
        if sj.suspended:
            error = "suspended"
        else:
            try:
                cals = (calendars or {}).get(sj.namespace)
                starts, more = upcoming(sj, after=now, until=end, limit=_MARK_LIMIT, calendars=cals)
            except SlotError as exc:
                starts, error = [], str(exc)
            hit: set[int] = set()
            for when in starts:
                marks.append(x_of(when))
                hit.add(min(buckets - 1, int((when - now) / (end - now) * buckets)) if end > now else 0)
            for bucket in hit:
                density[bucket] += 1
            labels = [format_local(when, sj.time_zone) for when in starts[:3]]
        lanes.append(
            Lane(
                namespace=sj.namespace,
                name=sj.name,
                bars=tuple(sorted(bars, key=lambda b: b.x)),
                marks=tuple(marks),
                next_labels=tuple(labels),
                more=more,
                error=error,
            )
        )
    busiest = None
    if any(density):
        peak = max(range(buckets), key=lambda i: density[i])
        busiest = (format_local(now + (end - now) * peak / buckets, "UTC"), density[peak])
    return Timeline(
        start=start,
        end=end,
        now_x=x_of(now),
        lanes=tuple(lanes),
        ticks=_ticks(start, end),
        density=tuple(density),
        busiest=busiest,
        buckets=buckets,
    )


# -- a ScheduledJob's history ----------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryRow:
    job: str
    slot: str
    trigger: str
    start: str
    duration: str
    duration_seconds: float | None
    result: str
    exit_code: str
    image: str
    digest: str
    reason: str


def _took(record: HistoryRecord, *, now: datetime) -> str:
    seconds = _seconds(record, now=now)
    return "" if seconds is None else human_duration(timedelta(seconds=seconds))


def _seconds(record: HistoryRecord, *, now: datetime) -> float | None:
    if record.durationSeconds is not None:
        return record.durationSeconds
    if record.startTime is not None and record.completionTime is not None:
        return (record.completionTime - record.startTime).total_seconds()
    if record.startTime is not None and record.result == "Running":
        return (now - record.startTime).total_seconds()
    return None


def _digest(image_id: str | None) -> str:
    if not image_id:
        return ""
    return image_id.rsplit("@", 1)[-1] if "@" in image_id else image_id


def history_rows(sj: ScheduledJob, *, now: datetime) -> list[HistoryRow]:
    """The history table, newest first, as ``status.history`` records it."""
    zone = sj.time_zone
    rows = []
    for r in sj.status.history:
        reason = ": ".join(part for part in (r.reason, r.message) if part)
        rows.append(
            HistoryRow(
                job=r.job,
                slot=format_local(r.scheduledTime, zone),
                trigger=r.trigger,
                start=format_local(r.startTime, zone) if r.startTime else "",
                duration=_took(r, now=now),
                duration_seconds=_seconds(r, now=now),
                result=r.result,
                exit_code="" if r.exitCode is None else str(r.exitCode),
                image=r.image or "",
                digest=_digest(r.imageID),
                reason=reason,
            )
        )
    return rows


@dataclass(frozen=True)
class DurationBar:
    """One run in the duration chart: ``height`` is a fraction of the longest run shown."""

    height: float
    result: str
    label: str


def duration_bars(rows: Sequence[HistoryRow]) -> tuple[list[DurationBar], float]:
    """The duration chart, oldest first, and the longest duration (seconds) it is scaled to."""
    timed = [r for r in reversed(rows) if r.duration_seconds is not None]
    longest = max((r.duration_seconds or 0.0 for r in timed), default=0.0)
    bars = [
        DurationBar(
            height=(r.duration_seconds or 0.0) / longest if longest > 0 else 0.0,
            result=r.result,
            label=f"{r.slot} {r.result} {r.duration}",
        )
        for r in timed
    ]
    return bars, longest


# -- the outcome of Run now ------------------------------------------------------------------------


@dataclass(frozen=True)
class RunOutcome:
    """What became of a run request (``punctual.dev/run-requested-at: token``), as the status says."""

    job: str
    state: str
    """``waiting`` (the operator has not answered), ``queued``, ``running``, ``finished`` or ``not-run``."""
    text: str
    final: bool


def run_outcome(sj: ScheduledJob, token: str, *, job_exists: bool) -> RunOutcome:
    """Read the operator's answer to the run request ``token`` from the status (and whether its Job exists)."""
    job = manual_job_name(sj.name, token)
    status = sj.status
    record = next((r for r in status.history if r.job == job), None)
    queued = any(q.job == job for q in status.queued)
    if status.lastHandledRunRequest != token and record is None and not job_exists and not queued:
        return RunOutcome(job, "waiting", "Run requested; waiting for the operator to pick it up.", final=False)
    if record is not None and record.result in NOT_RUN_RESULTS:
        detail = record.message or record.reason or ""
        return RunOutcome(job, "not-run", f"Run {record.result}" + (f": {detail}" if detail else "."), final=True)
    if queued:
        policy = sj.raw_spec.get("concurrencyPolicy") or "Allow"
        text = f"Run queued (concurrencyPolicy {policy}): job {job} starts when the active run ends."
        return RunOutcome(job, "queued", text, final=False)
    if record is not None and record.result in _FINISHED:
        code = "" if record.exitCode is None else f" (exit code {record.exitCode})"
        return RunOutcome(job, "finished", f"Run {job} {record.result}{code}.", final=True)
    if job_exists or record is not None:
        return RunOutcome(job, "running", f"Run {job} started.", final=False)
    return RunOutcome(job, "waiting", "The operator took the request; waiting for the Job.", final=False)


# -- backfills -------------------------------------------------------------------------------------

_OPEN_BACKFILL = frozenset({"Waiting", "Running"})


@dataclass(frozen=True)
class BackfillForm:
    """The backfill form's values, read as ``kubectl sj backfill --from --to --parallel`` reads its flags."""

    start: datetime
    end: datetime
    parallel: int


def backfill_form(fields: Mapping[str, str], *, zone: str) -> BackfillForm:
    """The form's ``from``, ``to`` (RFC 3339, or a local time in the job's ``zone``) and ``parallel``
    (default 1); :class:`InputError` says which is wrong. Bounds, the future and the 10,000-slot
    limit are :func:`kubectl_sj.backfill.check_request`'s, as for the command."""
    start_text, end_text = (fields.get(key, "").strip() for key in ("from", "to"))
    if not start_text or not end_text:
        raise InputError("error: give both --from and --to")
    start = parse_time_flag(start_text, flag="--from", zone=zone)
    end = parse_time_flag(end_text, flag="--to", zone=zone)
    parallel_text = fields.get("parallel", "").strip() or "1"
    try:
        parallel = int(parallel_text)
    except ValueError:
        raise InputError(f"error: --parallel must be a whole number, got {parallel_text!r}") from None
    return BackfillForm(start=start, end=end, parallel=parallel)


@dataclass(frozen=True)
class BackfillRow:
    """One entry of ``status.backfills`` on a ScheduledJob's page."""

    token: str
    state: str
    start: str
    end: str
    parallel: int
    total: int
    done: int
    failed: int
    running: int
    pending: int
    skipped: int
    message: str
    open: bool
    """Waiting or Running: the Cancel button is shown."""
    cancelling: bool
    """A cancel of it was sent and the operator has not acted on it yet."""
    handled: float
    """The fraction of the slots handled (run, running or skipped), for the progress bar."""


def _cancel_sent(sj: ScheduledJob) -> frozenset[str]:
    annotations = (sj.body.get("metadata") or {}).get("annotations") or {}
    return parse_cancel(annotations.get(ANNOTATION_BACKFILL_CANCEL))


def backfill_rows(sj: ScheduledJob) -> list[BackfillRow]:
    """``status.backfills`` as the operator keeps them (in the order requested)."""
    zone = sj.time_zone
    cancels = _cancel_sent(sj)
    rows = []
    for e in sj.status.backfills:
        is_open = e.state in _OPEN_BACKFILL
        handled = e.done + e.running + e.skippedExisting
        rows.append(
            BackfillRow(
                token=e.token,
                state=e.state,
                start=format_local(e.fromTime, zone) if e.fromTime else "",
                end=format_local(e.toTime, zone) if e.toTime else "",
                parallel=e.parallel,
                total=e.total,
                done=e.done,
                failed=e.failed,
                running=e.running,
                pending=e.pending,
                skipped=e.skippedExisting,
                message=e.message or "",
                open=is_open,
                cancelling=is_open and e.token in cancels,
                handled=min(1.0, handled / e.total) if e.total else (0.0 if is_open else 1.0),
            )
        )
    return rows


@dataclass(frozen=True)
class BackfillOutcome:
    """What became of a backfill request, as the status says."""

    token: str
    state: str
    """``waiting`` (not picked up yet), ``running``, ``cancelling``, ``completed``, ``cancelled``,
    ``rejected``, or ``gone`` (handled, and no longer in the status)."""
    text: str
    final: bool


def backfill_outcome(sj: ScheduledJob, token: str) -> BackfillOutcome:
    """The operator's answer to the backfill request (or cancel) ``token``, in the words of
    ``kubectl sj backfill``'s progress lines."""
    entry = next((e for e in sj.status.backfills if e.token == token), None)
    if entry is None:
        if sj.status.lastHandledBackfillRequest == token:
            return BackfillOutcome(token, "gone", f"Backfill {token} was handled; it is no longer in the status.", True)
        text = f"Backfill {token} requested; waiting for the operator to pick it up."
        return BackfillOutcome(token, "waiting", text, final=False)
    line = backfill_progress(entry)
    text = line[0].upper() + line[1:]
    if entry.state in _OPEN_BACKFILL:
        if token in _cancel_sent(sj):
            return BackfillOutcome(token, "cancelling", f"Cancel requested. {text}", final=False)
        return BackfillOutcome(token, "running", text, final=False)
    return BackfillOutcome(token, entry.state.lower(), text, final=True)


# -- error pages -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorPage:
    status: int
    title: str
    message: str
    hint: str


def error_page(error: PluginError | str) -> ErrorPage:
    """Which page a failure is: a refused input (400), forbidden (403), not found (404), API down
    (502), or another (500)."""
    text = error.message if isinstance(error, PluginError) else error
    if isinstance(error, InputError):
        return ErrorPage(400, "Bad request", text.removeprefix("error: "), "Nothing was sent to the cluster.")
    lower = text.lower()
    if lower.startswith("error: forbidden"):
        detail = text.removeprefix("error: forbidden: ")
        return ErrorPage(
            403,
            "Forbidden",
            f"Your credentials may not do this: {detail}.",
            "Every read and action uses your kubeconfig's own RBAC; ask for that verb, or switch context.",
        )
    if text == CRD_MISSING:
        return ErrorPage(404, "Not found", text.removeprefix("error: "), "Install Punctual's CRD and operator first.")
    if "(notfound)" in lower:
        hint = "It may have been deleted, or be in another namespace."
        return ErrorPage(404, "Not found", text.split(": ", 1)[-1], hint)
    if lower.startswith("error: unable to connect"):
        return ErrorPage(
            502,
            "API server unreachable",
            text.removeprefix("error: "),
            "The Kubernetes API did not answer; the page retries on reload.",
        )
    if "unauthorized" in lower:
        hint = "Your credentials were refused; log in again."
        return ErrorPage(401, "Unauthorized", text.removeprefix("error: "), hint)
    return ErrorPage(500, "Error", text.removeprefix("error: "), "")


def _window(spec: Mapping[str, Any]) -> str:
    """``spec.notBefore`` / ``spec.notAfter``: the active window of the schedule, if any."""
    start, end = spec.get("notBefore"), spec.get("notAfter")
    if not start and not end:
        return "always"
    return f"{start or 'any time'} to {end or 'no end'}"


def describe_spec(sj: ScheduledJob) -> list[tuple[str, str]]:
    """The spec summary on a ScheduledJob's page: (label, value) pairs."""
    spec: Mapping[str, Any] = sj.raw_spec
    template = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
    containers = (template.get("spec") or {}).get("containers") or []
    images = ", ".join(str(c.get("image")) for c in containers if isinstance(c, dict) and c.get("image"))
    pairs = [
        ("Schedule", sj.schedule_text or "none"),
        ("Time zone", sj.time_zone),
        ("Concurrency", str(spec.get("concurrencyPolicy") or "Allow")),
        ("Catch-up", str(spec.get("catchUp") or "default")),
        ("Jitter", str(spec.get("jitter") or "none")),
        ("Starting deadline", f"{spec['startingDeadlineSeconds']}s" if spec.get("startingDeadlineSeconds") else "none"),
        ("Suspended", "yes" if sj.suspended else "no"),
        ("Window", _window(spec)),
        ("Images", images or "none"),
    ]
    if sj.spec_error:
        pairs.append(("Invalid spec", sj.spec_error))
    return pairs
