"""A simulated batch/v1 Job controller for the emulated API (stateful, async, in-process).

It works directly on a :class:`kube_emulator.store.Store` on the emulator's event loop
(no HTTP), so it also runs when the emulator is its own process. For every new Job it:

1. marks the Job started (``status.startTime``, ``status.active=1``);
2. creates a Pod owned by the Job (labels ``job-name`` and ``batch.kubernetes.io/job-name``,
   the image of the Job's template) in phase Running, and writes its first log lines;
3. waits the Job's duration (real ``asyncio.sleep`` unless another ``sleep`` is injected);
4. terminates the Pod: Succeeded or Failed with the container's ``exitCode``, ``imageID``,
   ``reason``;
5. finishes the Job: ``succeeded=1`` with Complete/SuccessCriteriaMet, or ``failed=1`` with
   Failed (BackoffLimitExceeded; DeadlineExceeded if ``activeDeadlineSeconds`` ran out first).

Duration and exit code come from ``scenario(job)`` if given, else from the annotations
``punctual.dev/sandbox-duration`` ("3s", "2m", "500ms", "1.5") and
``punctual.dev/sandbox-exit-code`` on the Job or its pod template, else the defaults.
Pod retries are not simulated: one failed Pod fails the Job (as with ``backoffLimit: 0``).
Deleting a Job stops its simulation (its Pod is garbage-collected by the store).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from kube_emulator import errors
from kube_emulator.selectors import Selector
from kube_emulator.store import Body, Clock, Store, Watcher, format_time

__all__ = [
    "DURATION_ANNOTATION",
    "EXIT_CODE_ANNOTATION",
    "JobController",
    "Scenario",
    "Sleep",
    "parse_duration",
]

logger = logging.getLogger(__name__)

Scenario = Callable[[Body], tuple[float, int]]
Sleep = Callable[[float], Awaitable[None]]

DURATION_ANNOTATION = "punctual.dev/sandbox-duration"
EXIT_CODE_ANNOTATION = "punctual.dev/sandbox-exit-code"
_MERGE = "application/merge-patch+json"
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "": 1.0}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|)\s*$")


def parse_duration(text: str) -> float:
    """Seconds from "3s", "2m", "1h", "500ms", "1.5" or compound "1m30s".

    Not ``punctual.durations.parse_duration`` (the emulator never imports Punctual): this one
    returns float seconds for ``asyncio.sleep``, allows spaces, and has no ``d`` unit.
    """
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h)", text)
    if parts and re.fullmatch(r"(\s*\d+(?:\.\d+)?\s*(ms|s|m|h))+\s*", text):
        return sum(float(number) * _UNITS[unit] for number, unit in parts)
    match = _DURATION_RE.match(text)
    if match is None:
        raise ValueError(f"invalid duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _annotation(job: Mapping[str, Any], key: str) -> str | None:
    own = (job.get("metadata", {}).get("annotations") or {}).get(key)
    if own is not None:
        return str(own)
    template = job.get("spec", {}).get("template", {}).get("metadata", {})
    found = (template.get("annotations") or {}).get(key)
    return None if found is None else str(found)


class JobController:
    """Simulates Jobs and their Pods; see the module docstring for the lifecycle."""

    def __init__(
        self,
        *,
        scenario: Scenario | None = None,
        default_duration: float = 3.0,
        default_exit_code: int = 0,
        sleep: Sleep = asyncio.sleep,
        clock: Clock | None = None,
    ) -> None:
        self.scenario = scenario
        self.default_duration = default_duration
        self.default_exit_code = default_exit_code
        self._sleep = sleep
        self._clock = clock
        self._store: Store | None = None
        self._watcher: Watcher | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._runs: dict[str, asyncio.Task[None]] = {}  # by the Job's uid
        self.started = 0
        self.finished = 0

    def decide(self, job: Body) -> tuple[float, int]:
        """The duration (seconds) and the exit code of a Job's single run."""
        if self.scenario is not None:
            return self.scenario(job)
        duration_text = _annotation(job, DURATION_ANNOTATION)
        exit_text = _annotation(job, EXIT_CODE_ANNOTATION)
        duration = parse_duration(duration_text) if duration_text is not None else self.default_duration
        exit_code = int(exit_text) if exit_text is not None else self.default_exit_code
        return duration, exit_code

    @property
    def active(self) -> int:
        return sum(1 for task in self._runs.values() if not task.done())

    async def start(self, store: Store) -> None:
        """Start reacting to Jobs in ``store``; call on the store's event loop."""
        self._store = store
        jobs = store.resolve("batch", "v1", "jobs")
        self._watcher, initial = store.watch(jobs, None, Selector(), since=None, internal=True)
        for kind, job in initial:
            self._on_event(kind, job)
        self._loop_task = asyncio.create_task(self._consume(self._watcher))

    async def stop(self) -> None:
        tasks = [task for task in (self._loop_task, *self._runs.values()) if task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._store is not None and self._watcher is not None:
            self._store.unwatch(self._watcher)
        self._runs.clear()
        self._loop_task = None

    async def _consume(self, watcher: Watcher) -> None:
        while True:
            item = await watcher.queue.get()
            if item is None:
                return
            self._on_event(*item)

    def _on_event(self, kind: str, job: Body) -> None:
        uid: str = job["metadata"]["uid"]
        if kind == "DELETED":
            task = self._runs.pop(uid, None)
            if task is not None:
                task.cancel()
            return
        status = job.get("status") or {}
        finished = any(c.get("type") in ("Complete", "Failed") for c in status.get("conditions") or [])
        if kind == "ADDED" and uid not in self._runs and not finished and not job["spec"].get("suspend"):
            self._runs[uid] = asyncio.create_task(self._run(job), name=f"sandbox-job-{job['metadata']['name']}")

    async def _run(self, job: Body) -> None:
        try:
            await self._simulate(job)
        except errors.ApiError as e:
            if e.code != 404:  # a 404 means the Job or Pod was deleted meanwhile: nothing to do
                logger.exception("The simulation of the Job %s failed.", job["metadata"]["name"])
        finally:
            self.finished += 1

    def _now(self) -> str:
        assert self._store is not None
        return format_time((self._clock or self._store.clock).now())

    async def _simulate(self, job: Body) -> None:
        store = self._store
        assert store is not None
        jobs = store.resolve("batch", "v1", "jobs")
        pods = store.resolve("", "v1", "pods")
        meta = job["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        duration, exit_code = self.decide(job)
        self.started += 1

        # 1. The Job has started.
        started_at = self._now()
        status: Body = {"startTime": started_at, "active": 1, "ready": 0, "terminating": 0}
        store.patch(jobs, namespace, name, {"status": status}, content_type=_MERGE, subresource="status")

        # 2. Its Pod is created and running.
        template = job["spec"].get("template") or {}
        pod_spec: Body = dict(template.get("spec") or {})
        containers: list[Body] = pod_spec.get("containers") or [{"name": "main", "image": "busybox"}]
        container = containers[0]
        image: str = container.get("image", "busybox")
        labels = {**(template.get("metadata", {}).get("labels") or {})}
        labels.update({"job-name": name, "batch.kubernetes.io/job-name": name})
        owner = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "name": name,
            "uid": meta["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
        pod = store.create(
            pods,
            namespace,
            {
                "metadata": {
                    "generateName": f"{name}-",
                    "labels": labels,
                    "annotations": dict(template.get("metadata", {}).get("annotations") or {}),
                    "ownerReferences": [owner],
                },
                "spec": {**pod_spec, "containers": containers, "nodeName": "sandbox-node"},
            },
        )
        pod_name: str = pod["metadata"]["name"]
        container_status: Body = {
            "name": container.get("name", "main"),
            "image": image,
            "imageID": "",
            "ready": True,
            "started": True,
            "restartCount": 0,
            "state": {"running": {"startedAt": started_at}},
        }
        pod_status: Body = {
            "phase": "Running",
            "startTime": started_at,
            "podIP": "10.0.0.1",
            "containerStatuses": [container_status],
        }
        store.patch(pods, namespace, pod_name, {"status": pod_status}, content_type=_MERGE, subresource="status")
        store.pod_logs[(namespace, pod_name)] = self._log_lines(job, pod_name, image, container)
        store.patch(jobs, namespace, name, {"status": {"ready": 1}}, content_type=_MERGE, subresource="status")

        # 3. It runs for its duration, or until its deadline.
        deadline = job["spec"].get("activeDeadlineSeconds")
        deadline_exceeded = deadline is not None and duration > float(deadline)
        await self._sleep(float(deadline) if deadline_exceeded else duration)

        # 4. The Pod terminates.
        finished_at = self._now()
        if deadline_exceeded:
            exit_code = 143  # SIGTERM from the kubelet when the Job controller kills the Pod
        succeeded = exit_code == 0 and not deadline_exceeded
        digest = hashlib.sha256(image.encode()).hexdigest()
        terminated = {
            "exitCode": exit_code,
            "reason": "Completed" if succeeded else "Error",
            "startedAt": started_at,
            "finishedAt": finished_at,
            "containerID": f"containerd://{digest[:32]}{pod['metadata']['uid'][:8]}",
        }
        final_container = {
            **container_status,
            "ready": False,
            "started": False,
            "state": {"terminated": terminated},
            "imageID": f"docker.io/library/{image}@sha256:{digest}",
        }
        pod_patch = {
            "status": {
                "phase": "Succeeded" if succeeded else "Failed",
                "containerStatuses": [final_container],
            }
        }
        store.patch(pods, namespace, pod_name, pod_patch, content_type=_MERGE, subresource="status")
        log_key = (namespace, pod_name)
        store.pod_logs[log_key] = store.pod_logs.get(log_key, "") + f"job {name} finished with exit code {exit_code}\n"

        # 5. The Job finishes.
        def conditions(kinds: tuple[str, str], reason: str, message: str) -> list[Body]:
            return [
                {
                    "type": kind,
                    "status": "True",
                    "reason": reason,
                    "message": message,
                    "lastProbeTime": finished_at,
                    "lastTransitionTime": finished_at,
                }
                for kind in kinds
            ]

        job_status: Body = {"active": None, "ready": 0, "terminating": 0}
        if succeeded:
            message = "Reached expected number of succeeded pods"
            job_status["succeeded"] = 1
            job_status["completionTime"] = finished_at
            job_status["conditions"] = conditions(("SuccessCriteriaMet", "Complete"), "CompletionsReached", message)
        elif deadline_exceeded:
            message = "Job was active longer than specified deadline"
            job_status["failed"] = 1
            job_status["conditions"] = conditions(("FailureTarget", "Failed"), "DeadlineExceeded", message)
        else:
            message = "Job has reached the specified backoff limit"
            job_status["failed"] = 1
            job_status["conditions"] = conditions(("FailureTarget", "Failed"), "BackoffLimitExceeded", message)
        store.patch(jobs, namespace, name, {"status": job_status}, content_type=_MERGE, subresource="status")

    @staticmethod
    def _log_lines(job: Body, pod_name: str, image: str, container: Mapping[str, Any]) -> str:
        name = job["metadata"]["name"]
        lines = [f"job {name} started in pod {pod_name} (image {image})"]
        for env in container.get("env") or []:
            if env.get("name") == "PUNCTUAL_SCHEDULED_TIME":
                lines.append(f"PUNCTUAL_SCHEDULED_TIME={env.get('value', '')}")
        lines.append(f"job {name} is running")
        return "".join(f"{line}\n" for line in lines)
