"""``kubectl sj run NAME --env K=V --arg A --image I`` against the real API server and its RBAC.

The real kubectl and plugin, the operator as its own process (the chart's ServiceAccount), the real
Job controller. A user bound to the chart's ``<release>-edit`` role (with ``-view``: the built-in
edit role aggregates both; the tier runs no aggregation controller, so they are bound directly)
gets a Job with the overrides and a history record that shows them; a user with only ``-view`` is
refused (a run request, with or without overrides, needs ``patch``: an override can change the
image, as strong as editing the spec) and no Job appears; ``--dry-run`` prints the manifest and
creates nothing.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import yaml
from punctual_realserver import RealServer
from punctual_testing import wait_for
from realserver_support import (
    Installation,
    OperatorFactory,
    apply_in,
    history,
    jobs_of,
    kubectl_sj,
    scheduled_job,
    sj,
)

NEW_YEAR = "0 0 1 1 *"  # never due during a test: only requested runs


def role(installation: Installation, suffix: str) -> str:
    return next(
        doc["metadata"]["name"]
        for doc in installation.rbac
        if doc["kind"] == "ClusterRole" and doc["metadata"]["name"].endswith(suffix)
    )


def user(server: RealServer, installation: Installation, namespace: str, name: str, *roles: str) -> Path:
    """A ServiceAccount bound (in ``namespace``) to the chart's ClusterRoles ending in ``roles``."""
    server.kubectl("create", "serviceaccount", name, "-n", namespace)
    for suffix in roles:
        server.kubectl("create", "rolebinding", f"{name}{suffix}", f"--clusterrole={role(installation, suffix)}",
                       f"--serviceaccount={namespace}:{name}", "-n", namespace)  # fmt: skip
    account = f"system:serviceaccount:{namespace}:{name}"

    def can(verb: str) -> bool:
        args = ("auth", "can-i", verb, "scheduledjobs.punctual.dev", "-n", namespace, "--as", account)
        return server.kubectl(*args, check=False).stdout.strip() == "yes"

    wait_for(lambda: can("get"), 30, interval=0.5, what=f"{name}'s RoleBindings")
    assert can("patch") == ("-edit" in roles)
    return server.service_account_kubeconfig(namespace, name)


