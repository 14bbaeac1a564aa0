"""A stand-in kubelet for the real-server tier: no containers run, but Pods go through the phases a
kubelet gives them, so the real Job controller finishes Jobs and the real garbage collector and
namespace controller can delete them.

It registers a Node, then list-and-watches every Pod (as a client of the API, with an admin token):

1. a Pod with no ``spec.nodeName`` is bound to the Node (the ``binding`` subresource, as the
   scheduler does);
2. a bound Pending Pod is set Running (``startTime``, a running container status);
3. after its duration it terminates: Succeeded or Failed with ``state.terminated.exitCode``, a
   ``reason`` and an ``imageID``;
4. a Pod marked for deletion is deleted with grace period 0 (what a kubelet confirms once the
   containers have stopped), so Job deletes, Replace, history limits and namespace deletes finish.

Duration and exit code come from the sandbox's annotations (``punctual.dev/sandbox-duration``,
``punctual.dev/sandbox-exit-code``) on the Pod (the Job's pod template) or on its owning Job,
else 3 s and 0, exactly as the sandbox's simulated controller reads them.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kube_emulator.jobs import DURATION_ANNOTATION, EXIT_CODE_ANNOTATION, parse_duration

__all__ = ["NODE_NAME", "StandInKubelet"]

NODE_NAME = "punctual-stand-in"
logger = logging.getLogger(__name__)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StandInKubelet:
    """See the module docstring. ``start()`` runs it in two daemon threads; ``stop()`` ends them."""

    def __init__(self, kubeconfig: str, *, default_duration: float = 3.0, default_exit_code: int = 0) -> None:
        from kubernetes import client, config

        cfg = client.Configuration()
        config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
        self._api_client = client.ApiClient(cfg)
        self._core = client.CoreV1Api(self._api_client)
        self._batch = client.BatchV1Api(self._api_client)
        self.default_duration = default_duration
        self.default_exit_code = default_exit_code
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._timers: list[tuple[float, int, str, str, str]] = []  # (due, seq, namespace, name, uid)
        self._seq = itertools.count()
        self._started: set[str] = set()  # uids set Running by us
        self._finished: set[str] = set()
        self._exit_codes: dict[str, tuple[int, str]] = {}  # uid -> (exit code, startedAt) of a running Pod
        self._threads: list[threading.Thread] = []
        self._relist = False  # a Pod's step failed: list every Pod again
        self.paused = threading.Event()  # set: Pods are left as they are (a kubelet that is down)

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        self._register_node()
        for target, name in (
            (self._watch_loop, "stand-in-kubelet-watch"),
            (self._timer_loop, "stand-in-kubelet-timers"),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(15)
        self._api_client.close()

    # -- the Node ----------------------------------------------------------------------------------

    def _register_node(self) -> None:
        from kubernetes.client.exceptions import ApiException

        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": NODE_NAME, "labels": {"kubernetes.io/hostname": NODE_NAME}},
        }
        try:
            self._core.create_node(node)
        except ApiException as exc:
            if exc.status != 409:
                raise
        status = {
            "status": {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "StandInKubelet",
                        "message": "stand-in kubelet of the real-server test tier",
                        "lastHeartbeatTime": _now(),
                        "lastTransitionTime": _now(),
                    }
                ],
                "capacity": {"cpu": "64", "memory": "256Gi", "pods": "10000"},
                "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "10000"},
            }
        }
        self._core.patch_node_status(NODE_NAME, status)

    # -- watching Pods -----------------------------------------------------------------------------

    def _watch_loop(self) -> None:
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        version = ""
        while not self._stop.is_set():
            if self._relist:
                self._relist, version = False, ""
            try:
                if not version:
                    listed = self._core.list_pod_for_all_namespaces(_preload_content=False)
                    import json

                    body = json.loads(listed.data)
                    version = body["metadata"]["resourceVersion"]
                    for pod in body["items"]:
                        self._handle(pod)
                stream = watch.Watch()
                for event in stream.stream(
                    self._core.list_pod_for_all_namespaces,
                    resource_version=version,
                    timeout_seconds=5,
                    allow_watch_bookmarks=True,
                    _preload_content=False,
                ):
                    if self._stop.is_set():
                        stream.stop()
                        break
                    raw = event["raw_object"]
                    if event["type"] == "ERROR":
                        version = ""  # 410 Gone and friends: list again
                        break
                    version = raw["metadata"]["resourceVersion"]
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._handle(raw)
            except ApiException as exc:
                if exc.status == 410:
                    version = ""
                elif not self._stop.is_set():
                    time.sleep(0.5)
            except Exception:  # the API server restarting mid-watch: retry until stopped
                if not self._stop.is_set():
                    time.sleep(0.5)

    def _handle(self, pod: dict[str, Any]) -> None:
        if self.paused.is_set():
            return
        meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
        namespace, name, uid = meta["namespace"], meta["name"], meta["uid"]
        try:
            if meta.get("deletionTimestamp"):
                self._confirm_delete(namespace, name, uid)
            elif not spec.get("nodeName"):
                self._bind(namespace, name, uid)
            elif (
                spec.get("nodeName") == NODE_NAME
                and status.get("phase", "Pending") == "Pending"
                and uid not in self._started
            ):
                self._run(pod)
        except Exception as exc:  # one Pod's trouble (gone meanwhile, a conflict) never stops the loop
            logger.debug("stand-in kubelet: %s/%s: %s", namespace, name, exc)
            # It may have been the API server restarting: a kubelet syncs its Pods again, so list them
            # afresh at the next turn of the watch loop (every step above is safe to repeat).
            self._relist = True

    def _bind(self, namespace: str, name: str, uid: str) -> None:
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "namespace": namespace, "uid": uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": NODE_NAME},
        }
        # The generated client cannot decode a Binding's reply (a Status), hence no preload.
        self._core.create_namespaced_pod_binding(name, namespace, binding, _preload_content=False)

    def _confirm_delete(self, namespace: str, name: str, uid: str) -> None:
        from kubernetes.client.exceptions import ApiException

        # gracePeriodSeconds in the body: with a body the API server ignores the query parameter,
        # and a running Pod would stay Terminating for its default 30 s, with no kubelet to end it.
        options = {"gracePeriodSeconds": 0, "preconditions": {"uid": uid}}
        with contextlib.suppress(ApiException):
            self._core.delete_namespaced_pod(name, namespace, body=options, _preload_content=False)

    def _lifecycle(self, pod: dict[str, Any]) -> tuple[float, int]:
        annotations = dict(pod["metadata"].get("annotations") or {})
        if DURATION_ANNOTATION not in annotations or EXIT_CODE_ANNOTATION not in annotations:
            for ref in pod["metadata"].get("ownerReferences") or []:
                if ref.get("kind") == "Job":
                    with contextlib.suppress(Exception):
                        job = self._batch.read_namespaced_job(ref["name"], pod["metadata"]["namespace"])
                        annotations = {**(job.metadata.annotations or {}), **annotations}
        duration_text = annotations.get(DURATION_ANNOTATION)
        exit_text = annotations.get(EXIT_CODE_ANNOTATION)
        duration = parse_duration(duration_text) if duration_text is not None else self.default_duration
        exit_code = int(exit_text) if exit_text is not None else self.default_exit_code
        return duration, exit_code

    def _run(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        duration, exit_code = self._lifecycle(pod)
        started = _now()
        containers = pod["spec"].get("containers") or []
        statuses = [
            {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": "",
                "ready": True,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": started}},
            }
            for c in containers
        ]
        body = {
            "status": {
                "phase": "Running",
                "startTime": started,
                "hostIP": "127.0.0.1",
                "podIP": "10.244.0.10",
                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": started}],
                "containerStatuses": statuses,
            }
        }
        self._core.patch_namespaced_pod_status(meta["name"], meta["namespace"], body)
        self._started.add(meta["uid"])
        with self._wake:
            heapq.heappush(
                self._timers,
                (time.monotonic() + duration, next(self._seq), meta["namespace"], meta["name"], meta["uid"]),
            )
            self._exit_codes[meta["uid"]] = (exit_code, started)
            self._wake.notify_all()

    # -- finishing Pods ----------------------------------------------------------------------------

    def _timer_loop(self) -> None:
        while not self._stop.is_set():
            with self._wake:
                while not self._stop.is_set() and (not self._timers or self._timers[0][0] > time.monotonic()):
                    wait = self._timers[0][0] - time.monotonic() if self._timers else 1.0
                    self._wake.wait(max(0.01, min(wait, 1.0)))
                if self._stop.is_set():
                    return
                _, _, namespace, name, uid = heapq.heappop(self._timers)
            while self.paused.is_set() and not self._stop.is_set():
                time.sleep(0.2)
            try:
                self._terminate(namespace, name, uid)
            except Exception as exc:  # deleted meanwhile, or the API server is restarting
                logger.debug("stand-in kubelet: finishing %s/%s: %s", namespace, name, exc)

    def _terminate(self, namespace: str, name: str, uid: str) -> None:
        exit_code, started = self._exit_codes.pop(uid, (self.default_exit_code, _now()))
        pod = self._retrying(lambda: self._core.read_namespaced_pod(name, namespace))
        if pod is None:
            return
        if pod.metadata.uid != uid or pod.metadata.deletion_timestamp:
            return
        finished = _now()
        statuses = []
        for container in pod.spec.containers:
            digest = hashlib.sha256(container.image.encode()).hexdigest()
            statuses.append(
                {
                    "name": container.name,
                    "image": container.image,
                    "imageID": f"docker.io/library/{container.image}@sha256:{digest}",
                    "containerID": f"containerd://{digest[:32]}{uid[:8]}",
                    "ready": False,
                    "started": False,
                    "restartCount": 0,
                    "state": {
                        "terminated": {
                            "exitCode": exit_code,
                            "reason": "Completed" if exit_code == 0 else "Error",
                            "startedAt": started,
                            "finishedAt": finished,
                        }
                    },
                }
            )
        body = {
            "status": {
                "phase": "Succeeded" if exit_code == 0 else "Failed",
                "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": finished}],
                "containerStatuses": statuses,
            }
        }
        # Retried like the read above: an API server restarting between the two must not leave the
        # Pod Running for good (a real kubelet keeps reporting until the API takes its status).
        if self._retrying(lambda: self._core.patch_namespaced_pod_status(name, namespace, body)) is not None:
            self._finished.add(uid)

    def _retrying(self, call: Callable[[], Any]) -> Any:
        """``call()``'s result, tried again (with a growing pause) while the API server restarts;
        None if the Pod is gone (404), the kubelet is stopping, or 20 tries failed."""
        from kubernetes.client.exceptions import ApiException

        for attempt in range(20):
            try:
                return call()
            except ApiException as exc:
                if exc.status == 404:
                    return None
            except Exception:  # the API server restarting: try again shortly
                pass
            if self._stop.is_set():
                return None
            time.sleep(0.5 * (attempt + 1))
        return None
