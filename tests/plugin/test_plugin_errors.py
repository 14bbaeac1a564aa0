"""kubectl_sj.errors and the CLI's usage errors: one clear line, exit code 1 (pure / no cluster)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from kubectl_sj import cli
from kubectl_sj.errors import CRD_MISSING, Request, api_error_message, forbidden_message


def test_forbidden_names_the_verb_resource_and_namespace() -> None:
    req = Request("patch", "scheduledjobs.punctual.dev", "x", "nightly")
    assert forbidden_message(req) == 'error: forbidden: you need "patch" on scheduledjobs.punctual.dev in namespace "x"'
    assert api_error_message(req, code=403, body=json.dumps({"reason": "Forbidden"})) == forbidden_message(req)


def test_forbidden_across_all_namespaces() -> None:
    message = forbidden_message(Request("list", "scheduledjobs.punctual.dev", None))
    assert message == (
        'error: forbidden: you need "list" on scheduledjobs.punctual.dev at the cluster scope (all namespaces)'
    )


def test_not_found_uses_the_servers_message_like_kubectl() -> None:
    body = json.dumps({"kind": "Status", "reason": "NotFound", "message": 'scheduledjobs.punctual.dev "x" not found'})
    req = Request("get", "scheduledjobs.punctual.dev", "default", "x")
    assert api_error_message(req, code=404, body=body) == (
        'Error from server (NotFound): scheduledjobs.punctual.dev "x" not found'
    )
    assert api_error_message(req, code=404, body="404 page not found") == (
        'Error from server (NotFound): scheduledjobs.punctual.dev "x" not found'
    )


def test_a_log_the_server_cannot_proxy_names_the_pod_and_the_kubelet() -> None:
    # What kube-apiserver 1.20 answers when the pod's Node has no address (tests/realserver).
    body = json.dumps({"kind": "Status", "code": 500, "message": "no preferred addresses found; known addresses: []"})
    assert api_error_message(Request("get", "pods/log", "default", "backup-m1-x7k2p"), code=500, body=body) == (
        "error: the API server could not get the log of pod/backup-m1-x7k2p from its node's kubelet: "
        "no preferred addresses found; known addresses: []"
    )
    # Elsewhere a Status without a reason reads as kubectl prints it, without the HTTP code.
    assert api_error_message(Request("get", "jobs.batch", "default", "x"), code=500, body=body) == (
        "Error from server: no preferred addresses found; known addresses: []"
    )


def test_crd_missing_says_how_to_install() -> None:
    req = Request("list", "scheduledjobs.punctual.dev", "default")
    assert api_error_message(req, code=404, body=None, crd_missing=True) == CRD_MISSING
    assert "helm install punctual charts/punctual" in CRD_MISSING


def test_other_errors_keep_the_servers_reason() -> None:
    body = json.dumps({"reason": "Invalid", "message": "spec.suspend: Invalid value"})
    assert api_error_message(Request("patch", "r"), code=422, body=body) == (
        "Error from server (Invalid): spec.suspend: Invalid value"
    )
    assert "Unauthorized" in api_error_message(Request("get", "r"), code=401, body=None)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_usage_error_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("frobnicate")[0] == 1
    assert "error: argument VERB: invalid choice: 'frobnicate'" in capsys.readouterr().err


def test_missing_kubeconfig_is_one_line(tmp_path: Path) -> None:
    code, out, err = run("list", "--kubeconfig", str(tmp_path / "nope"))
    assert (code, out) == (1, "")
    assert err == f"error: no kubeconfig found at {tmp_path / 'nope'}; pass --kubeconfig or set KUBECONFIG\n"


def test_unreachable_cluster_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    code, _, err = run("get", "nightly", "--kubeconfig", str(config))
    assert code == 1
    assert err == "error: unable to connect to the server at http://127.0.0.1:9: connection refused\n"


def test_completion_scripts_list_the_verbs() -> None:
    code, bash, _ = run("completion", "bash")
    assert code == 0 and "complete -F _kubectl_sj kubectl-sj" in bash
    assert "kubectl get scheduledjobs.punctual.dev -o name" in bash
    for verb in cli.VERBS:
        assert verb in bash
    code, zsh, _ = run("completion", "zsh")
    assert code == 0 and zsh.startswith("#compdef kubectl-sj") and "bashcompinit" in zsh


def test_count_flag_in_next_is_not_the_namespace() -> None:
    assert cli._count_flag(["next", "x", "-n", "5"]) == ["next", "x", "--count", "5"]
    assert cli._count_flag(["next", "x", "-n", "prod"]) == ["next", "x", "-n", "prod"]
    assert cli._count_flag(["history", "x", "-n", "5"]) == ["history", "x", "-n", "5"]
