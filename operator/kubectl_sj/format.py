"""Everything ``kubectl sj`` prints: tables, relative times, ``-o json|yaml|name``. Pure.

No function here reads a clock: callers pass ``now`` (an aware datetime). Tables look like
kubectl's (upper-case headers, columns padded by three spaces, ``<none>`` for empty cells), and
durations use kubectl's ``HumanDuration`` rules, so ``5m ago`` here reads like an AGE there.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kubectl_sj.objects import TYPE_NAME, ScheduledJob
from kubectl_sj.status import HistoryRecord, Overrides, RetryPending
from kubectl_sj.tree import upstream_cell
from punctual.bodies import RawBody

if TYPE_CHECKING:
    from kubectl_sj.slots import Slot
    from kubectl_sj.status import Backfill

__all__ = [
    "NONE",
    "OutputFormat",
    "backfill_progress",
    "concurrency_text",
    "dump",
    "format_local",
    "history_table",
    "human_duration",
    "last_run",
    "list_document",
    "name_lines",
    "next_table",
    "overrides_text",
    "relative",
    "render_table",
    "scheduled_jobs_table",
]

OutputFormat = Literal["table", "wide", "json", "yaml", "name"]
NONE = "<none>"
_PAD = 3  # kubectl's tabwriter padding


def human_duration(delta: timedelta) -> str:
    """kubectl's ``duration.HumanDuration``: ``45s``, ``3m20s``, ``5h2m``, ``3d4h``, ``400d``, ``2y3d``."""
    seconds = int(delta.total_seconds())
    if seconds < 0:
        seconds = -seconds
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    years, days = hours // 24 // 365, hours // 24 % 365
    if years < 8:
        return f"{years}y{days}d" if days else f"{years}y"
    return f"{years}y"


def relative(when: datetime | None, *, now: datetime) -> str:
    """``5m ago`` for the past, ``in 3m`` for the future, ``now`` within a second, ``<none>`` for None."""
    if when is None:
        return NONE
    delta = when - now
    if abs(delta) < timedelta(seconds=1):
        return "now"
    if delta > timedelta(0):
        return f"in {human_duration(delta)}"
    return f"{human_duration(-delta)} ago"


