"""Fixtures for the integration tier: an emulator with the real CRD, scripted Jobs, real operators.

See ``integration_support`` for what the tests share (clock, Job script, readers) and ``punctual_testing``
for what every tier shares (polling, the operator in a thread).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from integration_support import Body, JobScript, OperatorFactory, TestClock
from punctual_testing import RunningOperator, load_calendar_crd, load_crd, operator_settings, serve_in_thread

from kube_emulator import Emulator, JobController
from punctual.runtime.app import Operator
from punctual.runtime.kube import Credentials


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
        emu.install_crd(load_calendar_crd())
        yield emu


@pytest.fixture
def operator(emulator: Emulator, clock: TestClock) -> Iterator[OperatorFactory]:
    """Start operators: ``operator(**settings)`` (or ``cls=``, ``clock=``); all stop at teardown."""
    started: list[RunningOperator] = []

    def start(*, cls: type[Operator] = Operator, op_clock: Any = None, **overrides: Any) -> RunningOperator:
        op = cls(operator_settings(**overrides), credentials=Credentials(server=emulator.url), clock=op_clock or clock)
        running = serve_in_thread(op, ready_timeout=20, name=f"operator-{len(started)}")
        started.append(running)
        return running

    yield start
    for running in reversed(started):
        running.stop()
