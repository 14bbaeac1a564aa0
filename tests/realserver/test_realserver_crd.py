"""The ScheduledJob CRD on the real API server: Established, its names (``sj``), its printer columns
filled in by a real run, ``kubectl explain`` from the published schema, and the schema's rejections.

tests/unit/test_crd.py checks the manifest offline and tests/badinput checks the schema with
jsonschema; here kube-apiserver 1.20.2 itself validates, and its error message must name the field.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from punctual_realserver import RealServer
from punctual_testing import PRINTER_COLUMNS, load_crd, wait_for
from realserver_support import Installation, OperatorFactory, bad_cases, scheduled_job, sj

from punctual.api import HistoryRecord, ScheduledJobSpec

SCHEMA = bad_cases().SCHEMA
CRD_NAME = "scheduledjobs.punctual.dev"
EVERY_4S = "*/4 * * * * *"


def _words(text: str) -> str:
    return " ".join(text.split())


def test_the_crd_is_established_with_its_names(real_server: RealServer, installation: Installation) -> None:
    crd = real_server.get_json("crd", CRD_NAME)
    conditions = {c["type"]: c for c in crd["status"]["conditions"]}
    assert conditions["Established"]["status"] == "True", conditions
    assert conditions["NamesAccepted"]["status"] == "True", conditions
    assert crd["status"]["acceptedNames"]["shortNames"] == ["sj"]
    assert crd["status"]["acceptedNames"]["kind"] == "ScheduledJob"
    assert crd["status"]["storedVersions"] == ["v1"]
    served = real_server.kubectl("api-resources", "--api-group", "punctual.dev", "-o", "wide").stdout.splitlines()
    rows = sorted(re.split(r"\s+", line)[:5] for line in served[1:])
    assert rows == [
        ["calendars", "cal", "punctual.dev/v1", "true", "Calendar"],
        ["scheduledjobs", "sj", "punctual.dev/v1", "true", "ScheduledJob"],
    ]


def _table(server: RealServer, namespace: str, resource: str) -> list[list[str]]:
    return [
        re.split(r"\s{2,}", line.strip())
        for line in server.kubectl("get", resource, "-n", namespace).stdout.splitlines()
    ]


def test_kubectl_get_prints_the_columns_with_the_operators_values(
    real_server: RealServer, namespace: str, operator: OperatorFactory
) -> None:
    operator()
    real_server.apply(
        scheduled_job("tick", EVERY_4S, duration="1s") | {"metadata": {"name": "tick", "namespace": namespace}}
    )
    wait_for(lambda: (sj(real_server, namespace, "tick").get("status") or {}).get("lastResult") == "Succeeded",
             25, interval=0.3, what="a finished run")  # fmt: skip

    def still() -> tuple[dict[str, Any], list[list[str]]] | None:
        before = sj(real_server, namespace, "tick")
        table = _table(real_server, namespace, "sj")
        return (before, table) if sj(real_server, namespace, "tick") == before else None

    body, table = wait_for(still, 20, interval=0.2, what="a table read while the status held still")
    assert table[0] == ["NAME", *(c.upper() for c in PRINTER_COLUMNS)]
    status = body["status"]
    row = dict(zip(table[0], table[1], strict=True))
    assert row["NAME"] == "tick" and row["SCHEDULE"] == EVERY_4S and row["SUSPEND"] == "false"
    assert row["ACTIVE"] == str(status["activeCount"]) and row["QUEUED"] == str(status["queuedCount"])
    assert row["LAST RESULT"] == status["lastResult"] == "Succeeded"
    assert re.fullmatch(r"\d+s", row["LAST SCHEDULE"]), row  # a date column: kubectl prints its age
    assert row["NEXT RUN"] == status["nextScheduleTime"]
    assert re.fullmatch(r"\d+s", row["AGE"]), row
    # The plural with its group and the singular print the same table.
    for resource in ("scheduledjobs.punctual.dev", "scheduledjob"):
        other = _table(real_server, namespace, resource)
        assert other[0] == table[0] and [r[:3] for r in other[1:]] == [r[:3] for r in table[1:]]


def test_explain_shows_the_documented_fields(real_server: RealServer, installation: Installation) -> None:
    spec = _words(real_server.kubectl("explain", "scheduledjob.spec").stdout)
    for name, field in ScheduledJobSpec.model_fields.items():
        assert f"{name} <" in spec, name
        if field.description:
            assert _words(field.description) in spec, name
    assert "jobTemplate <Object> -required-" in spec
    concurrency = _words(real_server.kubectl("explain", "sj.spec.concurrencyPolicy").stdout)
    assert "FIELD: concurrencyPolicy <string>" in concurrency
    assert _words(ScheduledJobSpec.model_fields["concurrencyPolicy"].description or "") in concurrency
    records = _words(real_server.kubectl("explain", "scheduledjobs.status.history").stdout)
    for name in HistoryRecord.model_fields:
        assert f"{name} <" in records, name


def _crd_field(case_words: list[str]) -> str:
    return f"spec.{case_words[0]}"


@pytest.mark.parametrize(("spec", "words"), [pytest.param(s, w, id=i) for i, s, w in SCHEMA])
def test_the_servers_schema_rejects_it_and_names_the_field(
    real_server: RealServer, installation: Installation, namespace: str, spec: dict[str, Any], words: list[str]
) -> None:
    body = {"apiVersion": "punctual.dev/v1", "kind": "ScheduledJob", "metadata": {"name": "bad"}, "spec": spec}
    # --validate=false: the server's own validation, not kubectl's client-side check of the schema.
    done = real_server.kubectl(
        "create", "--validate=false", "-n", namespace, "-f", "-", stdin=json.dumps(body), check=False
    )
    assert done.returncode == 1, done.stdout
    message = done.stderr.strip()
    assert message.startswith('The ScheduledJob "bad" is invalid: '), message
    assert _crd_field(words) + ":" in message, message
    for word in words:
        assert word in message, (word, message)
    assert real_server.kubectl("get", "sj", "bad", "-n", namespace, check=False).returncode == 1


def test_the_case_list_covers_every_enum_and_bound_of_the_schema() -> None:
    """Each enum, minimum and maximum of the spec schema has a SCHEMA case that breaks it."""
    props = load_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    broken = {words[0] for _, _, words in SCHEMA}
    for name, node in props.items():
        if "enum" in node or "minimum" in node:
            assert name in broken, name
    # The maxima too: each one has a case over it.
    over = {w[0] for _, s, w in SCHEMA if isinstance(s.get(w[0]), int) and s[w[0]] > props[w[0]].get("maximum", 10**20)}
    assert {"historyLimit", "maxCatchUp", "maxQueued", "pauseAfterFailures", "maxActive"} <= over
