"""``kubectl sj run NAME --env K=V --arg A --image I [--container C] [--dry-run] [-o yaml|json]``.

The real kubectl and plugin against the emulated API. What the plugin sends (one merge patch of the
request and its overrides), what it refuses before sending anything, and the dry run's manifest;
the operator's side is ``tests/integration/test_run_overrides.py`` and the real-server tier.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from plugin_helpers import Sj, scheduled_job

from kube_emulator import Emulator
from punctual.core.run_request import parse
from punctual.jobs import ANNOTATION_RUN_OVERRIDES, ANNOTATION_RUN_REQUEST, LABEL_TRIGGER, manual_job_name

SJ = "punctual.dev/v1"
PATH = "/apis/punctual.dev/v1/namespaces/default/scheduledjobs/report"
TWO = {
    "spec": {
        "template": {
            "spec": {
                "restartPolicy": "Never",
                "initContainers": [{"name": "setup", "image": "alpine:3", "args": ["prepare"]}],
                "containers": [
                    {
                        "name": "main",
                        "image": "busybox:1.36",
                        "command": ["sh", "-c"],
                        "args": ["date"],
                        "env": [{"name": "MODE", "value": "nightly"}],
                    },
                    {"name": "side", "image": "envoy:1"},
                ],
            }
        }
    }
}


@pytest.fixture
def report(emulator: Emulator) -> str:
    emulator.create(scheduled_job("report", schedule="0 0 1 1 *", jobTemplate=TWO))
    return "report"


def annotations(emulator: Emulator) -> dict[str, str]:
    return emulator.get(SJ, "scheduledjobs", "report", namespace="default")["metadata"].get("annotations") or {}


def version(emulator: Emulator) -> str:
    return str(emulator.get(SJ, "scheduledjobs", "report", namespace="default")["metadata"]["resourceVersion"])


def containers(manifest: dict[str, Any], key: str = "containers") -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in manifest["spec"]["template"]["spec"][key]}


def patches(emulator: Emulator) -> list[str]:
    return [r.path for r in emulator.request_log if r.verb == "patch"]


def test_the_request_and_its_overrides_go_in_one_patch(emulator: Emulator, sj: Sj, report: str) -> None:
    done = sj("run", report, "--env", "DAY=2026-11-23", "--env", "NOTE=a=b", "--arg", "--full", "--arg=-v",
              "--image", "busybox:1.37", "-c", "main", "--timeout", "1s")  # fmt: skip
    # No operator here: the request is written, then the wait for an answer times out.
    assert done.returncode == 1 and "timed out waiting for the operator" in done.stderr
    assert patches(emulator) == [PATH]  # one merge patch carried both annotations
    sent = annotations(emulator)
    token = sent[ANNOTATION_RUN_REQUEST]
    assert json.loads(sent[ANNOTATION_RUN_OVERRIDES]) == {
        "token": token,
        "env": {"DAY": "2026-11-23", "NOTE": "a=b"},
        "args": ["--full", "-v"],
        "image": "busybox:1.37",
        "container": "main",
    }


def test_a_run_without_overrides_removes_a_stale_one_in_the_same_patch(emulator: Emulator, sj: Sj, report: str) -> None:
    sj("run", report, "--image", "busybox:1.37", "--timeout", "1s")
    assert ANNOTATION_RUN_OVERRIDES in annotations(emulator)
    plain = sj("run", report, "--timeout", "1s")
    assert plain.returncode == 1
    assert patches(emulator) == [PATH, PATH]
    now = annotations(emulator)
    assert ANNOTATION_RUN_OVERRIDES not in now and ANNOTATION_RUN_REQUEST in now


def test_the_last_env_of_a_name_wins(emulator: Emulator, sj: Sj, report: str) -> None:
    sj("run", report, "--env", "K=1", "--env", "L=2", "--env", "K=3", "--timeout", "1s")
    assert parse(annotations(emulator)[ANNOTATION_RUN_OVERRIDES]).env == (("L", "2"), ("K", "3"))


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--env", "DAY"], "error: --env 'DAY': expected NAME=VALUE"),
        (["--env", "=x"], "error: --env '=x': env name '' must be a C identifier"),
        (["--env", "1DAY=x"], "error: --env '1DAY=x': env name '1DAY' must be a C identifier"),
        (["--env", "MY-DAY=x"], "error: --env 'MY-DAY=x': env name 'MY-DAY' must be a C identifier"),
        (["--env", "PUNCTUAL_RUN=x"], "error: --env 'PUNCTUAL_RUN=x': env PUNCTUAL_RUN is set by Punctual"),
        (["--arg", "a", "--arg", ""], "error: --arg '': an argument must not be empty"),
        (["--image", ""], "error: --image: image '' must be a non-empty image reference without spaces"),
        (["--image", "busy box"], "error: --image: image 'busy box' must be a non-empty image reference"),
        (["-c", "main"], "error: --container needs --env, --arg or --image"),
        (["--image", "x:1", "-c", "sidecar"], "error: container 'sidecar' is not in the jobTemplate"),
        (["--image", "x:1", "-c", "setup"], "error: container 'setup' is not in the jobTemplate"),
        (["-o", "yaml"], "error: --output needs --dry-run=client"),
        (["--dry-run=server"], 'error: --dry-run must be "none" or "client", got "server"'),
        (["--dry-run", "--wait"], "error: --dry-run runs nothing to --wait for"),
    ],
    ids=[
        "env without =",
        "env without a name",
        "env name starts with a digit",
        "env name with a dash",
        "env a Punctual variable",
        "an empty arg",
        "empty image",
        "image with a space",
        "container alone",
        "no such container",
        "an init container",
        "output without dry run",
        "server dry run",
        "dry run and wait",
    ],
)
def test_bad_flags_are_one_line_and_nothing_is_sent(
    emulator: Emulator, sj: Sj, report: str, flags: list[str], message: str
) -> None:
    before = version(emulator)
    done = sj("run", report, *flags)
    assert done.returncode == 1, done.stdout
    assert done.stderr.startswith(message) and done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert version(emulator) == before and ANNOTATION_RUN_REQUEST not in annotations(emulator)
    assert patches(emulator) == []


def test_dry_run_prints_the_job_with_the_overrides_and_sends_nothing(emulator: Emulator, sj: Sj, report: str) -> None:
    before = version(emulator)
    done = sj("run", report, "--env", "MODE=full", "--env", "DAY=2026-11-23", "--arg", "echo hi", "--image",
              "busybox:1.37", "--dry-run")  # fmt: skip
    assert done.returncode == 0, done.stderr
    job = yaml.safe_load(done.stdout)
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    name = job["metadata"]["name"]
    assert name.startswith("report-m") and job["metadata"]["labels"][LABEL_TRIGGER] == "manual"
    assert job["metadata"]["ownerReferences"][0]["name"] == "report"
    got = containers(job)
    for container in got.values():  # every container, in place
        assert container["image"] == "busybox:1.37" and container["args"] == ["echo hi"]
        env = [(e["name"], e.get("value")) for e in container["env"]]
        assert ("DAY", "2026-11-23") in env and ("PUNCTUAL_RUN", name) in env
    assert next((e["name"], e["value"]) for e in got["main"]["env"]) == ("MODE", "full")
    assert got["main"]["command"] == ["sh", "-c"]
    assert containers(job, "initContainers")["setup"] == {
        "name": "setup",
        "image": "alpine:3",
        "args": ["prepare"],
        "env": containers(job, "initContainers")["setup"]["env"],  # only Punctual's variables
    }
    assert json.loads(job["metadata"]["annotations"][ANNOTATION_RUN_OVERRIDES]) == {
        "env": ["MODE=full", "DAY=2026-11-23"],
        "args": ["echo hi"],
        "image": "busybox:1.37",
    }
    # Nothing was sent: no request, no Job.
    assert version(emulator) == before and ANNOTATION_RUN_REQUEST not in annotations(emulator)
    assert patches(emulator) == []
    assert emulator.list("batch/v1", "jobs", namespace="default") == []


def test_dry_run_json_of_one_container_and_of_a_plain_run(emulator: Emulator, sj: Sj, report: str) -> None:
    done = sj("run", report, "--image", "busybox:1.37", "--container", "side", "--dry-run=client", "-o", "json")
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert {n: c["image"] for n, c in containers(job).items()} == {"main": "busybox:1.36", "side": "busybox:1.37"}
    plain = yaml.safe_load(ok_stdout(sj("run", report, "--dry-run")))
    assert ANNOTATION_RUN_OVERRIDES not in plain["metadata"]["annotations"]
    assert {n: c["image"] for n, c in containers(plain).items()} == {"main": "busybox:1.36", "side": "envoy:1"}
    assert plain["metadata"]["name"] != job["metadata"]["name"]  # each request its own token, its own Job


def test_a_bare_dry_run_takes_no_value_as_kubectls(emulator: Emulator, sj: Sj, report: str) -> None:
    done = sj("run", "--dry-run", report, "--image", "busybox:1.37")
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout)["metadata"]["name"].startswith("report-m")
    assert ANNOTATION_RUN_REQUEST not in annotations(emulator)


def test_dry_run_none_is_a_run(emulator: Emulator, sj: Sj, report: str) -> None:
    done = sj("run", report, "--dry-run=none", "--timeout", "1s")
    assert done.returncode == 1 and "timed out waiting for the operator" in done.stderr
    assert ANNOTATION_RUN_REQUEST in annotations(emulator)


def test_a_forbidden_request_says_which_verb_it_needs(emulator: Emulator, sj: Sj, report: str) -> None:
    (
        emulator.handler[f"patch {PATH}"]
        << 403
        << {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403}
    )
    done = sj("run", report, "--env", "K=V")
    assert done.returncode == 1
    assert done.stderr == 'error: forbidden: you need "patch" on scheduledjobs.punctual.dev in namespace "default"\n'
    assert ANNOTATION_RUN_REQUEST not in annotations(emulator)


def test_help_names_the_flags(sj: Sj) -> None:
    text = ok_stdout(sj("run", "--help"))
    for flag in ("--env NAME=VALUE", "--arg ARG", "--image IMAGE", "-c CONTAINER, --container CONTAINER"):
        assert flag in text
    assert "--dry-run [none|client]" in text and "patch on scheduledjobs" in text


def ok_stdout(done: Any) -> str:
    assert done.returncode == 0, done.stderr
    return str(done.stdout)


def test_the_job_name_is_the_tokens(emulator: Emulator, sj: Sj, report: str) -> None:
    sj("run", report, "--arg", "x", "--timeout", "1s")
    token = annotations(emulator)[ANNOTATION_RUN_REQUEST]
    assert parse(annotations(emulator)[ANNOTATION_RUN_OVERRIDES]).token == token
    assert manual_job_name(report, token).startswith("report-m")
