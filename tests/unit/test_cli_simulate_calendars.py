"""``punctual simulate`` with Calendar documents among its input files (``spec.calendars``), and the
nightly example with its holidays: the same core as the operator, so an excluded slot shows Skipped
with reason Excluded."""

from __future__ import annotations

from pathlib import Path

import pytest

from punctual.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def rows(out: str) -> list[list[str]]:
    return [line.split() for line in out.splitlines() if line and not line.startswith("#")]


def test_the_nightly_example_skips_the_holidays_of_its_calendar(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--from", "2026-12-23T00:00:00Z", "--until", "2026-12-28T00:00:00Z"]
    code = main(["simulate", str(EXAMPLES / "nightly-backup.yaml"), str(EXAMPLES / "holidays.yaml"), *args])
    assert code == 0
    got = [(r[1], r[-2], r[-1]) for r in rows(capsys.readouterr().out)]
    assert got == [
        ("2026-12-23", "Succeeded", "Completed"),
        ("2026-12-24", "Skipped", "Excluded"),
        ("2026-12-25", "Skipped", "Excluded"),
        ("2026-12-26", "Skipped", "Excluded"),
        ("2026-12-27", "Succeeded", "Completed"),
    ]


def test_a_calendar_not_given_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["simulate", str(EXAMPLES / "nightly-backup.yaml"), "--from", "2026-12-23", "--until", "2026-12-24"])
    assert code != 0
    assert "nightly-backup uses Calendar holidays-de: give its file too" in capsys.readouterr().err


def test_a_calendar_with_a_bad_rule_runs_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: punctual.dev/v1\nkind: Calendar\nmetadata: {name: holidays-de}\n"
        "spec: {exclude: ['2026-12-26..2026-12-24']}\n"
    )
    args = ["--from", "2026-12-23T00:00:00Z", "--until", "2026-12-25T00:00:00Z"]
    assert main(["simulate", str(EXAMPLES / "nightly-backup.yaml"), str(bad), *args]) == 0
    got = [(r[-2], r[-1]) for r in rows(capsys.readouterr().out)]
    assert got == [("Skipped", "CalendarInvalid"), ("Skipped", "CalendarInvalid")]
