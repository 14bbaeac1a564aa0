"""Helpers for the integration tier: the real operator over real HTTP against the API emulator.

Every test gets its own emulator (the real CRD installed, simulated Jobs whose duration and exit
code the test scripts) and starts real :class:`punctual.runtime.Operator` instances, each in its own
thread with its own event loop, exactly as ``punctual run`` would serve a cluster. Schedules are
seconds-level, so a scenario takes seconds; assertions are on outcomes (what ran, what was recorded)
with generous waits, never on exact counts where wall-clock timing varies.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from punctual_testing import REPO_ROOT, RunningOperator

from kube_emulator import Emulator

ROOT = REPO_ROOT
SJ_API = "punctual.dev/v1"
NS = "default"

Body = dict[str, Any]


# -- time --------------------------------------------------------------------------------------------


class TestClock:
    """Wall time plus an offset the test can move; shared by the operator and the emulator.

    Real seconds still pass (the simulated Jobs sleep for real), but a test can start the world at a
    chosen instant and jump forward while the operator is stopped, to make an outage as long as it
    needs without waiting for it.
    """

    __test__ = False  # not a test class, despite the name

    def __init__(self, start: datetime | None = None) -> None:
        self._offset = timedelta(0) if start is None else start - datetime.now(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def jump(self, seconds: float) -> None:
        with self._lock:
            self._offset += timedelta(seconds=seconds)

    def sleep_until(self, moment: datetime) -> None:
        delay = (moment - self.now()).total_seconds()
        if delay > 0:
            time.sleep(delay)


# -- simulated Jobs ----------------------------------------------------------------------------------


@dataclass
class JobScript:
    """How long each simulated Job runs and how it exits: the JobController's scenario callback.

    ``rule(job, n)`` gets the Job and its 1-based index among its ScheduledJob's Jobs (in creation
    order) and returns ``(seconds, exit code)``; without one, every Job runs ``duration`` and exits 0.
    """

    duration: float = 0.5
    exit_code: int = 0
    rule: Callable[[Body, int], tuple[float, int]] | None = None
    seen: dict[str, int] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, job: Body) -> tuple[float, int]:
        owner = (job["metadata"].get("labels") or {}).get("punctual.dev/scheduledjob", "")
        with self._lock:
            self.seen[owner] = n = self.seen.get(owner, 0) + 1
            self.names.append(job["metadata"]["name"])
        if self.rule is not None:
            return self.rule(job, n)
        return self.duration, self.exit_code


# -- the operator ------------------------------------------------------------------------------------


OperatorFactory = Callable[..., RunningOperator]


# -- ScheduledJobs and what the operator made of them --------------------------------------------------


def scheduled_job(name: str, schedule: str, **spec: Any) -> Body:
    """A ScheduledJob manifest with one busybox container; ``spec`` fields override the defaults."""
    template = spec.pop(
        "jobTemplate",
        {
            "metadata": {"labels": {"team": "qa"}, "annotations": {"example.com/note": "integration"}},
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [
                            {
                                "name": "main",
                                "image": "busybox:1.36",
                                "command": ["sh", "-c", "sleep 1"],
                                "env": [{"name": "USER_VAR", "value": "kept"}],
                            }
                        ],
                    }
                },
            },
        },
    )
    return {
        "apiVersion": SJ_API,
        "kind": "ScheduledJob",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"schedule": schedule, "jobTemplate": template, **spec},
    }


def get_sj(emu: Emulator, name: str) -> Body:
    return emu.get(SJ_API, "scheduledjobs", name, namespace=NS)


def status(emu: Emulator, name: str) -> Body:
    found: Body = get_sj(emu, name).get("status") or {}
    return found


def history(emu: Emulator, name: str) -> list[Body]:
    found: list[Body] = status(emu, name).get("history") or []
    return found


def records(emu: Emulator, name: str, result: str) -> list[Body]:
    return [r for r in history(emu, name) if r["result"] == result]


def jobs_of(emu: Emulator, name: str) -> list[Body]:
    return emu.list("batch/v1", "jobs", namespace=NS, label_selector=f"punctual.dev/scheduledjob={name}")


def condition(emu: Emulator, name: str, type_: str) -> Body | None:
    return next((c for c in status(emu, name).get("conditions") or [] if c["type"] == type_), None)


def events(emu: Emulator, name: str) -> list[Body]:
    return [e for e in emu.list("v1", "events", namespace=NS) if (e.get("involvedObject") or {}).get("name") == name]


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def slot_of(job: Body) -> datetime:
    return parse(job["metadata"]["annotations"]["punctual.dev/scheduled-time"])
