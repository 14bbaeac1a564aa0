"""Fixtures for the integration tier: an emulator with the real CRD, scripted Jobs, real operators.

See ``integration_support`` for what the tests share (clock, Job script, polling, readers).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from integration_support import Body, JobScript, OperatorFactory, RunningOperator, TestClock
from punctual_testing import load_crd

from punctual.kube import Credentials
from punctual.runtime import Operator
from punctual.sandbox import Emulator, JobController
from punctual.settings import Settings


@pytest.fixture
def script() -> JobScript:
    return JobScript()


@pytest.fixture
def clock() -> TestClock:
    return TestClock()


@pytest.fixture
def crd() -> Body:
    return load_crd()


@pytest.fixture
def emulator(script: JobScript, clock: TestClock, crd: Body) -> Iterator[Emulator]:
    with Emulator(controllers=[JobController(scenario=script)], clock=clock) as emu:
        emu.install_crd(crd)
        yield emu


@pytest.fixture
def operator(emulator: Emulator, clock: TestClock) -> Iterator[OperatorFactory]:
    """Start operators: ``operator(**settings)`` (or ``cls=``, ``clock=``); all stop at teardown."""
    started: list[RunningOperator] = []

    def start(*, cls: type[Operator] = Operator, op_clock: Any = None, **overrides: Any) -> RunningOperator:
        values: dict[str, Any] = {"metrics_port": 0, "metrics_host": "127.0.0.1", "watch_timeout": 5}
        values.update(overrides)
        op = cls(Settings(**values), credentials=Credentials(server=emulator.url), clock=op_clock or clock)
        stop_flag = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            try:
                asyncio.run(op.run(stop_flag=stop_flag, peering_interval=0.5))
            except BaseException as exc:
                failure.append(exc)

        thread = threading.Thread(target=serve, name=f"operator-{len(started)}", daemon=True)
        thread.start()
        running = RunningOperator(op=op, thread=thread, stop_flag=stop_flag, failure=failure)
        started.append(running)
        assert op.ready.wait(20), f"the operator did not become ready: {failure}"
        return running

    yield start
    for running in reversed(started):
        running.stop()
