"""Smoke runs of the benchmarks at tiny sizes: the scripts run, emit their tables, and the numbers are sane."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, timeout: float) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _rows(table: str) -> list[list[str]]:
    lines = [line for line in table.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def test_core_benchmark_emits_a_row_per_size() -> None:
    out = _run("bench/core.py", "--sizes", "100,1000", "--sample", "300", timeout=60)
    rows = _rows(out)
    assert [r[0] for r in rows] == ["100", "1,000"]
    for row in rows:
        numbers = [float(cell.replace(",", "")) for cell in row]
        assert all(n > 0 for n in numbers), row
        wake_p50_us, pop_us = numbers[4], numbers[7]
        assert wake_p50_us < 50_000  # one decide() takes well under 50 ms even on a slow CI machine
        assert pop_us < 1_000


def test_operator_benchmark_every_slot_gets_exactly_one_job() -> None:
    out = _run(
        "bench/operator_e2e.py", "--count", "20", "--schedule", "*/2 * * * * *", "--window", "8", "--settle", "3",
        timeout=50,
    )
    (row,) = _rows(out)
    header = [c.strip() for c in out.splitlines()[0].strip("|").split("|")]
    cell = dict(zip(header, row, strict=True))
    assert cell["design"] == "punctual"
    assert int(cell["slots"]) == 4
    assert cell["Jobs / expected"] == "80 / 80"
    assert cell["missing"] == "0"
    assert cell["duplicates"] == "0"
    assert 0 <= float(cell["lag p99 (s)"]) < 2.0
    assert float(cell["API writes / run"]) >= 1.0  # at least the Job create
    assert 0 < float(cell["operator peak RSS (MB)"]) < 1000


def test_floor_design_creates_every_slots_jobs_with_nothing_else() -> None:
    out = _run(
        "bench/operator_e2e.py", "--design", "floor", "--count", "20", "--schedule", "*/2 * * * * *",
        "--window", "6", "--settle", "2", timeout=50,
    )
    (row,) = _rows(out)
    header = [c.strip() for c in out.splitlines()[0].strip("|").split("|")]
    cell = dict(zip(header, row, strict=True))
    assert cell["design"] == "floor"
    assert cell["Jobs / expected"] == "60 / 60"
    assert cell["duplicates"] == "0"
    assert float(cell["API writes / run"]) == 1.0  # the Job create and nothing else
