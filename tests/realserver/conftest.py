"""Fixtures of the real-server tier: one real Kubernetes API per session (punctual_realserver), the
CRD and the chart's RBAC installed as a user would, and the operator run as its own process with
the chart's ServiceAccount token, never as admin.

Skipped when the binaries are absent (``bash .ci/kube-binaries.sh`` builds them) unless
``PUNCTUAL_REQUIRE_TOOLS`` is set, as in CI, where a missing binary fails the tier.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from punctual_realserver import RealServer, missing_binaries
from realserver_support import Installation, OperatorFactory, install

REQUIRED = bool(os.environ.get("PUNCTUAL_REQUIRE_TOOLS"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/realserver/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.realserver)


@pytest.fixture(scope="session")
def real_server() -> Iterator[RealServer]:
    missing = missing_binaries()
    if missing:
        message = f"real-server tier needs {', '.join(missing)}: run bash .ci/kube-binaries.sh"
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    server = RealServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def installation(real_server: RealServer) -> Installation:
    """The CRD and the chart's ServiceAccount and RBAC (rendered by helm), as ``helm install`` would
    make them; the operator's kubeconfig carries that ServiceAccount's token."""
    return install(real_server)


@pytest.fixture
def namespace(real_server: RealServer) -> Iterator[str]:
    name = f"rs-{uuid.uuid4().hex[:8]}"
    real_server.kubectl("create", "namespace", name)
    yield name
    real_server.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def operator(
    installation: Installation, namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorFactory]:
    """Starts ``punctual run`` processes watching the test's namespace; at the end each is stopped and
    its log is checked: a 403 (or any Forbidden) means the chart's RBAC is short of what the code does."""
    factory = OperatorFactory(installation, namespace=namespace, workdir=tmp_path_factory.mktemp("operator"))
    try:
        yield factory
    finally:
        factory.stop_all()
    factory.check_logs()
