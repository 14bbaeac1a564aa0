"""``spec.maxActive`` (Allow with a cap) through the real operator and the emulator: never more than
maxActive Jobs at once, a slot beyond the cap Skipped (overflow Skip) or waiting in status.queued with
reason MaxActive until a run ends (overflow Queue), ``kubectl sj run`` and ``list -o wide`` saying
so, and ``punctual_slots_skipped_total`` counting the skipped slots."""

from __future__ import annotations

import io
from pathlib import Path

from integration_support import (
    Body,
    JobScript,
    OperatorFactory,
    events,
    history,
    jobs_of,
    parse,
    records,
    scheduled_job,
)
from integration_support import status as status_of
from punctual_testing import wait_for

from kube_emulator import Emulator
from kubectl_sj.cli import main as kubectl_sj


def finished(job: Body) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions") or []
    )


def test_overflow_skip_runs_two_at_once_and_skips_the_third_as_max_active(
    emulator: Emulator, operator: OperatorFactory, script: JobScript
) -> None:
    script.duration = 5.0
    running_op = operator()
    emulator.create(scheduled_job("crawl", "*/2 * * * * *", maxActive=2, overflow="Skip", historyLimit=50))
    most_active = 0

    def enough() -> bool:
        nonlocal most_active
        running = [j for j in jobs_of(emulator, "crawl") if not finished(j)]
        most_active = max(most_active, len(running))
        return len(records(emulator, "crawl", "Succeeded")) >= 2 and len(records(emulator, "crawl", "Skipped")) >= 2

    wait_for(enough, 40, interval=0.1, what="2 runs and 2 slots skipped for maxActive")
    assert most_active == 2, f"{most_active} Jobs at once with maxActive 2"
    skipped = records(emulator, "crawl", "Skipped")
    assert {r["reason"] for r in skipped} == {"MaxActive"}
    assert all("maxActive 2 (overflow Skip)" in r["message"] for r in skipped)
    assert not {r["job"] for r in skipped} & {j["metadata"]["name"] for j in jobs_of(emulator, "crawl")}
    assert not status_of(emulator, "crawl").get("queued")
    # Each skipped slot came while two runs were going (completion times are whole seconds).
    runs = [r for r in history(emulator, "crawl") if r.get("startTime")]
    for skip in skipped:
        slot = parse(skip["scheduledTime"])
        going = [
            r
            for r in runs
            if parse(r["startTime"]) <= slot
            and (not r.get("completionTime") or parse(r["completionTime"]).timestamp() + 1 >= slot.timestamp())
        ]
        assert len(going) >= 2, (skip, going)
    exposition = running_op.op.metrics.exposition().decode()
    line = next(
        x
        for x in exposition.splitlines()
        if x.startswith('punctual_slots_skipped_total{namespace="default",scheduledjob="crawl"}')
    )
    assert float(line.split()[-1]) >= 2


def test_overflow_queue_waits_with_reason_max_active_and_starts_when_a_run_ends(
    emulator: Emulator, operator: OperatorFactory, script: JobScript
) -> None:
    script.rule = lambda job, n: (5.0, 0) if n <= 2 else (0.3, 0)  # the first two runs fill the cap
    operator()
    emulator.create(scheduled_job("crawl", "*/2 * * * * *", maxActive=2, historyLimit=50))

    (waiting,) = wait_for(
        lambda: status_of(emulator, "crawl").get("queued"), 20, interval=0.05, what="a slot in status.queued"
    )
    assert waiting["reason"] == "MaxActive"
    assert len([j for j in jobs_of(emulator, "crawl") if not finished(j)]) <= 2
    run = wait_for(
        lambda: next(
            (r for r in history(emulator, "crawl") if r["job"] == waiting["job"] and r.get("startTime")), None
        ),
        20,
        what="the waiting slot started",
    )
    first_done = min(parse(r["completionTime"]) for r in records(emulator, "crawl", "Succeeded"))
    assert parse(run["startTime"]).timestamp() + 1 >= first_done.timestamp(), "started before a run ended"
    assert run["trigger"] == "schedule" and parse(run["scheduledTime"]) == parse(waiting["scheduledTime"])
    queued_events = [e for e in events(emulator, "crawl") if e["reason"] == "SlotQueued"]
    assert any("maxActive 2" in e["message"] for e in queued_events), queued_events
    assert not records(emulator, "crawl", "Skipped")


def test_kubectl_sj_run_at_the_cap_says_queued_for_max_active_then_runs(
    emulator: Emulator, operator: OperatorFactory, script: JobScript, tmp_path: Path
) -> None:
    script.rule = lambda job, n: (4.0, 0) if n == 1 else (0.3, 0)
    operator()
    emulator.create(scheduled_job("crawl", "0 0 1 1 *", maxActive=1))
    kubeconfig = str(emulator.write_kubeconfig(tmp_path / "kubeconfig"))

    def sj(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = kubectl_sj([*argv, "--kubeconfig", kubeconfig], out=out, err=err)
        return code, out.getvalue(), err.getvalue()

    code, out, err = sj("run", "crawl")
    assert code == 0 and out.endswith(" created\n"), (out, err)
    code, out, err = sj("run", "crawl", "--wait", "--timeout", "30s")
    assert code == 0, (out, err)
    first, *rest = out.splitlines()
    assert first.startswith("job.batch/crawl-m")
    assert first.endswith(" queued (maxActive 1): it starts when one of the active runs ends"), out
    assert rest[-1].endswith("Succeeded (exit code 0)"), out
    code, out, err = sj("list", "-o", "wide")
    assert code == 0 and "Allow (maxActive 1, Queue)" in out, (out, err)
