"""On-demand runs and their logs: ``kubectl sj run`` and ``kubectl sj logs`` (I/O through the client).

A run request is a merge patch of the annotation ``punctual.dev/run-requested-at: <token>`` on the
ScheduledJob, with ``punctual.dev/run-overrides`` in the same patch: the request's overrides
(``--env``, ``--arg``, ``--image``; :mod:`punctual.core.run_request`), or null, so that a stale
one never applies. ``--dry-run`` prints the Job the operator would create, built by the same code
(``build_job`` and ``apply_overrides``), and sends nothing. The operator answers by writing
``status.lastHandledRunRequest = <token>`` and, unless the concurrency policy skipped, queued or
dropped it (or its overrides were refused), by creating the Job ``manual_job_name(name, token)``
(:mod:`punctual.jobs`). This module polls for those answers; it never decides anything the
operator decides.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from kubectl_sj.client import Cluster
from kubectl_sj.errors import PluginError
from kubectl_sj.objects import TYPE_NAME, ScheduledJob
from punctual.api import Result, Trigger
from punctual.bodies import Job, Pod
from punctual.core.run_request import OverridesError, RunOverrides, apply_overrides, encode, requested
from punctual.durations import format_duration
from punctual.jobs import (
    ANNOTATION_RUN_OVERRIDES,
    ANNOTATION_RUN_REQUEST,
    LABEL_SCHEDULED_JOB,
    JobPhase,
    build_job,
    label_value,
    manual_job_name,
    observe_job,
)

__all__ = [
    "PICKUP_TIMEOUT",
    "POLL_INTERVAL",
    "RECORD_GRACE",
    "WAIT_TIMEOUT",
    "Waiter",
    "dry_run_job",
    "job_pods",
    "new_token",
    "pick_container",
    "request_run",
    "runs_of",
    "stream_logs",
]

PICKUP_TIMEOUT = 30.0
"""Seconds the operator gets to answer a run request (it reacts to the annotation at once)."""

WAIT_TIMEOUT = 600.0
"""``--wait`` default: seconds the run may take."""

POLL_INTERVAL = 0.5

RECORD_GRACE = 10.0
"""Seconds ``--wait`` gives the operator, once the Job has finished, to record the run in the
ScheduledJob's history (it gathers status writes for about a second), so that a ``kubectl sj
history`` typed next shows the outcome just printed rather than Running."""

_NOT_RUN = {Result.SKIPPED, Result.DROPPED, Result.MISSED, Result.REPLACED}


def new_token(now: datetime | None = None) -> str:
    """A unique request token: an RFC 3339 UTC timestamp with nanoseconds."""
    ns = time.time_ns() if now is None else int(now.timestamp()) * 10**9 + now.microsecond * 1000
    seconds, nanos = divmod(ns, 10**9)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{nanos:09d}Z"


@dataclass
class Waiter:
    """Polling with a deadline; the clock and the sleep are injectable for tests."""

    timeout: float
    what: str
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    interval: float = POLL_INTERVAL
    _deadline: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self._deadline = self.clock() + self.timeout

    def tick(self) -> None:
        """Sleep one interval, or raise the timeout error if the deadline passed."""
        remaining = self._deadline - self.clock()
        if remaining <= 0:
            spent = format_duration(timedelta(seconds=self.timeout))
            raise PluginError(f"error: timed out waiting for {self.what} after {spent}")
        self.sleep(min(self.interval, remaining))


def job_pods(cluster: Cluster, namespace: str, job: str) -> list[Pod]:
    """The Pods of a Job, oldest first (the Job controller labels them with the Job's name)."""
    pods = cluster.list_pods(namespace, label_selector=f"batch.kubernetes.io/job-name={job}")
    if not pods:
        pods = cluster.list_pods(namespace, label_selector=f"job-name={job}")
    return sorted(pods, key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or "")


def runs_of(cluster: Cluster, sj: ScheduledJob) -> list[Job]:
    """The Jobs of a ScheduledJob, newest first."""
    jobs = cluster.list_jobs(sj.namespace, label_selector=f"{LABEL_SCHEDULED_JOB}={label_value(sj.name)}")
    return sorted(jobs, key=lambda j: (j.get("metadata") or {}).get("creationTimestamp") or "", reverse=True)


def pick_container(pod: Pod, wanted: str | None, err: TextIO) -> str | None:
    """``-c``, else the pod's default-container annotation, else its first container (said on stderr)."""
    names = [c.get("name") for c in ((pod.get("spec") or {}).get("containers") or []) if c.get("name")]
    if wanted is not None:
        if names and wanted not in names:
            pod_name = (pod.get("metadata") or {}).get("name")
            raise PluginError(f"error: container {wanted} is not valid for pod {pod_name}; choose one of: {names}")
        return wanted
    default = ((pod.get("metadata") or {}).get("annotations") or {}).get("kubectl.kubernetes.io/default-container")
    if default in names:
        return str(default)
    if len(names) > 1:
        err.write(f'Defaulted container "{names[0]}" out of: {", ".join(str(n) for n in names)}\n')
    return str(names[0]) if names else None


def stream_logs(
    cluster: Cluster, namespace: str, pod: str, *, container: str | None, follow: bool, out: TextIO
) -> None:
    for chunk in cluster.pod_log(namespace, pod, container=container, follow=follow):
        out.write(chunk.decode("utf-8", errors="replace"))
        out.flush()


def _await_record(cluster: Cluster, namespace: str, name: str, job: str, *, sleep: Callable[[float], None]) -> None:
    """Poll (at most RECORD_GRACE s) until the operator's history has the finished run. The Job's own
    outcome is what ``--wait`` reports either way; an operator that is down only costs the wait."""
    for _ in range(int(RECORD_GRACE / POLL_INTERVAL)):
        record = _record(cluster.get_scheduled_job(namespace, name), job)
        if record is not None and record.result != Result.RUNNING:
            return
        sleep(POLL_INTERVAL)


def _record(sj: ScheduledJob, job: str) -> Any:
    return next((r for r in sj.status.history if r.job == job), None)


def _await_pickup(cluster: Cluster, sj: ScheduledJob, token: str, waiter: Waiter) -> ScheduledJob:
    while sj.status.lastHandledRunRequest != token:
        waiter.tick()
        sj = cluster.get_scheduled_job(sj.namespace, sj.name)
    return sj


def _await_job(cluster: Cluster, sj: ScheduledJob, job: str, waiter: Waiter) -> tuple[Job | None, ScheduledJob]:
    """The Job once it exists, or None (and the record) if the operator decided not to run it."""
    while True:
        body = cluster.get_job(sj.namespace, job)
        if body is not None:
            return body, sj
        record = _record(sj, job)
        if record is not None and record.result in _NOT_RUN:
            return None, sj
        waiter.tick()
        sj = cluster.get_scheduled_job(sj.namespace, sj.name)


def _outcome(cluster: Cluster, namespace: str, job: str) -> tuple[JobPhase, int | None, str | None] | None:
    body = cluster.get_job(namespace, job)
    if body is None:
        return None
    observed = observe_job(body, job_pods(cluster, namespace, job))
    if observed is None:
        return JobPhase.ACTIVE, None, None
    return observed.phase, observed.exit_code, observed.reason


def _checked(sj: ScheduledJob, overrides: RunOverrides | None) -> None:
    """Overrides that the operator would refuse for this spec (a --container it does not have) fail here."""
    if overrides is None:
        return
    template = sj.raw_spec.get("jobTemplate")
    job_spec = template.get("spec") if isinstance(template, dict) else None
    try:
        requested(overrides, None, token=overrides.token, job_spec=job_spec if isinstance(job_spec, dict) else {})
    except OverridesError as exc:
        raise PluginError(f"error: {exc}") from None


def dry_run_job(sj: ScheduledJob, overrides: RunOverrides | None, *, token: str, now: datetime) -> Job:
    """The Job the operator would create for this run request now (its manifest, with the overrides)."""
    subject = sj.subject()
    if subject is None:
        raise PluginError(f"error: {TYPE_NAME}/{sj.name} has an invalid spec: {sj.spec_error}")
    _checked(sj, overrides)
    job = manual_job_name(sj.name, token)
    manifest = build_job(subject.owner, subject.spec, job_name=job, slot=now, trigger=Trigger.MANUAL)
    record = overrides.record() if overrides is not None else None
    if record is not None and (record.env is not None or record.args is not None or record.image is not None):
        manifest = apply_overrides(manifest, record)
    return manifest


def request_run(
    cluster: Cluster,
    namespace: str,
    name: str,
    *,
    out: TextIO,
    err: TextIO,
    wait: bool,
    follow: bool,
    timeout: float | None,
    token: str | None = None,
    overrides: RunOverrides | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Request a run (with ``overrides``: theirs is the token), report the Job it got, and with ``wait``
    its result. Returns the exit code."""
    wait = wait or follow
    token = overrides.token if overrides is not None else (token or new_token())
    sj = cluster.get_scheduled_job(namespace, name)  # NotFound before anything is written
    _checked(sj, overrides)
    # One merge patch: the request and its overrides (or null: no stale overrides apply) together.
    annotations = {ANNOTATION_RUN_REQUEST: token, ANNOTATION_RUN_OVERRIDES: encode(overrides) if overrides else None}
    cluster.patch_scheduled_job(namespace, name, {"metadata": {"annotations": annotations}})
    job = manual_job_name(name, token)
    total = timeout if timeout is not None else (WAIT_TIMEOUT if wait else PICKUP_TIMEOUT)
    pickup = min(PICKUP_TIMEOUT, total) if wait else total
    overall = Waiter(total, f"job.batch/{job} to finish", sleep=sleep)
    sj = _await_pickup(
        cluster,
        sj,
        token,
        Waiter(pickup, f"the operator to pick up the run request of {TYPE_NAME}/{name} (is it running?)", sleep=sleep),
    )

    # 1. What did the concurrency policy make of it?
    record = _record(sj, job)
    if record is not None and record.result in _NOT_RUN:
        detail = record.message or record.reason or ""
        out.write(f"{TYPE_NAME}/{name} run {record.result}: {detail}\n".replace(": \n", "\n"))
        return 1
    waiting = next((q for q in sj.status.queued if q.job == job), None)
    if waiting is not None:
        policy = sj.raw_spec.get("concurrencyPolicy") or "Allow"
        if waiting.reason == "MaxActive":
            cap = sj.raw_spec.get("maxActive")
            out.write(f"job.batch/{job} queued (maxActive {cap}): it starts when one of the active runs ends\n")
        else:
            out.write(f"job.batch/{job} queued (concurrencyPolicy {policy}): it starts when the active run ends\n")
        out.flush()
        if not wait:
            return 0
        waiter = Waiter(total, f"queued job.batch/{job} to start", sleep=sleep)
    else:
        waiter = Waiter(pickup, f"job.batch/{job} to be created", sleep=sleep)

    # 2. The Job (or the record saying why there is none).
    body, sj = _await_job(cluster, sj, job, waiter)
    if body is None:
        record = _record(sj, job)
        out.write(f"{TYPE_NAME}/{name} run {record.result}: {record.message or record.reason or ''}\n")
        return 1
    out.write(f"job.batch/{job} created\n")
    out.flush()
    if not wait:
        return 0

    # 3. Follow the logs while the run goes on.
    if follow:
        _follow(cluster, namespace, job, out=out, err=err, waiter=overall)

    # 4. Its result.
    while True:
        outcome = _outcome(cluster, namespace, job)
        if outcome is None:  # deleted (Replace policy, or by hand): the operator's record says why
            record = _record(cluster.get_scheduled_job(namespace, name), job)
            result = record.result if record is not None else "Deleted"
            out.write(f"job.batch/{job} {result}: the Job was deleted before it finished\n")
            return 1
        phase, exit_code, reason = outcome
        if phase is not JobPhase.ACTIVE:
            _await_record(cluster, namespace, name, job, sleep=sleep)
            code = "unknown" if exit_code is None else str(exit_code)
            tail = f": {reason}" if phase is JobPhase.FAILED and reason else ""
            out.write(f"job.batch/{job} {phase.value} (exit code {code}){tail}\n")
            return 0 if phase is JobPhase.SUCCEEDED else 1
        overall.tick()


def _follow(cluster: Cluster, namespace: str, job: str, *, out: TextIO, err: TextIO, waiter: Waiter) -> None:
    """Stream the newest pod's log once it has started (a pending container has no log yet)."""
    while True:
        pods = job_pods(cluster, namespace, job)
        started = [p for p in pods if (p.get("status") or {}).get("phase") not in (None, "Pending")]
        if started:
            pod = started[-1]
            container = pick_container(pod, None, err)
            stream_logs(cluster, namespace, str(pod["metadata"]["name"]), container=container, follow=True, out=out)
            return
        outcome = _outcome(cluster, namespace, job)
        if outcome is None or outcome[0] is not JobPhase.ACTIVE:
            return  # finished (or gone) before a pod could be followed
        waiter.tick()
