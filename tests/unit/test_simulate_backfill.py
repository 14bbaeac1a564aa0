"""``punctual simulate --backfill FROM..TO``: a backfill replayed by the same core the operator runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from punctual.cli import main

FROM, UNTIL = "2026-01-05T10:00:00Z", "2026-01-05T11:00:00Z"
RANGE = "2026-01-04T22:00:00Z..2026-01-04T23:00:00Z"  # three slots, before the object existed


def write_job(tmp_path: Path, **spec: Any) -> Path:
    document = {
        "apiVersion": "punctual.dev/v1",
        "kind": "ScheduledJob",
        "metadata": {"name": "report", "namespace": "default"},
        "spec": {
            "schedule": "*/30 * * * *",
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "busybox"}]}}}},
            **spec,
        },
    }
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def simulate(capsys: pytest.CaptureFixture[str], path: Path, *args: str) -> tuple[int, str, str]:
    code = main(["simulate", str(path), "--from", FROM, "--until", UNTIL, *args])
    out, err = capsys.readouterr()
    return code, out, err


def backfill_rows(out: str) -> list[dict[str, Any]]:
    return [r for r in json.loads(out) if r["trigger"] == "backfill"]


def test_simulate_runs_a_backfill_one_after_another(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = simulate(capsys, write_job(tmp_path), "--duration", "10m", "--backfill", RANGE, "-o", "json")
    assert code == 0, err
    rows = backfill_rows(out)
    assert [(r["slot"], r["started"], r["result"]) for r in rows] == [
        ("2026-01-04T22:00:00Z", "2026-01-05T10:00:00Z", "Succeeded"),
        ("2026-01-04T22:30:00Z", "2026-01-05T10:10:00Z", "Succeeded"),
        ("2026-01-04T23:00:00Z", "2026-01-05T10:20:00Z", "Succeeded"),
    ]


def test_simulate_parallel_and_the_scheduled_slots_keep_forbid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_job(tmp_path, concurrencyPolicy="Forbid")
    code, out, err = simulate(capsys, path, "--duration", "40m", "--backfill", RANGE, "--parallel", "3", "-o", "json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["started"] for r in backfill_rows(out)] == ["2026-01-05T10:00:00Z"] * 3
    # The scheduled 10:00 slot starts beside the backfill runs; 10:30 is skipped by Forbid because
    # of the scheduled 10:00 run (still running), never because of the backfill.
    scheduled = {r["slot"]: (r["result"], r["reason"]) for r in rows if r["trigger"] == "schedule"}
    assert scheduled["2026-01-05T10:00:00Z"] == ("Succeeded", "Completed")
    assert scheduled["2026-01-05T10:30:00Z"] == ("Skipped", "ConcurrencyForbid")


def test_simulate_table_says_what_became_of_the_backfill(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = simulate(capsys, write_job(tmp_path), "--duration", "10m", "--backfill", RANGE)
    assert code == 0, err
    assert out.splitlines()[-1] == (
        "# backfill simulated-backfill-2026-01-05T10:00:00Z: Completed, 3 run (0 failed), 0 running, 0 pending, "
        "0 skipped (existing) of 3"
    )


def test_simulate_backfill_rejected_beyond_10000_slots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_job(tmp_path, schedule="* * * * *")
    code, out, err = simulate(capsys, path, "--backfill", "2025-12-01T00:00:00Z..2025-12-31T00:00:00Z")
    assert code == 0, err
    assert out.splitlines()[-1].startswith("# backfill simulated-backfill-2026-01-05T10:00:00Z: Rejected, ")
    assert "has more than 10000 slots (at most 10000 per backfill)" in out.splitlines()[-1]


def test_simulate_backfill_needs_a_range(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = simulate(capsys, write_job(tmp_path), "--backfill", "2026-01-04T22:00:00Z")
    assert code != 0
    assert "--backfill '2026-01-04T22:00:00Z': use FROM..TO" in err
