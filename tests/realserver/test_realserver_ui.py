"""``kubectl sj ui`` against a real API server, in a real browser, as a restricted ServiceAccount.

The account may only read ScheduledJobs, through the chart's ``<release>-view`` ClusterRole (the
one aggregated into the built-in view role; the tier's controller manager runs no aggregation
controller, so it is bound directly), in one namespace. The fleet shows that
namespace's ScheduledJobs; suspending one, or listing all namespaces, is the forbidden page naming
the verb and the resource the account lacks: the UI acts with the user's RBAC, nothing more.
"""

from __future__ import annotations

import pytest
from punctual_realserver import RealServer
from punctual_testing import wait_for
from punctual_ui import UiProcess, chromium, chromium_path, screenshot
from realserver_support import Installation, apply_in, scheduled_job

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


pytestmark = pytest.mark.realserver
