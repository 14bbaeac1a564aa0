"""The simulated Job controller: lifecycle, outcomes, deadlines, logs, deletion."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from emulator_helpers import Api, wait_for

from kube_emulator import DURATION_ANNOTATION, EXIT_CODE_ANNOTATION, Emulator, JobController
from kube_emulator.jobs import parse_duration

JOBS = "/apis/batch/v1/namespaces/default/jobs"
PODS = "/api/v1/namespaces/default/pods"


def job(name: str, *, annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    container = {
        "name": "main",
        "image": "registry.example/app:1.2",
        "env": [{"name": "PUNCTUAL_SCHEDULED_TIME", "value": "2030-01-01T00:00:00Z"}],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [container]}}, **spec},
    }


def scenario(job: dict[str, Any]) -> tuple[float, int]:
    name = job["metadata"]["name"]
    return {"fails": (0.1, 3), "slow": (5.0, 0)}.get(name, (0.1, 0))


@pytest.fixture
def controller() -> JobController:
    return JobController(default_duration=0.1)


@pytest.fixture
def emulator(controller: JobController) -> Iterator[Emulator]:
    with Emulator(seed=1, controllers=[controller]) as emu:
        yield emu


def finished(api: Api, name: str) -> dict[str, Any] | None:
    obj: dict[str, Any] = api.get(f"{JOBS}/{name}").json()
    types = {c["type"] for c in obj.get("status", {}).get("conditions", [])}
    return obj if types & {"Complete", "Failed"} else None


def pods_of(api: Api, name: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get(PODS, params={"labelSelector": f"job-name={name}"}).json()["items"]
    return items


def test_successful_job(api: Api) -> None:
    api.post(JOBS, job("ok"))
    running = wait_for(lambda: api.get(f"{JOBS}/ok").json()["status"].get("active") == 1 and pods_of(api, "ok"))
    pod = running[0]
    assert pod["metadata"]["labels"]["batch.kubernetes.io/job-name"] == "ok"
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "Job"
    assert pod["spec"]["containers"][0]["image"] == "registry.example/app:1.2"

    done = wait_for(lambda: finished(api, "ok"))
    status = done["status"]
    assert status["succeeded"] == 1 and "active" not in status
    assert status["startTime"] and status["completionTime"]
    assert [c["type"] for c in status["conditions"]] == ["SuccessCriteriaMet", "Complete"]

    pod = api.get(f"{PODS}/{pod['metadata']['name']}").json()
    assert pod["status"]["phase"] == "Succeeded"
    container = pod["status"]["containerStatuses"][0]
    assert container["state"]["terminated"]["exitCode"] == 0
    assert container["state"]["terminated"]["reason"] == "Completed"
    assert container["imageID"].startswith("docker.io/library/registry.example/app:1.2@sha256:")

    log = api.get(f"{PODS}/{pod['metadata']['name']}/log")
    assert log.headers["Content-Type"].startswith("text/plain")
    assert "job ok" in log.text and "PUNCTUAL_SCHEDULED_TIME=2030-01-01T00:00:00Z" in log.text
    assert "exit code 0" in log.text


def test_failed_job_by_annotation(api: Api) -> None:
    api.post(JOBS, job("bad", annotations={DURATION_ANNOTATION: "100ms", EXIT_CODE_ANNOTATION: "2"}))
    status = wait_for(lambda: finished(api, "bad"))["status"]
    assert status["failed"] == 1 and "succeeded" not in status
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "BackoffLimitExceeded"
    pod = pods_of(api, "bad")[0]
    assert pod["status"]["phase"] == "Failed"
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"] == pod["status"]["containerStatuses"][0][
        "state"
    ]["terminated"] | {"exitCode": 2, "reason": "Error"}


def test_deadline_exceeded(api: Api) -> None:
    api.post(JOBS, job("late", annotations={DURATION_ANNOTATION: "1m"}, activeDeadlineSeconds=0))
    status = wait_for(lambda: finished(api, "late"))["status"]
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "DeadlineExceeded"


def test_scenario_callback_wins(emulator: Emulator, controller: JobController) -> None:
    controller.scenario = scenario
    api = Api(emulator.url)
    api.post(JOBS, job("fails", annotations={EXIT_CODE_ANNOTATION: "0"}))
    assert wait_for(lambda: finished(api, "fails"))["status"]["failed"] == 1
    api.close()


def test_deleting_a_job_stops_it_and_collects_its_pod(emulator: Emulator, controller: JobController) -> None:
    controller.scenario = scenario
    api = Api(emulator.url)
    api.post(JOBS, job("slow"))
    wait_for(lambda: pods_of(api, "slow"))
    assert controller.active == 1
    api.delete(f"{JOBS}/slow")
    wait_for(lambda: controller.active == 0, timeout=2)
    assert pods_of(api, "slow") == []
    api.close()


def test_annotations_on_the_pod_template(api: Api) -> None:
    body = job("tpl")
    body["spec"]["template"]["metadata"] = {"annotations": {EXIT_CODE_ANNOTATION: "1"}}
    api.post(JOBS, body)
    assert wait_for(lambda: finished(api, "tpl"))["status"]["failed"] == 1


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("3s", 3.0), ("2m", 120.0), ("1h", 3600.0), ("500ms", 0.5), ("1.5", 1.5), ("7", 7.0), ("1m30s", 90.0)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_parse_duration_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        parse_duration("soon")