def format_local(when: datetime | None, zone: str) -> str:
    """RFC 3339 in the job's zone with its offset (``2026-11-23T10:00:00+01:00``); milliseconds if any."""
    if when is None:
        return NONE
    try:  # the zone as punctual.schedule.load_zone reads it (not imported: it loads croniter)
        local = when.astimezone(ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError, OSError):
        local = when
    return local.isoformat(timespec="milliseconds" if local.microsecond else "seconds")


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A kubectl-style table: left-aligned, three spaces between columns, no trailing blanks."""
    cells = [list(headers), *[[c if c != "" else NONE for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [cell.ljust(widths[i] + _PAD) for i, cell in enumerate(row[:-1])]
        lines.append(("".join(parts) + row[-1]).rstrip())
    return "\n".join(lines) + "\n"


def last_run(sj: ScheduledJob) -> datetime | None:
    """When the newest run started: a scheduled slot (``lastScheduleTime``) or a manual run."""
    status = sj.status
    candidates = [
        status.lastScheduleTime,
        *(r.startTime for r in status.history),
        *(a.startTime for a in status.active),
    ]
    known = [c for c in candidates if c is not None]
    return max(known) if known else None


def _next_run(sj: ScheduledJob, computed: datetime | None) -> datetime | None:
    if sj.suspended:
        return None
    return sj.status.nextScheduleTime or computed


def scheduled_jobs_table(
    items: Sequence[ScheduledJob],
    *,
    now: datetime,
    wide: bool = False,
    all_namespaces: bool = False,
    computed_next: Mapping[str, datetime | None] | None = None,
) -> str:
    """``kubectl sj list``. NEXT RUN is the operator's ``status.nextScheduleTime``; when the operator
    has not written one yet, ``computed_next`` (by ``namespace/name``) fills in the computed slot."""
    computed_next = computed_next or {}
    headers = ["NAME", "SCHEDULE", "TIMEZONE", "SUSPENDED", "ACTIVE", "QUEUED", "LAST RESULT", "LAST RUN", "NEXT RUN"]
    # UPSTREAM (spec.dependsOn) only when a listed ScheduledJob is part of a pipeline.
    pipeline = any(sj.raw_spec.get("dependsOn") for sj in items)
    if pipeline:
        headers.insert(2, "UPSTREAM")
    if wide:
        headers += ["NEXT RUN AT", "CONCURRENCY", "JITTER", "LAST SUCCESS", "READY"]
    if all_namespaces:
        headers.insert(0, "NAMESPACE")
    rows = []
    for sj in items:
        status = sj.status
        nxt = _next_run(sj, computed_next.get(sj.key))
        row = [
            sj.name,
            sj.schedule_text,
            sj.time_zone,
            "True" if sj.suspended else "False",
            str(len(status.active)),
            str(len(status.queued)),
            status.lastResult or NONE,
            relative(last_run(sj), now=now),
            "<suspended>" if sj.suspended else "<paused>" if status.pause is not None else relative(nxt, now=now),
        ]
        if pipeline:
            row.insert(2, upstream_cell(sj))
        if wide:
            ready = next((c for c in status.conditions if c.type == "Ready"), None)
            row += [
                format_local(nxt, sj.time_zone),
                concurrency_text(sj.raw_spec),
                str(sj.raw_spec.get("jitter") or NONE),
                relative(status.lastSuccessfulTime, now=now),
                f"{ready.status} ({ready.reason})" if ready else NONE,
            ]
        if all_namespaces:
            row.insert(0, sj.namespace)
        rows.append(row)
    return render_table(headers, rows)


def concurrency_text(raw_spec: Mapping[str, object]) -> str:
    """The CONCURRENCY cell: the policy, and Allow's cap with its overflow (``Allow (maxActive 2, Queue)``)."""
    policy = str(raw_spec.get("concurrencyPolicy") or "Allow")
    cap = raw_spec.get("maxActive")
    if cap is None:
        return policy
    return f"{policy} (maxActive {cap}, {raw_spec.get('overflow') or 'Queue'})"


def _duration(record: HistoryRecord, *, now: datetime) -> str:
    if record.durationSeconds is not None:
        return human_duration(timedelta(seconds=record.durationSeconds))
    if record.startTime is not None and record.completionTime is not None:
        return human_duration(record.completionTime - record.startTime)
    if record.startTime is not None and record.completionTime is None and record.result == "Running":
        return human_duration(now - record.startTime)
    return NONE


def _trigger(trigger: str, attempt: int | None, attempts: int | None) -> str:
    """A retry's trigger with its attempt of the slot's most: ``retry 2/4``."""
    if attempt is None:
        return trigger
    return f"{trigger} {attempt}/{attempts}" if attempts else f"{trigger} {attempt}"


def overrides_text(overrides: Overrides | None) -> str:
    """A run's overrides as the ``kubectl sj run`` flags that asked for them (``<none>`` without)."""
    if overrides is None:
        return NONE
    flags = [f"--env {shlex.quote(e)}" for e in overrides.env or ()]
    flags += [f"--arg {shlex.quote(a)}" for a in overrides.args or ()]
    if overrides.args is not None and not overrides.args:
        flags.append("(no args)")
    if overrides.image is not None:
        flags.append(f"--image {shlex.quote(overrides.image)}")
    if overrides.container is not None:
        flags.append(f"--container {shlex.quote(overrides.container)}")
    return " ".join(flags) or NONE


