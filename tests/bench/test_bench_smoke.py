"""Smoke runs of the benchmarks at tiny sizes: the scripts run, emit their tables, and the numbers are sane."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, timeout: float) -> str:
    """Run a benchmark with a temporary folder of its own, which it must leave as it found it (empty)."""
    with tempfile.TemporaryDirectory(prefix="bench-smoke-tmp-") as private:
        done = subprocess.run(
            [sys.executable, *args],
            cwd=ROOT,
            env={**os.environ, "TMPDIR": private},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        left = sorted(p.name for p in Path(private).iterdir())
        assert left == [], f"{args[0]} left {left} in its temporary folder"
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


def _cells(out: str) -> list[dict[str, str]]:
    header = [c.strip() for c in out.splitlines()[0].strip("|").split("|")]
    return [dict(zip(header, row, strict=True)) for row in _rows(out.split("\n\n")[0])]


def test_operator_benchmark_every_slot_gets_exactly_one_job() -> None:
    out = _run(
        "bench/operator_e2e.py",
        "--count",
        "20",
        "--schedule",
        "*/2 * * * * *",
        "--window",
        "8",
        "--settle",
        "3",
        timeout=50,
    )
    (cell,) = _cells(out)
    assert cell["design"] == "punctual"
    assert int(cell["slots"]) == 4
    assert cell["Jobs / expected"] == "80 / 80"
    assert cell["missing"] == "0"
    assert cell["duplicates"] == "0"
    assert 0 <= float(cell["lag p99 (s)"]) < 2.0
    assert float(cell["API writes / run"]) >= 1.0  # at least the Job create
    assert 0 < float(cell["operator peak RSS (MB)"]) < 1000
    assert 0 < float(cell["RSS at the end (MB)"]) <= float(cell["operator peak RSS (MB)"])


def test_repeated_rounds_print_each_run_and_the_median_and_range() -> None:
    args = "--design floor --repeat 2 --count 10 --schedule '*/2 * * * * *' --window 4 --settle 1"
    out = _run("bench/operator_e2e.py", *shlex.split(args), timeout=100)
    first, second = _cells(out)
    assert (first["design"], second["design"]) == ("floor #1", "floor #2")
    assert first["Jobs / expected"] == second["Jobs / expected"] == "20 / 20", out
    spread = out.split("Median and range over 2 rounds:")[1]
    (row,) = _rows(spread)
    assert row[0] == "floor"
    p99s = sorted(float(c["lag p99 (s)"]) for c in (first, second))
    median, bounds = row[2].split(" ")
    assert abs(float(median) - sum(p99s) / 2) < 0.006  # the median of two is their mean
    # The range is the rounds' lowest and highest p99, printed to 2 decimals from the unrounded
    # figures (the table's have 3): 0.0152 prints 0.015 there and 0.02 here, so compare to within
    # the rounding of both, not by re-rounding the table's figure.
    low, high = (float(b) for b in bounds.strip("()").split("-"))
    assert abs(low - p99s[0]) <= 0.0051 and abs(high - p99s[1]) <= 0.0051, (bounds, p99s)
    assert row[4].startswith("1.00 (1.00-1.00)")  # the floor's one write per run, each round


def test_designs_in_one_invocation_with_ratios_shards_and_operator_env() -> None:
    # Punctual as two shard processes with its Normal-Event burst at 0, and the floor (Job creates
    # alone): both rows, then the ratio table against the first design.
    out = _run(
        "bench/operator_e2e.py",
        "--design",
        "punctual,floor",
        "--count",
        "20",
        "--schedule",
        "*/2 * * * * *",
        "--window",
        "6",
        "--settle",
        "2",
        "--env",
        "PUNCTUAL_EVENT_BURST=0",
        "--shards",
        "2",
        timeout=100,
    )
    punctual, floor = _cells(out)
    assert (punctual["design"], floor["design"]) == ("punctual (2 shards)", "floor")
    for cell in (punctual, floor):
        assert cell["Jobs / expected"] == "60 / 60", out
        assert cell["duplicates"] == "0", out
    assert float(floor["API writes / run"]) == 1.0, out  # the Job create and nothing else
    # With the burst at 0 the operator posts no Normal Event in the window: its creates are the Jobs.
    assert "create 1.00" in punctual["writes by verb (per run)"]
    assert "floor / punctual (2 shards)" in out
    # Two processes: the peak of all of them is more than one's.
    assert float(punctual["peak RSS, all processes (MB)"]) > float(punctual["operator peak RSS (MB)"])
    # Per shard: its runs (each run is one shard's), CPU per run, and the watch events it received.
    runs = [int(n.replace(",", "")) for n in punctual["runs per shard"].split(" / ")]
    assert len(runs) == 2 and sum(runs) == 60 and all(runs)
    assert all(float(ms) > 0 for ms in punctual["operator CPU per shard (ms / run)"].split(" / "))
    watched = punctual["watch events per shard in window (jobs / pods / scheduledjobs)"].split(" ; ")
    assert len(watched) == 2
    for shard_events, own in zip(watched, runs, strict=True):
        jobs, pods, _ = (float(n.replace(",", "")) for n in shard_events.split(" / "))
        assert jobs >= own and pods >= own  # at least each own Job's and Pod's creation
    assert punctual["API"] == floor["API"] == "emulator"
    ratio_rows = [line for line in out.split("\n\n", 1)[1].splitlines() if line.startswith("| API writes per run |")]
    (ratio_row,) = ratio_rows
    ours, theirs, ratio = (float(c.split()[0]) for c in ratio_row.strip("|").split("|")[1:])
    assert theirs == 1.0
    assert abs(ratio - theirs / ours) <= 0.02  # of the unrounded figures


def test_the_one_command_runs_every_benchmark_and_writes_them_down(tmp_path: Path) -> None:
    out = tmp_path / "section.md"
    _run("bench/all.py", "--smoke", "--out", str(out), timeout=400)
    text = out.read_text()
    assert text.startswith("## Run of `bench/all.py` --smoke, ")
    assert "vCPU" in text and "code at `" in text
    # Each command is written down, followed by its table(s).
    commands = [line for line in text.splitlines() if line.startswith("python bench/")]
    assert commands == [
        "python bench/core.py --sizes 100",
        "python bench/operator_e2e.py --count 20 --schedule '*/3 * * * * *' --window 6 --settle 2 "
        "--design punctual,floor,naive",
        "python bench/operator_e2e.py --count 20 --schedule '*/2 * * * * *' --window 4 --settle 2 "
        "--design punctual,floor",
    ]
    assert "floor / punctual" in text and "naive / punctual" in text
    rows = [line for line in text.splitlines() if line.startswith(("| punctual |", "| floor |", "| naive |"))]
    assert len(rows) == 5
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[7] == "0", row  # duplicates
    assert "The whole run took" in text


def _all_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_all", ROOT / "bench" / "all.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_full_plan_measures_two_shards_and_can_aim_at_the_real_server() -> None:
    plan = _all_module().plan
    full = plan(core_sizes=[1000], operator_sizes=[1000], smoke=False)
    assert [
        "bench/operator_e2e.py",
        "--count",
        "1000",
        "--schedule",
        "* * * * *",
        "--window",
        "120",
        "--design",
        "punctual",
        "--shards",
        "2",
    ] in full
    assert not any("--api" in command for command in full)
    real = plan(core_sizes=[1000], operator_sizes=[1000], smoke=False, api="real")
    operator_runs = [c for c in real if c[0] == "bench/operator_e2e.py"]
    assert len(operator_runs) == 4 and all(c[1:3] == ["--api", "real"] for c in operator_runs)
    assert not any("--shards" in c for c in plan(core_sizes=[100], operator_sizes=[20], smoke=True))


def test_the_full_plan_has_the_issues_measurements_at_each_size() -> None:
    plan = _all_module().plan
    full = plan(core_sizes=[1000], operator_sizes=[1000, 10000], smoke=False, real_sizes=[1000])
    e2e = [c for c in full if c[0] == "bench/operator_e2e.py"]
    for count, window in (("1000", "120"), ("10000", "180")):
        mine = [c for c in e2e if c[c.index("--count") + 1] == count and "--api" not in c]
        schedules = [(c[c.index("--schedule") + 1] if "--schedule" in c else "--seconds") for c in mine]
        assert schedules[:3] == ["* * * * *", "H * * * * *", "* * * * *"]  # minute, spread with H, shards
        assert mine[0][-1] == "punctual,floor,naive" and mine[1][-1] == "punctual,floor"
        assert all(c[c.index("--window") + 1] == window for c in mine if "--window" in c)
    # The seconds variant at 1,000 only; the real server every minute with the floor beside it.
    assert [c[c.index("--count") + 1] for c in e2e if "--seconds" in c] == ["1000"]
    real = [c for c in e2e if "--api" in c]
    assert real == [
        ["bench/operator_e2e.py", "--api", "real", "--count", "1000", "--schedule", "* * * * *",
         "--window", "120", "--design", "punctual,floor"]
    ]  # fmt: skip
    assert not any("3600" in c for c in full)
    (hour,) = [c for c in plan(core_sizes=[1000], operator_sizes=[1000], smoke=False, long=True) if "3600" in c]
    assert hour[hour.index("--count") + 1] == "10000"


def test_the_real_server_runs_need_the_kube_binaries(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PUNCTUAL_KUBE_BIN"}
    done = subprocess.run(
        [sys.executable, "bench/all.py", "--core-sizes", "100", "--operator-sizes", "20", "--out", str(tmp_path / "x")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "PUNCTUAL_KUBE_BIN" in done.stderr and "--real-sizes ''" in done.stderr
    assert not (tmp_path / "x").exists()  # refused before running anything


def test_the_exposition_benchmark_writes_what_generate_latest_writes() -> None:
    out = _run("bench/exposition.py", "--sizes", "30,60", timeout=60)
    rows = [line for line in out.splitlines() if line.startswith("| 30 |") or line.startswith("| 60 |")]
    assert len(rows) == 2
    assert all(row.endswith("| same bytes |") for row in rows)
    assert "1,731 lines" in rows[0] and "3,381 lines" in rows[1]  # 81 process-wide, 55 per ScheduledJob


def test_the_cache_memory_benchmark_measures_what_an_idle_scheduledjob_holds() -> None:
    out = _run("bench/cache_memory.py", "--count", "300", timeout=60)
    found = re.search(r"300 idle ScheduledJobs with 20 history records each: ([0-9.]+) KiB each", out)
    assert found is not None, out
    # The caches keep each ScheduledJob's status as its compact JSON (punctual.runtime.cache,
    # _status_texts): 7.6 KiB for 20 records here, so no less than that can be held; with the
    # rest of the slim body and the pipeline index it measured 11.6. The status kept as decoded
    # dicts (as before session 14) measured 19.5, and its validated model another 39 on top.
    assert 7.6 < float(found.group(1)) < 19.5, out


def test_the_watch_cost_benchmark_hands_every_status_write_to_both_consumers() -> None:
    out = _run("bench/watch_cost.py", "--count", "40", "--rounds", "2", "--linger", "0.5", timeout=120)
    rows = {row[0]: row for row in _rows(out)}
    assert set(rows) == {"kopf", "lean"}, out
    for row in rows.values():
        assert row[1] == "80 / 80", row  # every write reached the operator's handler as one event
        per_event_ms, *rss = (float(cell) for cell in row[2:])
        assert 0 < per_event_ms < 50, row
        assert all(20 < mb < 2000 for mb in rss), row


def test_a_slot_started_after_the_window_is_told_apart_from_one_never_started() -> None:
    spec = importlib.util.spec_from_file_location("bench_operator_e2e", ROOT / "bench" / "operator_e2e.py")
    assert spec is not None and spec.loader is not None
    e2e = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = e2e  # its dataclasses look their module up while it loads
    try:
        spec.loader.exec_module(e2e)
    finally:
        del sys.modules[spec.name]
    slot = datetime(2026, 12, 8, tzinfo=UTC)
    late, never = ("sj-00000", slot), ("sj-00001", slot)
    seen: dict[str, tuple[float, dict[str, Any]]] = {}

    async def deliver_one_late() -> None:
        await asyncio.sleep(0.3)
        meta = {"annotations": {"punctual.dev/scheduled-time": "2026-12-08T00:00:00Z"},
                "labels": {"punctual.dev/scheduledjob": "sj-00000"}}
        seen["sj-00000-x"] = (slot.timestamp() + 70.5, meta)

    async def both() -> dict[tuple[str, datetime], float]:
        _, found = await asyncio.gather(deliver_one_late(), e2e._late_jobs(seen, {late, never}, grace=2.0))
        return dict(found)

    started = time.monotonic()
    assert asyncio.run(both()) == {late: 70.5}
    assert 1.5 < time.monotonic() - started < 10  # it waited out the grace for the one never started
