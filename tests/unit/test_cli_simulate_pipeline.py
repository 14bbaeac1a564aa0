"""``punctual simulate a.yaml b.yaml c.yaml`` (or a folder, or one multi-document file): a pipeline.

The whole pipeline replays with the same core as the operator; every ScheduledJob's runs are in one
table, the trigger column saying which ran after their upstreams.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from punctual.cli import main

FROM, UNTIL = "2026-01-05T10:00:00Z", "2026-01-05T10:05:00Z"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pipeline.yaml"
TEMPLATE = {
    "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}
}


def document(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "punctual.dev/v1",
        "kind": "ScheduledJob",
        "metadata": {"name": name},
        "spec": {"jobTemplate": TEMPLATE, **spec},
    }


PIPELINE = [
    document("extract", schedule="*/2 * * * *"),
    document("transform", dependsOn=[{"name": "extract"}]),
    document("report", dependsOn=[{"name": "extract"}, {"name": "transform"}]),
]


def simulate(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, Any]]:
    code = main(["simulate", *argv, "--from", FROM, "--until", UNTIL, "--duration", "30s", "-o", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


def table(rows: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    return [(r["scheduledJob"], r["slot"][11:16], r["trigger"], r["result"]) for r in rows]


EXPECTED = [
    ("extract", "10:00", "schedule", "Succeeded"),
    ("transform", "10:00", "upstream", "Succeeded"),
    ("report", "10:00", "upstream", "Succeeded"),
    ("extract", "10:02", "schedule", "Succeeded"),
    ("transform", "10:02", "upstream", "Succeeded"),
    ("report", "10:02", "upstream", "Succeeded"),
    ("extract", "10:04", "schedule", "Succeeded"),
    ("transform", "10:04", "upstream", "Succeeded"),
    ("report", "10:04", "upstream", "Running"),  # started at 10:05:00, the end of the replay
]


def test_several_files_replay_as_one_pipeline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = []
    for doc in reversed(PIPELINE):  # given downstream first: the order of the files does not matter
        path = tmp_path / f"{doc['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump(doc))
        paths.append(str(path))
    assert table(simulate(capsys, *paths)) == EXPECTED


def test_a_folder_replays_every_scheduledjob_in_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for doc in PIPELINE:
        (tmp_path / f"{doc['metadata']['name']}.yml").write_text(yaml.safe_dump(doc))
    (tmp_path / "notes.txt").write_text("not a manifest")
    assert table(simulate(capsys, str(tmp_path))) == EXPECTED


def test_one_multi_document_file_is_a_pipeline_and_a_failed_upstream_skips_downstream(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump_all(PIPELINE))
    rows = table(simulate(capsys, str(path), "--fail", "extract=2"))
    assert rows[3:6] == [
        ("extract", "10:02", "schedule", "Failed"),
        ("transform", "10:02", "upstream", "Skipped"),
        ("report", "10:02", "upstream", "Skipped"),
    ]
    assert rows[6:] == EXPECTED[6:]


def test_a_manual_upstream_run_propagates_with_its_request_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump_all(PIPELINE))
    rows = table(simulate(capsys, str(path), "--run-now", "extract=2026-01-05T10:01:10Z"))
    assert [r for r in rows if r[1] == "10:01"] == [
        ("extract", "10:01", "manual", "Succeeded"),
        ("transform", "10:01", "upstream", "Succeeded"),
        ("report", "10:01", "upstream", "Succeeded"),
    ]


def test_the_example_pipeline_table(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["simulate", str(EXAMPLE), "--from", FROM, "--until", "2026-01-05T10:03:00Z", "--duration", "30s"])
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "# extract, transform, report: times in UTC"
    assert lines[1].split() == ["#", "NAME", "SLOT", "TRIGGER", "STARTED", "FINISHED", "RESULT", "REASON"]
    assert [line.split()[1:5] for line in lines[2:5]] == [
        ["extract", "2026-01-05", "10:00:00", "schedule"],
        ["transform", "2026-01-05", "10:00:00", "upstream"],
        ["report", "2026-01-05", "10:00:00", "upstream"],
    ]


BAD = [
    ("an unknown name in --fail", ["--fail", "nope=1"], "--fail nope=...: no ScheduledJob nope given"),
    ("the same name twice", ["DUP"], "ScheduledJob extract given more than once"),
    ("an empty folder", ["EMPTY"], "no .yaml or .yml files in this folder"),
]


@pytest.mark.parametrize(("extra", "needle"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_pipeline_input_exit_2_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], needle: str
) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump_all(PIPELINE))
    argv = [str(path)]
    if extra == ["DUP"]:
        again = tmp_path / "again.yaml"
        again.write_text(yaml.safe_dump(PIPELINE[0]))
        argv.append(str(again))
        extra = []
    elif extra == ["EMPTY"]:
        (tmp_path / "empty").mkdir()
        argv = [str(tmp_path / "empty")]
        extra = []
    code = main(["simulate", *argv, "--from", FROM, "--until", UNTIL, *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert needle in err


def test_a_downstream_whose_upstream_is_not_given_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump_all([PIPELINE[0], PIPELINE[2]]))  # report without transform
    assert main(["simulate", str(path), "--from", FROM, "--until", UNTIL]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: {path}: report runs after transform: give their files too, "
        "e.g. punctual simulate extract.yaml report.yaml (or a folder)\n"
    )
    alone = tmp_path / "report.yaml"
    alone.write_text(yaml.safe_dump(PIPELINE[1]))
    assert main(["simulate", str(alone), "--from", FROM, "--until", UNTIL]) == 2
    assert "transform runs after extract: give their files too" in capsys.readouterr().err


def test_the_readmes_pipeline_sample_is_what_simulate_prints(capsys: pytest.CaptureFixture[str]) -> None:
    readme = (EXAMPLE.parents[1] / "README.md").read_text()
    prompt = "$ punctual simulate examples/pipeline.yaml "
    start = readme.index(prompt)
    block = readme[start : readme.index("```", start)]
    command, _, expected = block.partition("\n")
    argv = command.removeprefix("$ punctual ").split()
    argv[1] = str(EXAMPLE)
    assert main(argv) == 0
    assert capsys.readouterr().out == expected


def test_catch_up_runs_of_an_upstream_propagate_each_with_its_own_logical_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "pipeline.yaml"
    extract = document("extract", schedule="*/10 * * * *", catchUp="All", concurrencyPolicy="Forbid")
    path.write_text(yaml.safe_dump_all([extract, PIPELINE[1]]))
    code = main(
        ["simulate", str(path), "--from", FROM, "--until", "2026-01-05T10:45:00Z", "--duration", "2m", "-o", "json",
         "--down", "2026-01-05T10:05:00Z..2026-01-05T10:35:00Z"]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    rows = table(json.loads(out))
    assert [r for r in rows if r[0] == "transform" and r[1] <= "10:30"] == [
        ("transform", t, "upstream", "Succeeded") for t in ("10:00", "10:10", "10:20", "10:30")
    ]
    assert [r[2] for r in rows if r[0] == "extract"][1:4] == ["catchup", "catchup", "catchup"]