def history_table(
    records: Sequence[HistoryRecord],
    *,
    zone: str,
    now: datetime,
    wide: bool = False,
    limit: int | None = None,
    retries: Sequence[RetryPending] = (),
    attempts: int | None = None,
) -> str:
    """``kubectl sj history``: pending retries, then newest first (by slot, then start), at most ``limit`` rows.

    ``attempts`` is the most runs a slot gets (spec.retry.limit + 1): a retry's TRIGGER says ``retry 2/4``.
    """
    ordered = sorted(records, key=lambda r: (r.scheduledTime, r.startTime or r.scheduledTime), reverse=True)
    if limit is not None:
        ordered = ordered[:limit]
    headers = ["SLOT", "TRIGGER", "STARTED", "DURATION", "RESULT", "EXIT CODE", "REASON"]
    if wide:
        headers += ["JOB", "IMAGE", "OVERRIDES", "MESSAGE"]
    rows = []
    for p in retries:
        # Not run yet: RESULT Pending, REASON when it is due (or why a due one waits).
        due = f"due {relative(p.dueTime, now=now)}" if p.dueTime > now else (p.reason or "due now")
        row = [format_local(p.scheduledTime, zone), _trigger("retry", p.attempt, attempts), NONE, NONE]
        row += ["Pending", NONE, due]
        if wide:
            row += [p.job, NONE, NONE, f"retry of {p.retryOf} at {format_local(p.dueTime, zone)}"]
        rows.append(row)
    for r in ordered:
        slot = format_local(r.scheduledTime, zone)
        if r.slotCount and r.slotCount > 1:
            slot += f" (+{r.slotCount - 1} older)"
        row = [
            slot,
            _trigger(str(r.trigger), r.attempt, attempts),
            relative(r.startTime, now=now),
            _duration(r, now=now),
            str(r.result),
            NONE if r.exitCode is None else str(r.exitCode),
            r.reason or NONE,
        ]
        if wide:
            row += [r.job, r.image or NONE, overrides_text(r.overrides), r.message or NONE]
        rows.append(row)
    return render_table(headers, rows)


def next_table(slots: Sequence[Slot], *, now: datetime, wide: bool = False) -> str:
    """``kubectl sj next``: SLOT in the job's zone, START = slot + jitter, IN relative to ``now``;
    ``wide`` adds NOTE: why an excluded slot will not run ("-" for one that runs)."""
    rows = []
    for s in slots:
        slot = s.slot.astimezone(s.zone)
        start = s.start.astimezone(s.zone)
        row = [
            slot.isoformat(timespec="seconds"),
            "-" if s.excluded else start.isoformat(timespec="milliseconds" if start.microsecond else "seconds"),
            relative(s.start, now=now),
        ]
        rows.append([*row, s.excluded or "-"] if wide else row)
    return render_table(["SLOT", "START", "IN", "NOTE"] if wide else ["SLOT", "START", "IN"], rows)


def list_document(items: Sequence[Mapping[str, object]]) -> RawBody:
    """What ``kubectl get -o json`` prints for several objects: a v1 List."""
    return {"apiVersion": "v1", "items": [dict(i) for i in items], "kind": "List", "metadata": {"resourceVersion": ""}}


def dump(document: Any, fmt: Literal["json", "yaml"]) -> str:
    """JSON (4-space indent, sorted keys) or YAML (block style, sorted keys), as kubectl prints them."""
    if fmt == "json":
        return json.dumps(document, indent=4, sort_keys=True, ensure_ascii=False) + "\n"
    import yaml  # only for -o yaml (and convert): a table needs none of it

    return str(yaml.safe_dump(document, default_flow_style=False, sort_keys=True, allow_unicode=True))


def name_lines(items: Sequence[ScheduledJob]) -> str:
    """``-o name``: ``scheduledjob.punctual.dev/NAME`` per line."""
    return "".join(f"{TYPE_NAME}/{sj.name}\n" for sj in items)


def backfill_progress(entry: Backfill) -> str:
    """One line of a backfill's progress, as ``kubectl sj backfill --wait`` prints it (and the web
    UI shows a request's outcome)."""
    if entry.state in ("Waiting", "Running"):
        return (
            f"backfill {entry.token} {entry.state}: {entry.done}/{entry.total} done ({entry.failed} failed), "
            f"{entry.running} running, {entry.pending} pending, {entry.skippedExisting} skipped (existing)"
        )
    if entry.state == "Rejected":
        return f"backfill {entry.token} Rejected: {entry.message}"
    tail = f"; {entry.message}" if entry.state == "Cancelled" and entry.message else ""
    running = f", {entry.running} still running" if entry.running else ""
    return (
        f"backfill {entry.token} {entry.state}: {entry.done} run ({entry.failed} failed){running}, "
        f"{entry.skippedExisting} skipped (existing) of {entry.total}{tail}"
    )
