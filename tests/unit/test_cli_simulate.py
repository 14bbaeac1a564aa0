"""``punctual simulate`` end to end: what a user types, what they read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from punctual.cli import main

FROM, UNTIL = "2026-01-05T10:30:00Z", "2026-01-05T13:00:00Z"
ISSUE_DURATIONS = "20m,27m,34m,20m"


def write_job(tmp_path: Path, **spec: Any) -> Path:
    document = {
        "apiVersion": "punctual.dev/v1",
        "kind": "ScheduledJob",
        "metadata": {"name": "report", "namespace": "default"},
        "spec": {
            "schedule": "*/30 * * * *",
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}
                    }
                }
            },
            **spec,
        },
    }
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def simulate_json(capsys: pytest.CaptureFixture[str], path: Path, *args: str) -> list[dict[str, Any]]:
    code = main(["simulate", str(path), "--from", FROM, "--until", UNTIL, "-o", "json", *args])
    out, err = capsys.readouterr()
    assert code == 0, err
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


def by_slot(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["slot"]: r for r in rows if r["trigger"] != "manual"}


def test_issue_example_forbid_skips_the_1200_slot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_job(tmp_path, concurrencyPolicy="Forbid")
    code = main(["simulate", str(path), "--from", FROM, "--until", UNTIL, "--durations", ISSUE_DURATIONS])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "# report: times in UTC"
    assert lines[1].split() == ["#", "SLOT", "TRIGGER", "STARTED", "FINISHED", "RESULT", "REASON"]
    noon = next(line for line in lines if "2026-01-05 12:00:00  schedule" in line)
    assert noon.split()[-2:] == ["Skipped", "ConcurrencyForbid"]
    assert "-" in noon.split()  # never started


def test_issue_example_queue_starts_the_1200_slot_at_1204(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_job(tmp_path, concurrencyPolicy="Queue")
    code = main(["simulate", str(path), "--from", FROM, "--until", UNTIL, "--durations", ISSUE_DURATIONS])
    out, _ = capsys.readouterr()
    assert code == 0
    noon = next(line for line in out.splitlines() if "2026-01-05 12:00:00  schedule" in line)
    assert noon.split()[4:6] == ["2026-01-05", "12:04:00"]
    assert "Succeeded" in noon


def test_issue_example_json_has_the_table_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    forbid = simulate_json(capsys, write_job(tmp_path, concurrencyPolicy="Forbid"), "--durations", ISSUE_DURATIONS)
    queue = simulate_json(capsys, write_job(tmp_path, concurrencyPolicy="Queue"), "--durations", ISSUE_DURATIONS)
    for rows in (forbid, queue):
        assert [r["#"] for r in rows] == list(range(1, len(rows) + 1))
        for row in rows:
            assert {"#", "slot", "trigger", "started", "finished", "result", "reason"} <= set(row)
    noon_forbid = by_slot(forbid)["2026-01-05T12:00:00Z"]
    assert (noon_forbid["result"], noon_forbid["reason"], noon_forbid["started"]) == (
        "Skipped",
        "ConcurrencyForbid",
        None,
    )
    noon_queue = by_slot(queue)["2026-01-05T12:00:00Z"]
    assert (noon_queue["started"], noon_queue["finished"], noon_queue["result"]) == (
        "2026-01-05T12:04:00Z",
        "2026-01-05T12:24:00Z",
        "Succeeded",
    )
    assert [r["slot"][11:16] for r in queue] == ["10:30", "11:00", "11:30", "12:00", "12:30", "13:00"]
    assert queue[-1]["result"] == "Running"


def test_fail_marks_the_given_runs_failed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = simulate_json(capsys, write_job(tmp_path), "--duration", "5m", "--fail", "2,4")
    results = [r["result"] for r in rows]
    assert results[:5] == ["Succeeded", "Failed", "Succeeded", "Failed", "Succeeded"]
    assert rows[1]["reason"] == "BackoffLimitExceeded"


def test_down_with_catch_up_all_runs_each_missed_slot_serialised_under_forbid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_job(tmp_path, concurrencyPolicy="Forbid", catchUp="All")
    rows = simulate_json(capsys, path, "--duration", "5m", "--down", "2026-01-05T11:10:00Z..2026-01-05T12:40:00Z")
    slots = by_slot(rows)
    caught = [slots[f"2026-01-05T{hm}:00Z"] for hm in ("11:30", "12:00", "12:30")]
    assert [r["trigger"] for r in caught] == ["catchup"] * 3
    assert [r["started"][11:16] for r in caught] == ["12:40", "12:45", "12:50"]  # one after another
    assert [r["result"] for r in caught] == ["Succeeded"] * 3
    assert slots["2026-01-05T13:00:00Z"]["trigger"] == "schedule"
    assert slots["2026-01-05T11:00:00Z"]["started"] == "2026-01-05T11:00:00Z"


def test_down_local_times_in_the_jobs_zone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_job(tmp_path, timeZone="Europe/Berlin", catchUp="None")
    code = main(
        [
            "simulate",
            str(path),
            "--from",
            "2026-01-05 11:30",
            "--until",
            "2026-01-05 14:00",
            "--down",
            "2026-01-05 12:10..2026-01-05 13:10",
            "-o",
            "json",
        ]
    )
    rows = json.loads(capsys.readouterr().out)
    assert code == 0
    assert rows[0]["slot"] == "2026-01-05T10:30:00Z"
    missed = [r for r in rows if r["result"] == "Missed"]
    assert [(r["slot"], r["reason"]) for r in missed] == [
        ("2026-01-05T11:30:00Z", "CatchUpNone"),
        ("2026-01-05T12:00:00Z", "CatchUpNone"),
    ]


def test_run_now_starts_a_manual_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = simulate_json(capsys, write_job(tmp_path), "--run-now", "2026-01-05T10:45:00Z")
    manual = [r for r in rows if r["trigger"] == "manual"]
    assert len(manual) == 1
    assert (manual[0]["slot"], manual[0]["started"], manual[0]["result"]) == (
        "2026-01-05T10:45:00Z",
        "2026-01-05T10:45:00Z",
        "Succeeded",
    )


def test_stdin(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO(write_job(tmp_path).read_text()))
    assert main(["simulate", "-", "--from", FROM, "--until", UNTIL]) == 0
    assert "Succeeded" in capsys.readouterr().out


BAD_INPUT = [
    ("missing file", lambda p: [str(p.parent / "nope.yaml"), "--from", FROM, "--until", UNTIL], "cannot read"),
    ("bad cron", lambda p: [str(p), "--from", FROM, "--until", UNTIL], "61 * * * *"),
    ("bad duration", lambda p: [str(p), "--from", FROM, "--until", UNTIL, "--durations", "5m,soon"], "soon"),
    ("bad time", lambda p: [str(p), "--from", "yesterday", "--until", UNTIL], "bad time"),
    ("until before from", lambda p: [str(p), "--from", UNTIL, "--until", FROM], "--until is before --from"),
    ("down without ..", lambda p: [str(p), "--from", FROM, "--until", UNTIL, "--down", FROM], "START..END"),
]


@pytest.mark.parametrize(("argv", "needle"), [b[1:] for b in BAD_INPUT], ids=[b[0] for b in BAD_INPUT])
def test_bad_input_exit_2_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: Any, needle: str) -> None:
    path = write_job(tmp_path, schedule="61 * * * *") if needle == "61 * * * *" else write_job(tmp_path)
    code = main(["simulate", *argv(path)])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert needle in err


def test_not_a_scheduled_job_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "two.yaml"
    path.write_text("kind: ConfigMap\n---\nkind: Secret\n")
    assert main(["simulate", str(path), "--from", FROM, "--until", UNTIL]) == 2
    assert "expected exactly one ScheduledJob document, found 0" in capsys.readouterr().err


CLI_BUGS = [
    ("unknown zone in the spec", {"timeZone": "Mars/Olympus"}, [], "Mars/Olympus"),
    ("unknown --default-time-zone", {}, ["--default-time-zone", "Nowhere"], "Nowhere"),
    ("--fail not a number", {}, ["--fail", "x"], "--fail"),
]


@pytest.mark.parametrize(("spec", "extra", "needle"), [b[1:] for b in CLI_BUGS], ids=[b[0] for b in CLI_BUGS])
def test_bad_input_exit_2_one_line_zone_and_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: dict[str, Any], extra: list[str], needle: str
) -> None:
    path = write_job(tmp_path, **spec)
    try:
        code = main(["simulate", str(path), "--from", FROM, "--until", UNTIL, *extra])
    except Exception as exc:  # a traceback for the user
        raise AssertionError(f"{type(exc).__name__} escaped: {exc}") from exc
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and needle in err


def test_console_script_end_to_end(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "punctual"
    path = write_job(tmp_path, concurrencyPolicy="Queue")
    done = subprocess.run(
        [
            str(script),
            "simulate",
            str(path),
            "--from",
            FROM,
            "--until",
            UNTIL,
            "--durations",
            ISSUE_DURATIONS,
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert by_slot(json.loads(done.stdout))["2026-01-05T12:00:00Z"]["started"] == "2026-01-05T12:04:00Z"
    bad = subprocess.run(
        [str(script), "simulate", str(write_job(tmp_path, schedule="0 0 30 2 *")), "--from", FROM, "--until", UNTIL],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [bad.stderr.strip()]
    assert "never fires" in bad.stderr


def test_retry_reruns_a_failed_slot_after_delay_times_backoff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_job(tmp_path, schedule="0 * * * *", retry={"limit": 3, "delay": "5m", "backoff": 2})
    rows = simulate_json(
        capsys,
        path,
        "--from",
        "2026-01-05T10:00:00Z",
        "--until",
        "2026-01-05T11:30:00Z",
        "--duration",
        "1m",
        "--fail",
        "1,2,3",
    )
    table = [(r["slot"][11:16], r["trigger"], r.get("attempt"), (r["started"] or "")[11:16], r["result"]) for r in rows]
    assert table == [
        ("10:00", "schedule", None, "10:00", "Failed"),
        ("10:00", "retry", 2, "10:06", "Failed"),  # 10:01 + 5m
        ("10:00", "retry", 3, "10:17", "Failed"),  # 10:07 + 10m
        ("10:00", "retry", 4, "10:38", "Succeeded"),  # 10:18 + 20m
        ("11:00", "schedule", None, "11:00", "Succeeded"),
    ]
    assert main(["simulate", str(path), "--from", "2026-01-05T10:00:00Z", "--until", "2026-01-05T10:10:00Z",
                 "--duration", "1m", "--fail", "1"]) == 0  # fmt: skip
    assert "retry 2" in capsys.readouterr().out
