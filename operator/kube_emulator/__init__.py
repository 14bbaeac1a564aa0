"""An emulated Kubernetes API (on kmock) and a simulated Job controller: a test and demo tool.

Used by the tests, the benchmarks and ``punctual sandbox`` where no cluster exists. The emulator
is an I/O shell (HTTP on 127.0.0.1); its store is a single-threaded in-memory database driven
from the emulator's event loop. ``python -m kube_emulator`` runs it as its own process.

It stands beside the operator as kmock stands beside kopf, and never imports ``punctual`` (an
import-linter contract): what looks like a copy of a Punctual helper is its own on purpose, and
says how it differs. :class:`ApiError` is the server's side of an error (it renders a ``Status``
body), ``store.Clock`` is the same ``now()`` shape as the operator's clock, ``store.format_time``
writes whole seconds as the API server does, and ``jobs.parse_duration`` reads the simulated
Jobs' annotations into seconds. The annotation names are Punctual's (``punctual.dev/sandbox-*``)
because Punctual's examples carry them.
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
