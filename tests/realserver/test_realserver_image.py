"""The built image is the operator: the container from ``.ci/image.sh`` (podman, read-only, the
chart's user 65532, the ServiceAccount's token and CA mounted where a pod has them, in-cluster
configuration from ``KUBERNETES_SERVICE_HOST/PORT``) schedules a run against the real API server
that the real Job controller completes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from punctual_image import OperatorContainer, build_image, run_operator_container
from punctual_realserver import RealServer, free_port
from punctual_testing import wait_for
from realserver_support import OPERATOR_NAMESPACE, Installation, apply_in, history, jobs_of, render_chart, scheduled_job


@pytest.fixture
def container(real_server: RealServer, installation: Installation, namespace: str) -> Iterator[OperatorContainer]:
    image = build_image()
    token, ca = real_server.service_account_token(OPERATOR_NAMESPACE, installation.service_account)
    deployment = next(doc for doc in render_chart() if doc["kind"] == "Deployment")
    security = deployment["spec"]["template"]["spec"]["containers"][0].get("securityContext") or {}
    # The chart's user, read from the chart: the container below runs as that user.
    assert security.get("runAsUser", 65532) == 65532
    assert security.get("readOnlyRootFilesystem") is True
    handle = run_operator_container(
        image,
        server_url=real_server.url,
        token=token,
        ca_pem=ca,
        namespace=OPERATOR_NAMESPACE,
        env={
            "PUNCTUAL_NAMESPACES": namespace,
            "PUNCTUAL_METRICS_HOST": "127.0.0.1",
            "PUNCTUAL_METRICS_PORT": str(free_port()),
            "PUNCTUAL_LOG_FORMAT": "text",
            "PUNCTUAL_STATUS_DELAY": "0.2",
        },
        name="punctual-realserver",
    )
    try:
        yield handle
    finally:
        logs = handle.logs()
        handle.stop()
    assert "403" not in logs and "Forbidden" not in logs, logs[-3000:]
    assert "Traceback" not in logs, logs[-3000:]


def test_the_image_schedules_a_run_on_the_real_server(
    real_server: RealServer, namespace: str, container: OperatorContainer
) -> None:
    apply_in(real_server, namespace, scheduled_job("from-image", "*/3 * * * * *", duration="1s"))
    done = wait_for(
        lambda: [r for r in history(real_server, namespace, "from-image") if r.get("result") == "Succeeded"],
        60,
        interval=0.5,
        what="a run started by the containerised operator to succeed",
    )
    assert done[0]["exitCode"] == 0
    jobs = jobs_of(real_server, namespace, "from-image")
    assert jobs and all(j["metadata"]["ownerReferences"][0]["name"] == "from-image" for j in jobs)
    assert container.running()
