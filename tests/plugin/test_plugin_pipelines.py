"""``kubectl sj list`` with pipelines (the UPSTREAM column) and ``kubectl sj tree``, through real kubectl.

No operator runs: statuses are written with the emulator's ``patch_status`` as the operator would.
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

from plugin_helpers import Sj, scheduled_job

from kube_emulator import Emulator

SJ = "punctual.dev/v1"


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def downstream(name: str, *upstreams: Any) -> dict[str, Any]:
    body = scheduled_job(name, dependsOn=[u if isinstance(u, dict) else {"name": u} for u in upstreams])
    del body["spec"]["schedule"]
    return body


def pipeline(emulator: Emulator) -> None:
    emulator.create(scheduled_job("extract", schedule="*/2 * * * *"))
    emulator.create(downstream("transform", "extract"))
    emulator.create(downstream("report", "extract", "transform"))
    for name, result in (("extract", "Succeeded"), ("transform", "Failed")):
        emulator.patch_status(SJ, "scheduledjobs", name, {"lastResult": result}, namespace="default")


def test_list_shows_an_upstream_column_when_a_pipeline_is_listed(emulator: Emulator, sj: Sj) -> None:
    pipeline(emulator)
    lines = ok(sj("list")).splitlines()
    assert re.split(r"\s{2,}", lines[0]) == [
        "NAME", "SCHEDULE", "UPSTREAM", "TIMEZONE", "SUSPENDED", "ACTIVE", "QUEUED", "LAST RESULT", "LAST RUN",
        "NEXT RUN",
    ]  # fmt: skip
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["extract"][1:3] == ["*/2", "*"] and rows["extract"][6] == "<none>"
    assert rows["transform"][1:3] == ["<none>", "extract"]
    assert rows["report"][1:3] == ["<none>", "extract,transform"]


def test_list_without_pipelines_has_no_upstream_column(emulator: Emulator, sj: Sj) -> None:
    emulator.create(scheduled_job("backup"))
    assert "UPSTREAM" not in ok(sj("list")).splitlines()[0]


def test_tree_prints_upstreams_and_downstreams_with_last_results(emulator: Emulator, sj: Sj) -> None:
    pipeline(emulator)
    assert ok(sj("tree", "report")) == (
        "report  <none>\n"
        "upstreams (runs after):\n"
        "├── extract  Succeeded\n"
        "└── transform  Failed\n"
        "    └── extract  Succeeded\n"
        "downstreams (run after it):\n"
        "<none>\n"
    )
    assert ok(sj("tree", "extract")) == (
        "extract  Succeeded\n"
        "upstreams (runs after):\n"
        "<none>\n"
        "downstreams (run after it):\n"
        "├── report  <none>\n"
        "└── transform  Failed\n"
        "    └── report  <none>\n"
    )


def test_tree_marks_missing_upstreams_and_cycles(emulator: Emulator, sj: Sj) -> None:
    emulator.create(downstream("a", "b", "gone"))
    emulator.create(downstream("b", "a"))
    assert ok(sj("tree", "a")) == (
        "a  <none>\n"
        "upstreams (runs after):\n"
        "├── b  <none>\n"
        "│   └── a  (cycle)\n"
        "└── gone  (missing)\n"
        "downstreams (run after it):\n"
        "└── b  <none>\n"
        "    └── a  (cycle)\n"
    )


def test_tree_of_an_unknown_name_is_one_error_line(sj: Sj) -> None:
    result = sj("tree", "nope")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "nope" in result.stderr and "Traceback" not in result.stderr


def test_next_of_a_downstream_without_schedule_says_it_runs_after_its_upstreams(emulator: Emulator, sj: Sj) -> None:
    pipeline(emulator)
    result = sj("next", "report")
    assert result.returncode == 1
    assert result.stderr.strip().endswith("report has no schedule: it runs after its upstreams (extract, transform)")