def created_job(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, (done.stdout, done.stderr)
    first = done.stdout.splitlines()[0]
    assert re.fullmatch(r"job\.batch/\S+ created", first), done.stdout
    return first.removeprefix("job.batch/").removesuffix(" created")


def test_an_editor_runs_with_overrides_and_history_shows_them(
    real_server: RealServer, installation: Installation, namespace: str, operator: OperatorFactory
) -> None:
    operator()
    apply_in(real_server, namespace, scheduled_job("report", NEW_YEAR, duration="1s"))
    editor = user(real_server, installation, namespace, "editor", "-view", "-edit")
    done = kubectl_sj(real_server, "run", "report", "--env", "DAY=2026-11-23", "--env", "EMPTY=", "--arg", "--full",
                      "--arg", "a b", "--image", "busybox:1.37", "--wait", "--timeout", "60s", "-n", namespace,
                      kubeconfig=editor)  # fmt: skip
    job = created_job(done)
    assert done.stdout.splitlines()[1:] == [f"job.batch/{job} Succeeded (exit code 0)"]
    body = real_server.get_json("job", job, "-n", namespace)
    main = body["spec"]["template"]["spec"]["containers"][0]
    assert main["image"] == "busybox:1.37" and main["args"] == ["--full", "a b"] and main["command"] == ["true"]
    env = {e["name"]: e.get("value", "") for e in main["env"]}
    assert env["DAY"] == "2026-11-23" and env["EMPTY"] == "" and env["PUNCTUAL_RUN"] == job
    assert body["status"]["succeeded"] == 1  # the real Job controller ran it
    expected = {"env": ["DAY=2026-11-23", "EMPTY="], "args": ["--full", "a b"], "image": "busybox:1.37"}
    assert json.loads(body["metadata"]["annotations"]["punctual.dev/run-overrides"]) == expected
    record = wait_for(
        lambda: next((r for r in history(real_server, namespace, "report") if r["job"] == job), None),
        20,
        interval=0.3,
        what="the run's record",
    )
    assert (record["trigger"], record["result"], record["image"]) == ("manual", "Succeeded", "busybox:1.37")
    assert record["overrides"] == expected  # the server kept every field (an empty env value too)
    wide = kubectl_sj(real_server, "history", "report", "-o", "wide", "-n", namespace, kubeconfig=editor)
    assert wide.returncode == 0, wide.stderr
    row = next(line for line in wide.stdout.splitlines() if job in line)
    assert "--env DAY=2026-11-23 --env EMPTY= --arg --full --arg 'a b' --image busybox:1.37" in row
    as_json = kubectl_sj(real_server, "history", "report", "-o", "json", "-n", namespace, kubeconfig=editor)
    assert next(r for r in json.loads(as_json.stdout) if r["job"] == job)["overrides"] == expected


def test_a_viewer_is_refused_and_no_job_appears(
    real_server: RealServer, installation: Installation, namespace: str, operator: OperatorFactory
) -> None:
    operator()
    apply_in(real_server, namespace, scheduled_job("report", NEW_YEAR, duration="1s"))
    viewer = user(real_server, installation, namespace, "viewer", "-view")
    for flags in (("--env", "K=V", "--image", "busybox:1.37"), ()):
        done = kubectl_sj(real_server, "run", "report", *flags, "-n", namespace, kubeconfig=viewer)
        assert done.returncode == 1, (done.stdout, done.stderr)
        assert done.stderr == (
            f'error: forbidden: you need "patch" on scheduledjobs.punctual.dev in namespace "{namespace}"\n'
        )
        assert done.stdout == ""
    annotations = sj(real_server, namespace, "report")["metadata"].get("annotations") or {}
    assert "punctual.dev/run-requested-at" not in annotations and "punctual.dev/run-overrides" not in annotations
    time.sleep(2)  # the operator had its chance to act on anything
    assert jobs_of(real_server, namespace, "report") == []
    assert history(real_server, namespace, "report") == []


def test_dry_run_prints_the_manifest_and_creates_nothing(
    real_server: RealServer, installation: Installation, namespace: str, operator: OperatorFactory
) -> None:
    operator()
    apply_in(real_server, namespace, scheduled_job("report", NEW_YEAR, duration="1s"))
    viewer = user(real_server, installation, namespace, "viewer", "-view")  # a dry run only reads
    done = kubectl_sj(real_server, "run", "report", "--env", "K=V", "--image", "busybox:1.37", "--dry-run",
                      "-n", namespace, kubeconfig=viewer)  # fmt: skip
    assert done.returncode == 0, done.stderr
    manifest = yaml.safe_load(done.stdout)
    assert (manifest["kind"], manifest["metadata"]["namespace"]) == ("Job", namespace)
    uid = sj(real_server, namespace, "report")["metadata"]["uid"]
    assert manifest["metadata"]["ownerReferences"][0]["uid"] == uid
    main = manifest["spec"]["template"]["spec"]["containers"][0]
    assert main["image"] == "busybox:1.37" and {"name": "K", "value": "V"} in main["env"]
    # The server takes it as it is (a server-side dry run of the create: valid, nothing stored).
    checked = real_server.kubectl("create", "--dry-run=server", "-f", "-", "-o", "name", stdin=done.stdout)
    assert checked.stdout.strip() == f"job.batch/{manifest['metadata']['name']}"
    json_done = kubectl_sj(real_server, "run", "report", "--arg", "x", "--dry-run=client", "-o", "json",
                           "-n", namespace)  # fmt: skip
    assert json.loads(json_done.stdout)["spec"]["template"]["spec"]["containers"][0]["args"] == ["x"]
    time.sleep(2)
    assert jobs_of(real_server, namespace, "report") == []
    annotations = sj(real_server, namespace, "report")["metadata"].get("annotations") or {}
    assert "punctual.dev/run-requested-at" not in annotations
