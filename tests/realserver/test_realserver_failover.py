"""Failover on the real API server, measured: two ``punctual run`` replicas with the chart's
ServiceAccount elect a leader on a Lease in the release namespace with client-go's defaults (15 s
lease, 10 s renew deadline, 2 s retry).

* SIGKILL the leader just after a slot: the standby starts the next slot within the lease duration
  plus 2 s of the kill, and the slots of the gap follow ``catchUp`` (All: each runs once, late);
* SIGTERM the leader: it releases the Lease and the standby holds it within 2 s.

The figures are printed (``-s``) and reported in docs/reliability.md.
"""

from __future__ import annotations

import collections
import json
import signal
import time
from datetime import UTC, datetime, timedelta

from punctual_realserver import RealServer
from punctual_testing import wait_for
from realserver_support import (
    OPERATOR_NAMESPACE,
    Installation,
    OperatorFactory,
    OperatorProcess,
    apply_in,
    jobs_of,
    parse_time,
    scheduled_job,
)

PERIOD = 5  # seconds between slots
LEASE_DURATION = 15  # the default, as the chart sets it


def holder(server: RealServer, lease: str) -> str:
    done = server.kubectl("get", "lease", lease, "-n", OPERATOR_NAMESPACE, "-o", "json", check=False)
    found = json.loads(done.stdout) if done.returncode == 0 else {}
    return str((found.get("spec") or {}).get("holderIdentity") or "")


def slot_counts(server: RealServer, namespace: str) -> collections.Counter[datetime]:
    return collections.Counter(
        parse_time(j["metadata"]["annotations"]["punctual.dev/scheduled-time"])
        for j in jobs_of(server, namespace, "ha")
    )


def two_replicas(operator: OperatorFactory, namespace: str) -> tuple[str, dict[str, OperatorProcess]]:
    lease = f"punctual-leader-{namespace}"  # one per test: the tests share the release namespace
    replicas = {
        name: operator(pod_name=name, lease_name=lease, lease_namespace=OPERATOR_NAMESPACE) for name in ("a", "b")
    }
    return lease, replicas


def after_next_slot(offset: float) -> float:
    """Sleep to ``offset`` s after the next slot boundary (the wall clock is the clock under test)."""
    now = time.time()
    target = (int(now) // PERIOD + 1) * PERIOD + offset
    time.sleep(target - now)
    return time.time()


def test_sigkill_of_the_leader_fails_over_within_the_lease_duration(
    installation: Installation, operator: OperatorFactory, namespace: str
) -> None:
    server = installation.server
    lease, replicas = two_replicas(operator, namespace)
    wait_for(lambda: holder(server, lease) in replicas, 30, what="a leader")
    apply_in(
        server,
        namespace,
        scheduled_job(
            "ha", f"*/{PERIOD} * * * * *", concurrencyPolicy="Allow", catchUp="All", successfulJobsHistoryLimit=100
        ),
    )
    wait_for(lambda: len(slot_counts(server, namespace)) >= 2, 30, what="2 slots under the first leader")
    leader = holder(server, lease)
    standby = next(name for name in replicas if name != leader)
    killed = after_next_slot(1.0)
    started_before = set(slot_counts(server, namespace))
    replicas[leader].kill(signal.SIGKILL)
    kill_time = datetime.fromtimestamp(killed, UTC)

    first_new: float | None = None
    while time.time() < killed + LEASE_DURATION + 10:
        if any(slot > kill_time for slot in slot_counts(server, namespace)):
            first_new = time.time()
            break
        time.sleep(0.2)
    assert first_new is not None, "the standby started nothing"
    took = first_new - killed
    assert holder(server, lease) == standby
    print(f"SIGKILL: the standby started the first slot after the kill {took:.1f} s after it")
    assert took <= LEASE_DURATION + 2, f"first run after the kill came {took:.1f} s later"

    # catchUp All: every slot of the gap runs once, late; none twice, none before the kill lost.
    settle = datetime.now(UTC) + timedelta(seconds=2 * PERIOD)
    wait_for(lambda: datetime.now(UTC) >= settle, 3 * PERIOD)
    counts = slot_counts(server, namespace)
    assert max(counts.values()) == 1, f"a slot ran twice: {counts}"
    first = min(started_before)
    expected = [
        first + timedelta(seconds=PERIOD * i) for i in range(int((settle - first).total_seconds()) // PERIOD - 1)
    ]
    missing = [s for s in expected if s not in counts]
    assert not missing, f"slots of the gap not caught up: {missing}"
    # The gap's older slots ran as catch-up runs; the newest due one when the standby took over is on time.
    triggers = collections.Counter(
        j["metadata"]["labels"]["punctual.dev/trigger"] for j in jobs_of(server, namespace, "ha")
    )
    assert triggers["catchup"] >= 1, triggers


def test_sigterm_of_the_leader_hands_over_within_2_s(
    installation: Installation, operator: OperatorFactory, namespace: str
) -> None:
    server = installation.server
    lease, replicas = two_replicas(operator, namespace)
    wait_for(lambda: holder(server, lease) in replicas, 30, what="a leader")
    leader = holder(server, lease)
    standby = next(name for name in replicas if name != leader)
    time.sleep(3)  # the standby has seen the leader renew
    sent = time.time()
    proc = replicas[leader].proc
    assert proc is not None
    proc.send_signal(signal.SIGTERM)
    taken: float | None = None
    while time.time() < sent + 20:
        if holder(server, lease) == standby:
            taken = time.time()
            break
        time.sleep(0.05)
    assert proc.wait(20) == 0, "a clean shutdown exits 0"
    replicas[leader].proc = None
    assert taken is not None, "the standby never took the Lease"
    print(f"SIGTERM: the standby held the Lease {taken - sent:.2f} s after the signal")
    assert taken - sent <= 2, f"hand-over took {taken - sent:.2f} s"
    assert "lease punctual-system/" in replicas[leader].log() and "released" in replicas[leader].log()
