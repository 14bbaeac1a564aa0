"""``kubectl sj backfill``: run every slot of a range, dry-run it, follow it, cancel it (I/O through the client).

A request is a merge patch of the annotation ``punctual.dev/backfill-request`` (a JSON object with
a fresh token, the range and ``parallel``: :func:`punctual.core.encode_request`); the operator
answers with ``status.lastHandledBackfillRequest = <token>`` and an entry in ``status.backfills``.
``--cancel`` writes the tokens to cancel into ``punctual.dev/backfill-cancel``. The slots a dry
run prints and the 10,000-slot bound are computed with the operator's own core
(:func:`punctual.core.plan_backfill`); this module decides nothing the operator decides.

The web UI's backfill form and Cancel button use the same steps as the command:
:func:`check_request` (the validation and the plan, refused with :class:`InputError`),
:func:`send_request` (the annotation), :func:`cancel_targets` and :func:`send_cancel`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, TextIO

from kubectl_sj.client import Cluster
from kubectl_sj.errors import InputError, PluginError
from kubectl_sj.format import NONE, backfill_progress, format_local, render_table
from kubectl_sj.objects import TYPE_NAME, ScheduledJob, default_time_zone, status_model
from kubectl_sj.runs import PICKUP_TIMEOUT, Waiter, new_token, runs_of
from kubectl_sj.status import Backfill

if TYPE_CHECKING:
    from punctual.core import BackfillPlan

__all__ = [
    "backfills_table",
    "cancel_backfill",
    "cancel_targets",
    "check_request",
    "plan_of",
    "plan_summary",
    "plan_table",
    "request_backfill",
    "send_cancel",
    "send_request",
    "show_backfills",
]

_OPEN = ("Waiting", "Running")


def plan_of(cluster: Cluster, sj: ScheduledJob, *, start: datetime, end: datetime, now: datetime) -> BackfillPlan:
    """The slots of the range and which would run, with the operator's core, from the cluster's state."""
    from punctual.core import BackfillError, SpecError, plan_backfill
    from punctual.jobs import observe_job

    subject = sj.subject()
    if subject is None:
        raise InputError(f"error: {TYPE_NAME}/{sj.name}: invalid spec: {sj.spec_error}")
    observed = [o for o in (observe_job(j) for j in runs_of(cluster, sj)) if o is not None]
    try:
        return plan_backfill(
            subject,
            start=start,
            end=end,
            status=status_model(sj.body.get("status")),
            jobs=observed,
            now=now,
            default_time_zone=default_time_zone(),
        )
    except (BackfillError, SpecError) as exc:
        raise InputError(f"error: {TYPE_NAME}/{sj.name}: {exc}") from None


def plan_table(plan: BackfillPlan, *, zone: str) -> str:
    rows = [[format_local(s.slot, zone), s.action, s.job, s.why or ""] for s in plan.slots]
    return render_table(["SLOT", "ACTION", "JOB", "EXISTING"], rows)


def plan_summary(plan: BackfillPlan, *, zone: str) -> str:
    """``6 slots from ... to ...: 3 to run, 3 skipped (existing)``."""
    return (
        f"{len(plan.slots)} slots from {format_local(plan.start, zone)} to {format_local(plan.end, zone)}: "
        f"{plan.to_run} to run, {plan.skipped} skipped (existing)"
    )


def _entry(sj: ScheduledJob, token: str) -> Backfill | None:
    return next((e for e in sj.status.backfills if e.token == token), None)


def check_request(
    cluster: Cluster, sj: ScheduledJob, *, start: datetime, end: datetime, parallel: int, now: datetime
) -> BackfillPlan:
    """Everything a request is checked for before it is sent (``parallel``'s bounds, a range not in
    the future, the 10,000-slot bound, a valid spec), and its plan. Raises :class:`InputError`."""
    from punctual.core import MAX_PARALLEL

    if not 1 <= parallel <= MAX_PARALLEL:
        raise InputError(f"error: --parallel must be from 1 to {MAX_PARALLEL}")
    if end > now:
        raise InputError(
            f"error: --to {format_local(end, sj.time_zone)} is in the future; a backfill runs past slots "
            "(the schedule runs the others)"
        )
    return plan_of(cluster, sj, start=start, end=end, now=now)


def send_request(
    cluster: Cluster, sj: ScheduledJob, *, start: datetime, end: datetime, parallel: int, token: str
) -> None:
    """Write the request annotation (the operator answers in ``status.backfills``)."""
    from punctual.core import BackfillRequest, encode_request
    from punctual.jobs import ANNOTATION_BACKFILL_REQUEST

    text = encode_request(BackfillRequest(token=token, start=start, end=end, parallel=parallel))
    cluster.patch_scheduled_job(
        sj.namespace, sj.name, {"metadata": {"annotations": {ANNOTATION_BACKFILL_REQUEST: text}}}
    )


def request_backfill(
    cluster: Cluster,
    sj: ScheduledJob,
    *,
    start: datetime,
    end: datetime,
    parallel: int,
    dry_run: bool,
    wait: bool,
    timeout: float | None,
    now: datetime,
    out: TextIO,
    token: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Dry-run or request a backfill; with ``wait``, follow it to the end. Returns the exit code."""
    zone = sj.time_zone
    plan = check_request(cluster, sj, start=start, end=end, parallel=parallel, now=now)
    if dry_run:
        if plan.slots:
            out.write(plan_table(plan, zone=zone))
        out.write(f"{plan_summary(plan, zone=zone)}; parallel {parallel}; nothing requested (--dry-run)\n")
        return 0
    token = token or new_token()
    send_request(cluster, sj, start=start, end=end, parallel=parallel, token=token)
    out.write(
        f"backfill {token} requested for {TYPE_NAME}/{sj.name}: {plan_summary(plan, zone=zone)}, parallel {parallel}\n"
    )
    out.flush()
    pickup = Waiter(
        min(PICKUP_TIMEOUT, timeout or PICKUP_TIMEOUT),
        f"the operator to pick up backfill {token} of {TYPE_NAME}/{sj.name} (is it running?)",
        sleep=sleep,
    )
    while (entry := _entry(sj, token)) is None:
        pickup.tick()
        sj = cluster.get_scheduled_job(sj.namespace, sj.name)
    last = backfill_progress(entry)
    out.write(last + "\n")
    out.flush()
    if entry.state == "Rejected":
        return 1
    if not wait:
        return 0
    waiter = Waiter(math.inf if timeout is None else timeout, f"backfill {token} to finish", sleep=sleep)
    while entry.state in _OPEN:
        waiter.tick()
        sj = cluster.get_scheduled_job(sj.namespace, sj.name)
        found = _entry(sj, token)
        if found is None:
            raise PluginError(f"error: backfill {token} is no longer in the status of {TYPE_NAME}/{sj.name}")
        entry = found
        line = backfill_progress(entry)
        if line != last:
            out.write(line + "\n")
            out.flush()
            last = line
    return 0 if entry.state == "Completed" and entry.failed == 0 else 1


