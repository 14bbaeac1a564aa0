"""Bad ScheduledJob specs through the real API server (tests/badinput's case lists).

What the CRD schema can express, kube-apiserver rejects (test_realserver_crd checks each SCHEMA case
and the message naming the field). Everything else (cron syntax, zones, durations, impossible dates)
is stored and reaches the operator: each such ScheduledJob gets ScheduleValid=False and Ready=False
with reason InvalidSpec and a message saying what to fix, one Warning Event, one log line, no Job;
the operator keeps running and the good ScheduledJob beside them keeps its cadence.
"""

from __future__ import annotations

import itertools
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from punctual_realserver import RealServer
from punctual_testing import wait_for
from realserver_support import (
    Installation,
    OperatorFactory,
    bad_cases,
    condition,
    events_of,
    jobs_of,
    parse_time,
    scheduled_job,
    sj,
    slots_of,
)

CASES = bad_cases()
TEMPLATE_ANNOTATIONS = {"punctual.dev/sandbox-duration": "0.5s"}
EVERY_2S = "*/2 * * * * *"

# Operator cases the real server does not let through unchanged, and what it does instead.
# kube-apiserver 1.20.2 built with Go >= 1.16 reads "" as null (kubernetes/kubernetes#99804), so an
# empty schedule is refused as not a string; an unknown field is pruned, not rejected.
SERVER_REFUSES = {
    "empty schedule": 'spec.schedule: Invalid value: "null": spec.schedule in body must be of type string'
}
SERVER_PRUNES = {"unknown field": "scheduel", "unknown retry field": "retry.limt"}
"""Unknown fields (a dotted path below spec) that the structural schema prunes: the operator never sees them."""


def _has(spec: dict[str, Any], path: str) -> bool:
    *parents, leaf = path.split(".")
    for part in parents:
        spec = spec.get(part) or {}
    return leaf in spec


def _name(case_id: str) -> str:
    return "bad-" + re.sub(r"[^a-z0-9]+", "-", case_id.lower()).strip("-")


