"""What several test tiers share: the repository's CRD, the Kubernetes docs' CronJob example, polling,
and the real operator serving on its own event loop in a thread.

On ``sys.path`` through pytest's ``pythonpath`` setting (``pyproject.toml``), so a test imports it
as ``punctual_testing`` from any folder, as it imports its own folder's ``*_support`` module.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from kube_emulator import Emulator
from punctual.runtime.app import Operator
from punctual.runtime.kube import Credentials
from punctual.runtime.settings import Settings

__all__ = [
    "CALENDAR_CRD_PATH",
    "CRD_PATH",
    "PRINTER_COLUMNS",
    "REPO_ROOT",
    "RunningOperator",
    "cronjob_example",
    "in_process_operator",
    "load_calendar_crd",
    "load_crd",
    "operator_settings",
    "serve_in_thread",
    "wait_for",
]

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_PATH = REPO_ROOT / "crds" / "scheduledjobs.punctual.dev.yaml"
CALENDAR_CRD_PATH = REPO_ROOT / "crds" / "calendars.punctual.dev.yaml"

# The CRD's printer columns, in order: what ``kubectl get scheduledjobs`` shows after the name.
PRINTER_COLUMNS = (
    "Schedule",
    "Suspend",
    "Active",
    "Queued",
    "Last Result",
    "Last Schedule",
    "Next Run",
    "Age",
)

# The example of https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/
# (application/job/cronjob.yaml), as the docs print it.
_CRONJOB_EXAMPLE = """
apiVersion: batch/v1
kind: CronJob
metadata:
  name: hello
spec:
  schedule: "* * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - name: hello
            image: busybox:1.28
            imagePullPolicy: IfNotPresent
            command:
            - /bin/sh
            - -c
            - date; echo Hello from the Kubernetes cluster
          restartPolicy: OnFailure
"""


def load_crd() -> dict[str, Any]:
    """The committed ScheduledJob CRD manifest, parsed afresh (callers may change their copy)."""
    crd: dict[str, Any] = yaml.safe_load(CRD_PATH.read_text())
    return crd


def load_calendar_crd() -> dict[str, Any]:
    """The committed Calendar CRD manifest, parsed afresh."""
    crd: dict[str, Any] = yaml.safe_load(CALENDAR_CRD_PATH.read_text())
    return crd


def cronjob_example() -> dict[str, Any]:
    """The Kubernetes docs' CronJob example, parsed afresh (callers may change their copy)."""
    example: dict[str, Any] = yaml.safe_load(_CRONJOB_EXAMPLE)
    return example


# -- polling -----------------------------------------------------------------------------------------


def wait_for(predicate: Callable[[], T], timeout: float = 30.0, *, interval: float = 0.1, what: str = "") -> T:
    """Poll ``predicate`` until it returns something truthy; return that, or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate!r}; last: {last!r}")
        time.sleep(interval)


# -- the operator in a thread ------------------------------------------------------------------------


def operator_settings(**overrides: Any) -> Settings:
    """Settings for an operator under test: metrics on any free local port, short watches."""
    values: dict[str, Any] = {"metrics_port": 0, "metrics_host": "127.0.0.1", "watch_timeout": 5, **overrides}
    return Settings(**values)


@dataclass
class RunningOperator:
    """One operator serving in its own thread; ``stop()`` ends it and checks that it ended."""

    op: Operator
    thread: threading.Thread
    stop_flag: threading.Event
    failure: list[BaseException]

    def halt(self, timeout: float = 30.0) -> None:
        """Ask the operator to stop and wait up to ``timeout`` s for its thread, checking nothing."""
        self.stop_flag.set()
        self.thread.join(timeout)

    def check_ended(self) -> None:
        assert not self.thread.is_alive(), "the operator thread did not end"
        assert not self.failure, f"the operator failed: {self.failure[0]!r}"

    def stop(self, timeout: float = 30.0) -> None:
        if self.stop_flag.is_set() and not self.thread.is_alive():
            return
        self.halt(timeout)
        self.check_ended()


def serve_in_thread(
    op: Operator, *, ready_timeout: float = 30.0, name: str = "punctual-operator", **run_options: Any
) -> RunningOperator:
    """Run ``op.run(**run_options)`` on its own event loop in a daemon thread, as ``punctual run``
    would serve a cluster, and wait until the operator is ready."""
    stop_flag = threading.Event()
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            asyncio.run(op.run(stop_flag=stop_flag, **run_options))
        except BaseException as exc:  # surfaced in the test's thread by RunningOperator.check_ended
            failure.append(exc)

    thread = threading.Thread(target=serve, name=name, daemon=True)
    thread.start()
    running = RunningOperator(op=op, thread=thread, stop_flag=stop_flag, failure=failure)
    if not op.ready.wait(ready_timeout):
        running.halt()
        raise AssertionError(f"the operator did not become ready: {failure}")
    return running


@contextmanager
def in_process_operator(emu: Emulator, **settings: Any) -> Iterator[Operator]:
    """The real operator in a thread against the emulator (``settings`` over ``operator_settings``'s);
    it must still be serving when the block ends, then stop cleanly."""
    running = serve_in_thread(Operator(operator_settings(**settings), credentials=Credentials(server=emu.url)))
    try:
        yield running.op
        assert running.thread.is_alive(), f"the operator stopped: {running.failure}"
    finally:
        running.halt()
    running.check_ended()
