"""``spec.maxActive`` on the real API server, through the real Job controller and the chart's RBAC:
Allow capped at two runs; a slot beyond the cap is Skipped with reason MaxActive (overflow Skip) or
waits in status.queued with reason MaxActive and starts once a run has ended (overflow Queue)."""

from __future__ import annotations

from typing import Any

from punctual_realserver import RealServer
from punctual_testing import wait_for
from realserver_support import OperatorFactory, apply_in, history, jobs_of, scheduled_job, sj, slots_of

# A slot every 3 seconds; runs of 7 s overlap the next two slots.
EVERY_3S = "*/3 * * * * *"


def unfinished(server: RealServer, namespace: str, name: str) -> list[dict[str, Any]]:
    """Jobs without a Complete or Failed condition: running, or not yet picked up by the stand-in kubelet."""
    return [j for j in jobs_of(server, namespace, name) if not (j.get("status") or {}).get("conditions")]


def test_overflow_skip_caps_allow_at_max_active(
    real_server: RealServer, namespace: str, operator: OperatorFactory
) -> None:
    proc = operator()
    body = scheduled_job("crawl", EVERY_3S, duration="7s", maxActive=2, overflow="Skip", historyLimit=50)
    apply_in(real_server, namespace, body)
    most = 0

    def skipped_with_two_running() -> list[dict[str, Any]]:
        nonlocal most
        most = max(most, len(unfinished(real_server, namespace, "crawl")))
        skipped = [r for r in history(real_server, namespace, "crawl") if r.get("result") == "Skipped"]
        return skipped if skipped and most == 2 else []

    skipped = wait_for(skipped_with_two_running, 60, interval=0.3, what="two runs at once and a Skipped slot")
    for _ in range(10):  # a few more looks: never a third at once
        most = max(most, len(unfinished(real_server, namespace, "crawl")))
    assert most == 2, f"{most} Jobs at once with maxActive 2"
    assert {r.get("reason") for r in skipped} == {"MaxActive"}
    assert all("maxActive 2 (overflow Skip)" in (r.get("message") or "") for r in skipped)
    assert set(slots_of(jobs_of(real_server, namespace, "crawl"))).isdisjoint({r["scheduledTime"] for r in skipped})
    line = next(
        x
        for x in proc.metrics().splitlines()
        if x.startswith(f'punctual_slots_skipped_total{{namespace="{namespace}",scheduledjob="crawl"}}')
    )
    assert float(line.split()[-1]) >= 1


def test_overflow_queue_waits_with_reason_max_active_and_starts_after_a_run_ends(
    real_server: RealServer, namespace: str, operator: OperatorFactory
) -> None:
    operator()
    apply_in(real_server, namespace, scheduled_job("crawl", EVERY_3S, duration="7s", maxActive=2, historyLimit=50))

    def waiting() -> dict[str, Any] | None:
        queued = (sj(real_server, namespace, "crawl").get("status") or {}).get("queued") or []
        return queued[0] if queued else None

    slot = wait_for(waiting, 60, interval=0.3, what="a slot waiting in status.queued")
    assert slot["reason"] == "MaxActive"
    assert len(unfinished(real_server, namespace, "crawl")) <= 2

    def its_job() -> dict[str, Any] | None:
        return next((j for j in jobs_of(real_server, namespace, "crawl") if j["metadata"]["name"] == slot["job"]), None)

    job = wait_for(its_job, 30, interval=0.3, what="the waiting slot's Job")
    done = [
        (j.get("status") or {}).get("completionTime")
        for j in jobs_of(real_server, namespace, "crawl")
        if (j.get("status") or {}).get("completionTime")
    ]
    assert done and min(done) <= job["metadata"]["creationTimestamp"], "it started before any run ended"
    records = history(real_server, namespace, "crawl")
    assert not any(r.get("result") == "Skipped" for r in records), "overflow Queue skipped a slot"
    assert any(r["job"] == slot["job"] and r.get("trigger") == "schedule" for r in records)