def _body(name: str, spec: dict[str, Any], namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "punctual.dev/v1",
        "kind": "ScheduledJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def _create(server: RealServer, body: dict[str, Any], *args: str) -> Any:
    return server.kubectl("create", "--validate=false", *args, "-f", "-", stdin=json.dumps(body), check=False)


@pytest.mark.parametrize(("spec", "words"), [pytest.param(s, w, id=i) for i, s, w in CASES.OPERATOR])
def test_the_server_stores_what_only_the_operator_can_judge(
    real_server: RealServer,
    installation: Installation,
    namespace: str,
    request: pytest.FixtureRequest,
    spec: dict[str, Any],
    words: list[str],
) -> None:
    case_id = request.node.callspec.id
    done = _create(real_server, _body("bad", spec, namespace), "-o", "json")
    if case_id in SERVER_REFUSES:
        assert done.returncode == 1 and SERVER_REFUSES[case_id] in done.stderr, done.stderr
        return
    assert done.returncode == 0, done.stderr
    stored = sj(real_server, namespace, "bad")["spec"]
    if case_id in SERVER_PRUNES:
        assert not _has(stored, SERVER_PRUNES[case_id]) and _has(spec, SERVER_PRUNES[case_id])
        return
    for key, value in spec.items():
        if isinstance(value, dict):
            # An object's sent fields kept as written (the schema's defaults added beside them: retry's).
            assert {k: stored[key].get(k) for k in value} == value, key
        else:
            assert stored[key] == value, key  # kept as written (defaults added beside it)


def _judged_by_the_operator() -> list[tuple[str, dict[str, Any], list[str]]]:
    return [case for case in CASES.OPERATOR if case[0] not in SERVER_REFUSES and case[0] not in SERVER_PRUNES]


def test_bad_specs_get_conditions_events_and_one_log_line_while_a_good_one_runs(
    real_server: RealServer, namespace: str, operator: OperatorFactory
) -> None:
    cases = _judged_by_the_operator()
    for case_id, spec, _ in cases:
        assert _create(real_server, _body(_name(case_id), spec, namespace)).returncode == 0, case_id
    # Allow, not Forbid: under load the stand-in kubelet may take over 2 s to finish a run, and a
    # Forbid skip then would be correct behaviour, not a missed cadence.
    good = scheduled_job("good", EVERY_2S, duration="0.5s", concurrencyPolicy="Allow", successfulJobsHistoryLimit=20)
    real_server.apply(good | {"metadata": {"name": "good", "namespace": namespace}})
    process = operator()

    def judged() -> bool:
        return all(
            (c := condition(real_server, namespace, _name(i), "Ready")) is not None and c["status"] == "False"
            for i, _, _ in cases
        )

    wait_for(judged, 30, interval=0.5, what="Ready=False on every bad ScheduledJob")
    # The good one keeps its cadence meanwhile: a Job for each 2-second slot.
    wait_for(lambda: len(jobs_of(real_server, namespace, "good")) >= 4, 20, interval=0.3, what="four good runs")

    log = process.log()
    for case_id, _, words in cases:
        name = _name(case_id)
        for type_ in ("ScheduleValid", "Ready"):
            cond = condition(real_server, namespace, name, type_)
            assert cond is not None and (cond["status"], cond["reason"]) == ("False", "InvalidSpec"), (name, cond)
            for word in words:
                assert word in cond["message"], (name, word, cond["message"])
        message = condition(real_server, namespace, name, "Ready")["message"]  # type: ignore[index]
        warnings = [e for e in events_of(real_server, namespace, name) if e["type"] == "Warning"]
        assert [(e["reason"], e["message"]) for e in warnings] == [("InvalidSpec", message)], (name, warnings)
        assert warnings[0].get("count", 1) == 1, (name, warnings[0])
        lines = [line for line in log.splitlines() if f"{namespace}/{name}: InvalidSpec: " in line]
        assert len(lines) == 1, (name, lines)
        assert message in lines[0]
        assert jobs_of(real_server, namespace, name) == []

    slots = sorted(parse_time(s) for s in slots_of(jobs_of(real_server, namespace, "good")))
    assert all(b - a == timedelta(seconds=2) for a, b in itertools.pairwise(slots)), slots
    ready = condition(real_server, namespace, "good", "Ready")
    assert ready is not None and ready["status"] == "True"
    assert process.proc is not None and process.proc.poll() is None, "the operator stopped"
    assert "Traceback" not in log and " ERROR " not in log, log[-3000:]


def test_fixing_a_bad_spec_makes_it_run(real_server: RealServer, namespace: str, operator: OperatorFactory) -> None:
    operator()
    body = scheduled_job("fixme", "every two seconds", duration="0.5s")
    real_server.apply(body | {"metadata": {"name": "fixme", "namespace": namespace}})
    wait_for(lambda: (c := condition(real_server, namespace, "fixme", "Ready")) and c["status"] == "False",
             20, interval=0.3, what="Ready=False")  # fmt: skip
    real_server.kubectl(
        "patch", "sj", "fixme", "-n", namespace, "--type=merge", "-p", '{"spec":{"schedule":"*/2 * * * * *"}}'
    )
    wait_for(lambda: jobs_of(real_server, namespace, "fixme"), 20, interval=0.3, what="a run once fixed")
    for type_ in ("ScheduleValid", "Ready"):

        def true(t: str = type_) -> Any:
            return (c := condition(real_server, namespace, "fixme", t)) and c["status"] == "True" and c

        ok = wait_for(true, 10, interval=0.3, what=f"{type_}=True")
        assert ok["reason"] != "InvalidSpec"


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"concurrencyPolicy": "Sometimes"}, "spec.concurrencyPolicy"),
        ({"successfulJobsHistoryLimit": -1}, "spec.successfulJobsHistoryLimit"),
        ({"suspend": "yes"}, "spec.suspend"),
    ],
    ids=["bad enum", "negative limit", "wrong type"],
)
def test_a_bad_update_is_refused_and_the_old_spec_keeps_running(
    real_server: RealServer, namespace: str, operator: OperatorFactory, patch: dict[str, Any], field: str
) -> None:
    operator()
    real_server.apply(
        scheduled_job("steady", EVERY_2S, duration="0.5s") | {"metadata": {"name": "steady", "namespace": namespace}}
    )
    wait_for(lambda: jobs_of(real_server, namespace, "steady"), 20, interval=0.3, what="a first run")
    before = sj(real_server, namespace, "steady")
    done = real_server.kubectl(
        "patch", "sj", "steady", "-n", namespace, "--type=merge", "-p", json.dumps({"spec": patch}), check=False
    )
    assert done.returncode == 1 and f'The ScheduledJob "steady" is invalid: {field}:' in done.stderr, done.stderr
    after = sj(real_server, namespace, "steady")
    assert after["spec"] == before["spec"] and after["metadata"]["generation"] == before["metadata"]["generation"]
    count = len(jobs_of(real_server, namespace, "steady"))
    wait_for(lambda: len(jobs_of(real_server, namespace, "steady")) >= count + 2, 15, interval=0.3, what="more runs")
