"""``kubectl sj backfill`` end to end: the real kubectl, the emulated API and, where the operator must
answer, the real operator (punctual.runtime) in a thread.

The ScheduledJob runs ``*/15 * * * *``; the range 2026-01-05 08:00..09:00 (in the past) has five
slots, both ends inclusive.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from plugin_helpers import Sj, scheduled_job
from punctual_testing import in_process_operator, wait_for

from kube_emulator import DURATION_ANNOTATION, EXIT_CODE_ANNOTATION, Emulator
from punctual.api import Trigger
from punctual.core import parse_spec
from punctual.jobs import ANNOTATION_BACKFILL_REQUEST, LABEL_TRIGGER, Owner, build_job, slot_job_name

SJ = "punctual.dev/v1"
FROM, TO = "2026-01-05T08:00:00Z", "2026-01-05T09:00:00Z"


def slot(hhmm: str) -> datetime:
    h, m = (int(p) for p in hhmm.split(":"))
    return datetime(2026, 1, 5, h, m, tzinfo=UTC)


def create(emulator: Emulator, name: str, *, duration: str = "0.3s", exit_code: int = 0, **spec: Any) -> dict[str, Any]:
    body = scheduled_job(name, **spec)
    annotations = {DURATION_ANNOTATION: duration, EXIT_CODE_ANNOTATION: str(exit_code)}
    body["spec"]["jobTemplate"]["metadata"] = {"annotations": annotations}
    return dict(emulator.create(body))


def annotations(emulator: Emulator, name: str) -> dict[str, str]:
    return emulator.get(SJ, "scheduledjobs", name, namespace="default")["metadata"].get("annotations") or {}


def backfill_jobs(emulator: Emulator, name: str) -> list[str]:
    jobs = emulator.list("batch/v1", "jobs", namespace="default")
    return sorted(
        j["metadata"]["name"]
        for j in jobs
        if j["metadata"]["labels"].get(LABEL_TRIGGER) == "backfill" and j["metadata"]["name"].startswith(name)
    )


def test_dry_run_prints_the_slots_it_would_run_and_skip(emulator: Emulator, sj: Sj) -> None:
    body = create(emulator, "report")
    # The 08:30 slot has a Job already (a run from before): a backfill skips it.
    owner = Owner(namespace="default", name="report", uid=body["metadata"]["uid"])
    name = slot_job_name("report", slot("08:30"), seconds=False)
    spec = parse_spec(body["spec"])
    emulator.create(build_job(owner, spec, job_name=name, slot=slot("08:30"), trigger=Trigger.SCHEDULE))
    result = sj("backfill", "report", "--from", FROM, "--to", TO, "--dry-run", "--parallel", "2")
    assert result.returncode == 0, result.stderr
    rows = [re.split(r"\s{2,}", line) for line in result.stdout.splitlines()]
    assert rows[0] == ["SLOT", "ACTION", "JOB", "EXISTING"]
    assert [r[:2] for r in rows[1:6]] == [
        ["2026-01-05T08:00:00+00:00", "run"],
        ["2026-01-05T08:15:00+00:00", "run"],
        ["2026-01-05T08:30:00+00:00", "skip"],
        ["2026-01-05T08:45:00+00:00", "run"],
        ["2026-01-05T09:00:00+00:00", "run"],
    ]
    assert rows[3] == ["2026-01-05T08:30:00+00:00", "skip", name, "Job exists"]
    assert rows[1][2] == slot_job_name("report", slot("08:00"), seconds=False)
    assert rows[1][3] == "<none>"
    assert result.stdout.splitlines()[-1] == (
        "5 slots from 2026-01-05T08:00:00+00:00 to 2026-01-05T09:00:00+00:00: 4 to run, 1 skipped (existing); "
        "parallel 2; nothing requested (--dry-run)"
    )
    assert ANNOTATION_BACKFILL_REQUEST not in annotations(emulator, "report")


def test_more_than_10000_slots_is_refused_before_sending(emulator: Emulator, sj: Sj) -> None:
    create(emulator, "minutely", schedule="* * * * *")
    result = sj("backfill", "minutely", "--from", "2026-01-01T00:00:00Z", "--to", "2026-01-08T00:00:00Z")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "error: scheduledjob.punctual.dev/minutely: the range 2026-01-01T00:00:00Z to 2026-01-08T00:00:00Z has "
        "more than 10000 slots (at most 10000 per backfill); split it into smaller ranges\n"
    )
    assert ANNOTATION_BACKFILL_REQUEST not in annotations(emulator, "minutely")


def test_bad_ranges_are_one_line_errors(emulator: Emulator, sj: Sj) -> None:
    create(emulator, "report")
    cases = {
        ("--from", TO, "--to", FROM): "error: scheduledjob.punctual.dev/report: --from 2026-01-05T09:00:00Z is after "
        "--to 2026-01-05T08:00:00Z\n",
        ("--from", FROM, "--to", "2099-01-01T00:00:00Z"): "error: --to 2099-01-01T00:00:00+00:00 is in the future; "
        "a backfill runs past slots (the schedule runs the others)\n",
        ("--from", FROM): "error: give both --from and --to\n",
        ("--from", "yesterday", "--to", TO): "error: invalid --from 'yesterday'; use RFC 3339, e.g. "
        "2026-11-23T10:00:00Z\n",
        ("--from", FROM, "--to", TO, "--parallel", "0"): "error: --parallel must be from 1 to 100\n",
        ("--cancel",): "error: scheduledjob.punctual.dev/report has no backfill in progress\n",
        ("--cancel", "--from", FROM): "error: --cancel takes no --from, --to, --dry-run or --wait\n",
    }
    for args, expected in cases.items():
        result = sj("backfill", "report", *args)
        assert (result.returncode, result.stderr) == (1, expected), args
    missing = sj("backfill", "nothere", "--from", FROM, "--to", TO)
    assert missing.returncode == 1
    assert missing.stderr == 'Error from server (NotFound): scheduledjobs.punctual.dev "nothere" not found\n'


def test_wait_follows_a_backfill_to_completion_with_the_real_operator(emulator: Emulator, sj: Sj) -> None:
    create(emulator, "report", duration="2s")
    with in_process_operator(emulator):
        result = sj("backfill", "report", "--from", FROM, "--to", TO, "--parallel", "2", "--wait", timeout=120)
        listed = sj("backfill", "report")
        shown = sj("history", "report")
    assert result.returncode == 0, (result.stdout, result.stderr)
    lines = result.stdout.splitlines()
    token = lines[0].split()[1]
    assert lines[0] == (
        f"backfill {token} requested for scheduledjob.punctual.dev/report: 5 slots from 2026-01-05T08:00:00+00:00 "
        "to 2026-01-05T09:00:00+00:00: 5 to run, 0 skipped (existing), parallel 2"
    )
    # Progress lines as the status changes (the operator gathers close status changes into one write,
    # so not every step is seen): never more than 2 running, done only grows.
    progress = [re.fullmatch(rf"backfill {token} Running: (\d)/5 done \(0 failed\), ([0-2]) running, (\d) pending, "
                             r"0 skipped \(existing\)", line) for line in lines[1:-1]]  # fmt: skip
    assert progress and all(progress), lines
    done = [int(m.group(1)) for m in progress if m]
    assert done == sorted(done)
    assert lines[-1] == f"backfill {token} Completed: 5 run (0 failed), 0 skipped (existing) of 5"
    # One run per slot, each Succeeded (the Jobs beyond successfulJobsHistoryLimit are deleted).
    history = emulator.get(SJ, "scheduledjobs", "report", namespace="default")["status"]["history"]
    assert sorted((r["job"], r["trigger"], r["result"]) for r in history) == [
        (slot_job_name("report", slot(t), seconds=False), "backfill", "Succeeded")
        for t in ("08:00", "08:15", "08:30", "08:45", "09:00")
    ]
    # kubectl sj history reads a status with backfill runs (trigger backfill) like any other.
    assert [re.split(r"\s{2,}", line)[1:5:3] for line in shown.stdout.splitlines()[1:]] == [
        ["backfill", "Succeeded"]
    ] * 5
    rows = [re.split(r"\s{2,}", line) for line in listed.stdout.splitlines()]
    assert rows[0][:3] == ["TOKEN", "STATE", "FROM"]
    assert rows[1][:2] == [token, "Completed"]
    assert rows[1][4:11] == ["2", "5", "5", "0", "0", "0", "0"]


def test_a_second_backfill_of_the_same_range_skips_every_slot(emulator: Emulator, sj: Sj) -> None:
    create(emulator, "report", duration="0.2s")
    with in_process_operator(emulator):
        first = sj("backfill", "report", "--from", FROM, "--to", "2026-01-05T08:15:00Z", "--wait", timeout=120)
        assert first.returncode == 0, (first.stdout, first.stderr)
        dry = sj("backfill", "report", "--from", FROM, "--to", "2026-01-05T08:15:00Z", "--dry-run")
        second = sj("backfill", "report", "--from", FROM, "--to", "2026-01-05T08:15:00Z", "--wait", timeout=120)
    assert dry.stdout.splitlines()[-1].endswith(
        ": 0 to run, 2 skipped (existing); parallel 1; nothing requested (--dry-run)"
    )
    assert second.returncode == 0, (second.stdout, second.stderr)
    assert second.stdout.splitlines()[-1].endswith("Completed: 0 run (0 failed), 2 skipped (existing) of 2")
    assert len(backfill_jobs(emulator, "report")) == 2


def test_cancel_drops_the_pending_slots_and_lets_the_running_one_finish(emulator: Emulator, sj: Sj) -> None:
    create(emulator, "report", duration="20s")
    with in_process_operator(emulator):
        started = sj("backfill", "report", "--from", FROM, "--to", TO)
        assert started.returncode == 0, (started.stdout, started.stderr)
        token = started.stdout.split()[1]
        wait_for(lambda: backfill_jobs(emulator, "report"), 20, what="the first backfill Job")
        cancelled = sj("backfill", "report", "--cancel")
    assert cancelled.returncode == 0, (cancelled.stdout, cancelled.stderr)
    assert cancelled.stdout == (
        f"backfill {token} Cancelled: 0 run (0 failed), 1 still running, 0 skipped (existing) of 5; "
        "cancelled: 4 pending slots dropped, 1 running left to finish\n"
    )
    assert backfill_jobs(emulator, "report") == [slot_job_name("report", slot("08:00"), seconds=False)]


def test_wait_exits_1_when_a_backfill_run_failed(emulator: Emulator, sj: Sj) -> None:
    create(emulator, "flaky", duration="0.3s", exit_code=3)
    with in_process_operator(emulator):
        result = sj("backfill", "flaky", "--from", FROM, "--to", "2026-01-05T08:15:00Z", "--wait", timeout=120)
    assert result.returncode == 1, (result.stdout, result.stderr)
    token = result.stdout.split()[1]
    assert result.stdout.splitlines()[-1] == f"backfill {token} Completed: 2 run (2 failed), 0 skipped (existing) of 2"
