"""``kubectl sj suspend|resume`` on many ScheduledJobs: by names, ``-l SELECTOR``, ``--all``, ``-A``.

Through the real kubectl binary against the emulated API (no operator: suspend is a spec patch).
"""

from __future__ import annotations

import subprocess
from typing import Any

from plugin_helpers import Sj, scheduled_job

from kube_emulator import Emulator

SJ = "punctual.dev/v1"


def labelled(name: str, *, namespace: str = "default", suspend: bool = False, **labels: str) -> dict[str, Any]:
    body = scheduled_job(name, namespace=namespace, suspend=suspend)
    body["metadata"]["labels"] = labels
    return body


def suspended(emulator: Emulator, name: str, namespace: str = "default") -> bool:
    return bool(emulator.get(SJ, "scheduledjobs", name, namespace=namespace)["spec"].get("suspend"))


def run(result: subprocess.CompletedProcess[str], code: int = 0) -> tuple[str, str]:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stdout, result.stderr


def test_suspend_by_selector_changes_only_the_matching_ones_and_sums_up(emulator: Emulator, sj: Sj) -> None:
    emulator.create(labelled("etl-a", team="data"))
    emulator.create(labelled("etl-b", team="data", suspend=True))
    emulator.create(labelled("web-report", team="web"))
    out, _ = run(sj("suspend", "-l", "team=data"))
    assert out.splitlines() == [
        "scheduledjob.punctual.dev/etl-a suspended",
        "scheduledjob.punctual.dev/etl-b already suspended",
        "1 suspended, 1 already suspended",
    ]
    assert (suspended(emulator, "etl-a"), suspended(emulator, "etl-b"), suspended(emulator, "web-report")) == (
        True,
        True,
        False,
    )
    out, _ = run(sj("resume", "--selector", "team in (data,web)"))
    assert out.splitlines()[-1] == "2 resumed, 1 already resumed"  # web-report was never suspended
    assert not any(suspended(emulator, n) for n in ("etl-a", "etl-b", "web-report"))


def test_all_in_all_namespaces_names_each_namespace(emulator: Emulator, sj: Sj) -> None:
    emulator.create(labelled("a", namespace="team-a"))
    emulator.create(labelled("b", namespace="team-b"))
    out, _ = run(sj("suspend", "--all", "-A"))
    assert out.splitlines() == [
        "scheduledjob.punctual.dev/a suspended (namespace team-a)",
        "scheduledjob.punctual.dev/b suspended (namespace team-b)",
        "2 suspended, 0 already suspended",
    ]
    assert suspended(emulator, "a", "team-a") and suspended(emulator, "b", "team-b")


def test_all_stays_in_the_namespace_given(emulator: Emulator, sj: Sj) -> None:
    emulator.create(labelled("a", namespace="team-a"))
    emulator.create(labelled("b", namespace="team-b"))
    out, _ = run(sj("suspend", "--all", "-n", "team-a"))
    assert out.splitlines() == ["scheduledjob.punctual.dev/a suspended"]  # one object: no summary
    assert suspended(emulator, "a", "team-a") and not suspended(emulator, "b", "team-b")


def test_several_names(emulator: Emulator, sj: Sj) -> None:
    for name in ("x", "y"):
        emulator.create(labelled(name))
    out, _ = run(sj("suspend", "x", "y"))
    assert out.splitlines()[-1] == "2 suspended, 0 already suspended"
    assert suspended(emulator, "x") and suspended(emulator, "y")


def test_an_unknown_name_changes_nothing(emulator: Emulator, sj: Sj) -> None:
    emulator.create(labelled("x"))
    _, err = run(sj("suspend", "x", "nope"), 1)
    assert err == 'Error from server (NotFound): scheduledjobs.punctual.dev "nope" not found\n'
    assert not suspended(emulator, "x")


def test_no_match_is_not_an_error(emulator: Emulator, sj: Sj) -> None:
    emulator.create(labelled("x", team="web"))
    out, err = run(sj("suspend", "-l", "team=data"))
    assert (out, err) == ("", "No resources found in default namespace.\n")
    assert not suspended(emulator, "x")


def test_a_forbidden_object_is_reported_and_the_rest_still_change(emulator: Emulator, sj: Sj) -> None:
    emulator.create(labelled("a", team="data"))
    emulator.create(labelled("b", team="data"))
    (
        emulator.handler["patch /apis/punctual.dev/v1/namespaces/default/scheduledjobs/a"]
        << 403
        << {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403}
    )
    out, err = run(sj("suspend", "-l", "team=data"), 1)
    assert err == (
        'error: forbidden: you need "patch" on scheduledjobs.punctual.dev in namespace "default" '
        "[scheduledjob.punctual.dev/a]\n"
    )
    assert out.splitlines() == ["scheduledjob.punctual.dev/b suspended", "1 suspended, 0 already suspended, 1 failed"]
    assert suspended(emulator, "b") and not suspended(emulator, "a")


def test_usage_errors_are_one_line(emulator: Emulator, sj: Sj) -> None:
    emulator.create(labelled("x"))
    cases = {
        ("suspend",): "error: give a NAME, -l SELECTOR or --all (see 'kubectl sj suspend --help')",
        ("resume", "x", "-l", "a=b"): "error: name cannot be provided when a selector or --all is specified",
        ("suspend", "x", "-A"): "error: -A/--all-namespaces needs -l SELECTOR or --all",
    }
    for args, message in cases.items():
        _, err = run(sj(*args), 1)
        assert err == message + "\n", args
    assert not suspended(emulator, "x")
