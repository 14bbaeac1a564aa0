"""The chart's in-cluster UI (``ui.enabled``) as its pod runs it: the project's image under podman,
the container's command, arguments, environment and security context as ``helm template`` renders
the UI Deployment, the UI ServiceAccount's token with the chart's UI ClusterRole and binding, against
the real API server with RBAC enforced. Its pages are fetched over 127.0.0.1 (the container shares
the host's network; the port is swapped for a free one): the fleet of all namespaces lists the
objects, the timeline reads a ScheduledJob's Calendar, Run now goes through the operator to its
outcome, a backfill is started and shown, suspend works; nothing is forbidden. A second account
with only the chart's view role shows Run now and a backfill refused by RBAC, naming the verb and
resource.
"""

from __future__ import annotations

import html
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urljoin

import pytest
from punctual_image import OperatorContainer, build_image, run_operator_container
from punctual_realserver import RealServer, free_port
from punctual_testing import wait_for
from realserver_support import (
    OPERATOR_NAMESPACE,
    Body,
    Installation,
    OperatorFactory,
    apply_in,
    render_chart,
    scheduled_job,
)

pytestmark = pytest.mark.realserver


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def fetch(url: str, *, form: dict[str, str] | None = None) -> tuple[int, str, str]:
    """(status, body, Location) of a GET, or of a POST of ``form``; redirects not followed."""
    data = None if form is None else urlencode(form).encode()
    request = urllib.request.Request(url, data=data, method="GET" if form is None else "POST")
    try:
        with urllib.request.build_opener(_NoRedirect).open(request, timeout=30) as response:
            return response.status, response.read().decode(), response.headers.get("Location", "")
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode(), exc.headers.get("Location", "")


