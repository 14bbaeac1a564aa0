"""``punctual simulate --run-now T --run-env/--run-arg/--run-image/--run-container``: the manual runs'
overrides go through the operator's decision (queued with the run, refused for an unknown container)
and show in the records, as ``kubectl sj run --env/--arg/--image`` would in the cluster."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from punctual.cli import main

SPEC = (
    "kind: ScheduledJob\nmetadata: {name: report}\nspec:\n  schedule: '0 * * * *'\n"
    "  concurrencyPolicy: Queue\n"
    "  jobTemplate: {spec: {template: {spec: {containers: [{name: main, image: busybox}]}}}}\n"
)
WINDOW = ["--from", "2026-11-23T10:00:00Z", "--until", "2026-11-23T10:59:00Z"]


def simulate(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    path = tmp_path / "report.yaml"
    path.write_text(SPEC)
    code = main(["simulate", str(path), *WINDOW, *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def manual(out: str) -> list[dict[str, Any]]:
    return [row for row in json.loads(out) if row["trigger"] == "manual"]


def test_a_manual_run_queued_behind_the_scheduled_one_keeps_its_overrides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = simulate(
        tmp_path,
        capsys,
        "--duration", "10m",
        "--run-now", "2026-11-23T10:05:00Z",
        "--run-env", "MODE=fast",
        "--run-arg=--since", "--run-arg", "1h",
        "--run-image", "busybox:2",
        "-o", "json",
    )  # fmt: skip
    assert code == 0
    (run,) = manual(out)
    assert run["started"] == "2026-11-23T10:10:00Z", "queued behind the 10:00 run (Queue)"
    assert run["result"] == "Succeeded"
    assert run["overrides"] == {"env": ["MODE=fast"], "args": ["--since", "1h"], "image": "busybox:2"}


def test_overrides_for_a_container_the_template_lacks_refuse_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = simulate(
        tmp_path, capsys, "--run-now", "2026-11-23T10:05:00Z", "--run-image", "x:1", "--run-container", "side"
    )
    assert code == 0
    (line,) = [line for line in out.splitlines() if " manual " in line]
    assert line.split()[-2:] == ["Skipped", "InvalidRunOverrides"]
    assert out.splitlines()[-1] == "# the --run-now runs override image x:1, container side"


def test_a_run_without_overrides_records_none(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = simulate(tmp_path, capsys, "--run-now", "2026-11-23T10:05:00Z", "-o", "json")
    assert code == 0
    (run,) = manual(out)
    assert "overrides" not in run and run["result"] == "Succeeded"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--run-now", "2026-11-23T10:05:00Z", "--run-env", "1X=2"], "env name '1X' must be a C identifier"),
        (["--run-now", "2026-11-23T10:05:00Z", "--run-env", "MODE"], "--run-env 'MODE': use NAME=VALUE"),
        (["--run-now", "2026-11-23T10:05:00Z", "--run-arg", ""], "an argument must not be empty"),
        (["--run-now", "2026-11-23T10:05:00Z", "--run-image", "a b"], "must be a non-empty image reference"),
        (["--run-env", "MODE=fast"], "apply to --run-now runs: give --run-now too"),
    ],
)
def test_bad_overrides_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = simulate(tmp_path, capsys, *args)
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
