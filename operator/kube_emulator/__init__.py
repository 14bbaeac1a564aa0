"""Punctual's sandbox: an emulated Kubernetes API (on kmock) and a simulated Job controller.

Used by the tests, the benchmarks and ``punctual simulate``-style demos where no cluster
exists. The emulator is an I/O shell (HTTP on 127.0.0.1); its store is a single-threaded
in-memory database driven from the emulator's event loop.
"""

from kube_emulator.emulator import AsyncEmulator, Controller, Emulator, write_kubeconfig
from kube_emulator.errors import ApiError
from kube_emulator.faults import Faults
from kube_emulator.jobs import DURATION_ANNOTATION, EXIT_CODE_ANNOTATION, JobController, Scenario
from kube_emulator.server import RequestRecord
from kube_emulator.store import Store

__all__ = [
    "DURATION_ANNOTATION",
    "EXIT_CODE_ANNOTATION",
    "ApiError",
    "AsyncEmulator",
    "Controller",
    "Emulator",
    "Faults",
    "JobController",
    "RequestRecord",
    "Scenario",
    "Store",
    "write_kubeconfig",
]