def ui_manifests() -> dict[str, Body]:
    """The UI's ServiceAccount, ClusterRole, ClusterRoleBinding and Deployment as the chart renders them."""
    docs = [doc for doc in render_chart("--set", "ui.enabled=true") if doc["metadata"]["name"].endswith("-ui")]
    by_kind = {doc["kind"]: doc for doc in docs}
    assert {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment"} <= set(by_kind), sorted(by_kind)
    return by_kind


def start_ui_container(
    real_server: RealServer, deployment: Body, account: str, *, name: str
) -> tuple[OperatorContainer, str]:
    """The Deployment's one container under podman as ``account``; its URL on 127.0.0.1."""
    image = build_image()
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    security = container["securityContext"]
    # The user and the read-only root the container below runs with, read from the chart.
    assert (security["runAsUser"], security["readOnlyRootFilesystem"]) == (65532, True)
    mounts = [m["mountPath"] for m in container.get("volumeMounts") or []]
    port = free_port()
    args = [f"--port={port}" if arg.startswith("--port=") else arg for arg in container["args"]]
    assert args != container["args"], container["args"]
    env = {e["name"]: e["value"] for e in container.get("env") or []}
    token, ca = real_server.service_account_token(OPERATOR_NAMESPACE, account)
    handle = run_operator_container(
        image,
        server_url=real_server.url,
        token=token,
        ca_pem=ca,
        namespace=OPERATOR_NAMESPACE,
        env=env,
        name=name,
        command=tuple(container["command"]),
        args=tuple(args),
        tmpfs=tuple(mounts),  # the chart's emptyDir volumes
    )
    url = f"http://127.0.0.1:{port}/"

    def healthy() -> bool:
        if handle.exit_code() is not None:
            raise AssertionError(f"the UI container exited:\n{handle.logs()[-3000:]}")
        try:
            return fetch(url + "healthz")[0] == 200
        except OSError:
            return False

    try:
        wait_for(healthy, 60, interval=0.5, what="the UI container's /healthz")
    except BaseException:
        handle.stop()
        raise
    return handle, url


@pytest.fixture
def ui_objects(real_server: RealServer, installation: Installation) -> dict[str, Body]:
    by_kind = ui_manifests()
    real_server.apply([by_kind[k] for k in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding")])
    return by_kind


@pytest.fixture
def ui_container(real_server: RealServer, ui_objects: dict[str, Body]) -> Iterator[str]:
    account = ui_objects["ServiceAccount"]["metadata"]["name"]
    handle, url = start_ui_container(real_server, ui_objects["Deployment"], account, name="punctual-ui")
    try:
        yield url
    finally:
        logs = handle.logs()
        handle.stop()
    assert "Traceback" not in logs, logs[-3000:]


def not_forbidden(what: str, status: int, body: str) -> str:
    assert status == 200, (what, status, html.unescape(body)[-2000:])
    assert "forbidden" not in body.lower(), (what, html.unescape(body)[-2000:])
    return body


def test_the_charts_ui_container_serves_every_page_and_action(
    real_server: RealServer, namespace: str, operator: OperatorFactory, ui_container: str
) -> None:
    url = ui_container
    real_server.apply(
        {
            "apiVersion": "punctual.dev/v1",
            "kind": "Calendar",
            "metadata": {"name": "holidays", "namespace": namespace},
            "spec": {"exclude": ["2026-12-24..2026-12-26"]},
        }
    )
    apply_in(real_server, namespace, scheduled_job("report", "0 3 * * *", duration="1s"))
    apply_in(real_server, namespace, scheduled_job("backup", "30 2 * * *", calendars=["holidays"]))
    operator()

    fleet = not_forbidden("fleet", *fetch(url)[:2])
    for name in ("report", "backup"):
        assert f'<tr data-name="{name}" data-namespace="{namespace}"' in fleet, html.unescape(fleet)[-3000:]
    # The timeline reads the namespace's Calendars for backup's spec.calendars (the chart grants list).
    timeline = not_forbidden("timeline", *fetch(url + "timeline?hours=48")[:2])
    assert re.search(rf'<g class="lane" data-name="backup" data-namespace="{namespace}" data-marks="[1-9]', timeline)
    not_forbidden("job", *fetch(url + f"ns/{namespace}/sj/report")[:2])

    # Run now: through the operator, to its outcome, with the run's page (Job manifest, log section).
    status, body, location = fetch(url + f"ns/{namespace}/sj/report/run", form={})
    assert status == 303 and "?run=" in location, (status, html.unescape(body)[-2000:])

    def finished() -> str | None:
        page = not_forbidden("run outcome", *fetch(urljoin(url, location))[:2])
        return page if 'data-state="finished"' in page else None

    page = wait_for(finished, 60, interval=0.5, what="Run now's outcome on the job's page")
    job = re.search(r'data-job="([^"]+)" data-result="Succeeded" data-trigger="manual"', page)
    assert job, html.unescape(page)
    run_page = not_forbidden("run", *fetch(url + f"ns/{namespace}/sj/report/runs/{job.group(1)}")[:2])
    assert f"name: {job.group(1)}" in run_page

    # A backfill of the last two days' 03:00 slots: checked with the Jobs listed, sent, run.
    now = datetime.now(UTC).replace(microsecond=0)
    form = {"from": (now - timedelta(days=2)).isoformat(), "to": (now - timedelta(minutes=1)).isoformat()}
    status, body, location = fetch(url + f"ns/{namespace}/sj/report/backfill", form=form)
    assert status == 303 and "?backfill=" in location, (status, html.unescape(body)[-2000:])

    def completed() -> str | None:
        page = not_forbidden("backfill outcome", *fetch(urljoin(url, location))[:2])
        return page if 'data-state="completed"' in page else None

    page = wait_for(completed, 90, interval=0.5, what="the backfill's outcome on the job's page")
    assert re.search(r'<tr data-token="[^"]+" data-state="Completed" data-done="2" data-total="2">', page), (
        html.unescape(page)
    )

    for action, value in (("suspend", True), ("resume", False)):
        status, _, _ = fetch(url + f"ns/{namespace}/sj/report/{action}", form={})
        assert status == 303, action
        assert bool(real_server.get_json("scheduledjob", "report", "-n", namespace)["spec"].get("suspend")) is value


def test_run_now_is_refused_as_rbac_says(
    real_server: RealServer, installation: Installation, namespace: str, ui_objects: dict[str, Body]
) -> None:
    """The same container as an account bound only to the chart's view role: the fleet shows, and
    Run now and a backfill are the forbidden page naming what the account lacks; nothing is written."""
    viewer = "ui-viewer-only"
    view_role = next(
        doc["metadata"]["name"]
        for doc in installation.rbac
        if doc["kind"] == "ClusterRole" and doc["metadata"]["name"].endswith("-view")
    )
    real_server.kubectl("create", "serviceaccount", viewer, "-n", OPERATOR_NAMESPACE)
    real_server.kubectl(
        "create",
        "clusterrolebinding",
        f"{viewer}-{namespace}",
        f"--clusterrole={view_role}",
        f"--serviceaccount={OPERATOR_NAMESPACE}:{viewer}",
    )
    try:
        apply_in(real_server, namespace, scheduled_job("report", "0 3 * * *"))
        handle, url = start_ui_container(real_server, ui_objects["Deployment"], viewer, name="punctual-ui-viewer")
        try:

            def fleet_shown() -> bool:
                status, body, _ = fetch(url)
                return status == 200 and f'<tr data-name="report" data-namespace="{namespace}"' in body

            wait_for(fleet_shown, 30, interval=0.5, what="the viewer's fleet (the view role lists ScheduledJobs)")
            status, body, _ = fetch(url + f"ns/{namespace}/sj/report/run", form={})
            assert status == 403, (status, html.unescape(body)[-2000:])
            message = html.unescape(body)
            assert f'you need "patch" on scheduledjobs.punctual.dev in namespace "{namespace}"' in message
            # A backfill is planned from the job's Jobs first (skip-existing), which the view role
            # may not list: refused before anything is written, saying so.
            now = datetime.now(UTC).replace(microsecond=0)
            form = {"from": (now - timedelta(days=1)).isoformat(), "to": (now - timedelta(minutes=1)).isoformat()}
            status, body, _ = fetch(url + f"ns/{namespace}/sj/report/backfill", form=form)
            assert status == 403, (status, html.unescape(body)[-2000:])
            assert f'you need "list" on jobs.batch in namespace "{namespace}"' in html.unescape(body)
            annotations: dict[str, Any] = (
                real_server.get_json("scheduledjob", "report", "-n", namespace)["metadata"].get("annotations") or {}
            )
            assert not {"punctual.dev/run-requested-at", "punctual.dev/backfill-request"} & set(annotations)
        finally:
            handle.stop()
    finally:
        real_server.kubectl("delete", "clusterrolebinding", f"{viewer}-{namespace}", check=False)
        real_server.kubectl("delete", "serviceaccount", viewer, "-n", OPERATOR_NAMESPACE, check=False)
