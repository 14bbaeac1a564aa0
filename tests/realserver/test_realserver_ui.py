"""``kubectl sj ui`` against a real API server: as a restricted ServiceAccount in a real browser, and
as the chart's own UI ServiceAccount (``ui.enabled``) through every page and action.

The restricted account may only read ScheduledJobs, through the chart's ``<release>-view`` ClusterRole (the
one aggregated into the built-in view role; the tier's controller manager runs no aggregation
controller, so it is bound directly), in one namespace. The fleet shows that
namespace's ScheduledJobs; suspending one, or listing all namespaces, is the forbidden page naming
the verb and the resource the account lacks: the UI acts with the user's RBAC, nothing more.
"""

from __future__ import annotations

import html
import re
import urllib.error
import urllib.request
from urllib.parse import urljoin

import pytest
from punctual_realserver import RealServer
from punctual_testing import wait_for
from punctual_ui import UiProcess, chromium, chromium_path, screenshot
from realserver_support import (
    OPERATOR_NAMESPACE,
    Installation,
    OperatorFactory,
    apply_in,
    render_chart,
    scheduled_job,
)

VIEWER = "ui-viewer"


def test_a_viewer_sees_the_fleet_and_a_forbidden_page_for_suspend(
    real_server: RealServer, installation: Installation, namespace: str
) -> None:
    chromium_path()
    for name, schedule in (("report", "*/5 * * * *"), ("backup", "0 3 * * *")):
        apply_in(real_server, namespace, scheduled_job(name, schedule))
    real_server.kubectl("create", "serviceaccount", VIEWER, "-n", namespace)
    view_role = next(
        doc["metadata"]["name"]
        for doc in installation.rbac
        if doc["kind"] == "ClusterRole" and doc["metadata"]["name"].endswith("-view")
    )
    real_server.kubectl(
        "create",
        "rolebinding",
        VIEWER,
        f"--clusterrole={view_role}",
        f"--serviceaccount={namespace}:{VIEWER}",
        "-n",
        namespace,
    )
    account = f"system:serviceaccount:{namespace}:{VIEWER}"

    def can(verb: str) -> bool:
        args = ("auth", "can-i", verb, "scheduledjobs.punctual.dev", "-n", namespace, "--as", account)
        return real_server.kubectl(*args, check=False).stdout.strip() == "yes"

    wait_for(lambda: can("list"), 30, interval=0.5, what="the viewer's RoleBinding")
    assert not can("patch")
    kubeconfig = real_server.service_account_kubeconfig(namespace, VIEWER)

    with UiProcess(kubeconfig=kubeconfig) as ui, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(20_000)
        page.goto(ui.url)
        assert page.eval_on_selector_all("#fleet tbody tr", "rows => rows.map(r => r.dataset.name)") == [
            "backup",
            "report",
        ]
        assert f"in namespace {namespace}" in page.inner_text("h1")
        screenshot(page, "realserver-fleet")

        page.click('#fleet a:text("report")')
        page.wait_for_selector("#suspend")
        with page.expect_navigation():
            page.click("#suspend")
        assert page.inner_text("#error h1").startswith("Forbidden")
        message = page.inner_text("#error .message")
        assert f'you need "patch" on scheduledjobs.punctual.dev in namespace "{namespace}"' in message, message
        screenshot(page, "realserver-forbidden")
        assert real_server.get_json("scheduledjob", "report", "-n", namespace)["spec"].get("suspend") is not True

        response = page.goto(ui.url + "?ns=")
        assert response.status == 403
        message = page.inner_text("#error .message")
        assert '"list" on scheduledjobs.punctual.dev at the cluster scope' in message, message


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def fetch(url: str, *, post: bool = False) -> tuple[int, str, str]:
    """(status, body, Location) of one request, redirects not followed."""
    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, data=b"" if post else None, method="POST" if post else "GET")
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.read().decode(), response.headers.get("Location", "")
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode(), exc.headers.get("Location", "")


def test_the_charts_ui_role_covers_every_page_and_action(
    real_server: RealServer, installation: Installation, namespace: str, operator: OperatorFactory
) -> None:
    """The chart's UI ServiceAccount and role (helm-rendered, as ui.enabled installs them), enforced
    by the real RBAC: the fleet of all namespaces, the timeline, a job's page with its Events, Run
    now to its outcome, a run's page with its Job, suspend and resume; nothing is forbidden."""
    objects = [
        doc
        for doc in render_chart("--set", "ui.enabled=true")
        if doc["metadata"]["name"].endswith("-ui")
        and doc["kind"] in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding")
    ]
    assert sorted(doc["kind"] for doc in objects) == ["ClusterRole", "ClusterRoleBinding", "ServiceAccount"]
    real_server.apply(objects)
    account = next(doc for doc in objects if doc["kind"] == "ServiceAccount")["metadata"]["name"]
    kubeconfig = real_server.service_account_kubeconfig(OPERATOR_NAMESPACE, account)
    operator()
    apply_in(real_server, namespace, scheduled_job("report", "0 3 * * *", duration="1s"))

    # -A, as the chart's Deployment runs it (the ServiceAccount, not a person, is who acts).
    with UiProcess("-A", kubeconfig=kubeconfig) as ui:
        pages = {
            "fleet": ui.url,
            "timeline": ui.url + "timeline",
            "job": ui.url + f"ns/{namespace}/sj/report",
        }
        for what, url in pages.items():
            status, body, _ = fetch(url)
            assert status == 200, (what, html.unescape(body)[-2000:])
            assert "forbidden" not in body.lower(), (what, html.unescape(body))
        status, body, _ = fetch(ui.url)
        assert f'data-namespace="{namespace}"' in body and 'data-name="report"' in body

        status, _, location = fetch(ui.url + f"ns/{namespace}/sj/report/run", post=True)
        assert status == 303 and "?run=" in location, (status, location)

        def finished() -> str | None:
            _, page, _ = fetch(urljoin(ui.url, location))
            assert "forbidden" not in page.lower(), html.unescape(page)
            match = re.search(r'<div id="outcome" class="[^"]*" data-state="finished">', page)
            return page if match else None

        page = wait_for(finished, 60, interval=0.5, what="Run now's outcome on the job's page")
        job = re.search(r'data-job="([^"]+)" data-result="Succeeded" data-trigger="manual"', page)
        assert job, html.unescape(page)
        status, body, _ = fetch(ui.url + f"ns/{namespace}/sj/report/runs/{job.group(1)}")
        assert status == 200 and f"name: {job.group(1)}" in body  # the Job's manifest
        assert "forbidden" not in body.lower(), html.unescape(body)

        for action, value in (("suspend", True), ("resume", False)):
            status, _, location = fetch(ui.url + f"ns/{namespace}/sj/report/{action}", post=True)
            assert status == 303, action
            assert bool(real_server.get_json("scheduledjob", "report", "-n", namespace)["spec"].get("suspend")) is value


pytestmark = pytest.mark.realserver