def cancel_targets(sj: ScheduledJob, *, token: str | None) -> list[str]:
    """The tokens a cancel names: ``token``, or every backfill in progress (one sent and not picked up
    yet included). Raises :class:`InputError` when there is none (or ``token`` is not in progress)."""
    from punctual.core import request_identity
    from punctual.jobs import ANNOTATION_BACKFILL_REQUEST

    status = sj.status
    targets = [e.token for e in status.backfills if e.state in _OPEN]
    annotations = (sj.body.get("metadata") or {}).get("annotations") or {}
    waiting = annotations.get(ANNOTATION_BACKFILL_REQUEST)
    if waiting and request_identity(waiting) != status.lastHandledBackfillRequest:
        targets.append(request_identity(waiting))  # sent, not yet picked up
    if token is not None:
        if token not in targets:
            raise InputError(f"error: {TYPE_NAME}/{sj.name} has no backfill {token} in progress")
        targets = [token]
    if not targets:
        raise InputError(f"error: {TYPE_NAME}/{sj.name} has no backfill in progress")
    return targets


def send_cancel(cluster: Cluster, sj: ScheduledJob, targets: Sequence[str]) -> None:
    """Write the cancel annotation for ``targets`` (the operator drops their pending slots)."""
    from punctual.jobs import ANNOTATION_BACKFILL_CANCEL

    patch = {"metadata": {"annotations": {ANNOTATION_BACKFILL_CANCEL: ",".join(targets)}}}
    cluster.patch_scheduled_job(sj.namespace, sj.name, patch)


def cancel_backfill(
    cluster: Cluster,
    sj: ScheduledJob,
    *,
    token: str | None,
    out: TextIO,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Cancel one backfill (``token``) or every one in progress; report what became of each."""
    targets = cancel_targets(sj, token=token)
    send_cancel(cluster, sj, targets)
    waiter = Waiter(PICKUP_TIMEOUT, f"the operator to cancel the backfill of {TYPE_NAME}/{sj.name}", sleep=sleep)
    while True:
        entries = [_entry(sj, t) for t in targets]
        if all(e is not None and e.state not in _OPEN for e in entries):
            break
        waiter.tick()
        sj = cluster.get_scheduled_job(sj.namespace, sj.name)
    for e in entries:
        assert e is not None
        out.write(backfill_progress(e) + "\n")
    return 0


def backfills_table(entries: Sequence[Backfill], *, zone: str) -> str:
    rows = [
        [
            e.token,
            e.state,
            format_local(e.fromTime, zone),
            format_local(e.toTime, zone),
            str(e.parallel),
            str(e.total),
            str(e.done),
            str(e.failed),
            str(e.running),
            str(e.pending),
            str(e.skippedExisting),
            e.message or NONE,
        ]
        for e in entries
    ]
    headers = ["TOKEN", "STATE", "FROM", "TO", "PARALLEL", "TOTAL", "DONE", "FAILED", "RUNNING", "PENDING"]
    return render_table([*headers, "SKIPPED-EXISTING", "MESSAGE"], rows)


def show_backfills(sj: ScheduledJob, *, out: TextIO, err: TextIO) -> int:
    entries = sj.status.backfills
    if not entries:
        err.write(f"No backfills recorded for {TYPE_NAME}/{sj.name}.\n")
    else:
        out.write(backfills_table(entries, zone=sj.time_zone))
    return 0
