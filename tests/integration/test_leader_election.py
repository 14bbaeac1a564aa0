"""Several operator replicas against the emulator: leader election on a Lease, and never a slot twice.

Short leases (2 s lease, 1.5 s renew deadline, 0.5 s retry) keep the scenarios in seconds; the
defaults are measured on the real API server (tests/realserver/test_realserver_failover.py).

* in-process replicas: only the Lease holder creates Jobs; a clean stop releases the Lease and the
  standby takes over at its next retry;
* shards: one Lease per shard, each held by one of that shard's replicas;
* split brain: two replicas that both lead (no Lease) still start each slot once: the second create
  of a slot's Job gets AlreadyExists and is adopted;
* 20 seeded rounds of ``punctual run`` processes SIGKILLed or SIGTERMed and restarted: every slot has
  exactly one Job, created once, with catchUp All filling the gaps of each failover.
"""

from __future__ import annotations

import collections
import os
import random
import signal
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from integration_support import (
    NS,
    ROOT,
    Body,
    JobScript,
    OperatorFactory,
    TestClock,
    jobs_of,
    parse,
    records,
    scheduled_job,
    slot_of,
)
from punctual_realserver import free_port
from punctual_testing import wait_for

from kube_emulator import Emulator
from punctual.core import shard_of

LEASE = "punctual-leader"
SHORT = {"lease_duration": 2, "renew_deadline": 1.5, "retry_period": 0.5}
PUNCTUAL = ROOT / ".venv" / "bin" / "punctual"


def holder(emulator: Emulator) -> str:
    lease = emulator.get_or_none("coordination.k8s.io/v1", "leases", LEASE, namespace=NS)
    return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")


def job_creates(emulator: Emulator) -> list[int]:
    return [r.status for r in emulator.request_log if r.verb == "create" and r.resource == "jobs.batch"]


def test_only_the_lease_holder_starts_runs_and_a_clean_stop_hands_over(
    emulator: Emulator, operator: OperatorFactory, clock: TestClock
) -> None:
    leader = operator(lease_name=LEASE, lease_namespace=NS, pod_name="a", **SHORT)
    wait_for(lambda: leader.op.leader and holder(emulator) == "a", 10, what="a holds the Lease")
    follower = operator(lease_name=LEASE, lease_namespace=NS, pod_name="b", **SHORT)
    emulator.reset_request_log()
    emulator.create(scheduled_job("ha", "* * * * * *", successfulJobsHistoryLimit=100))
    follower_led = False

    def three_runs() -> bool:
        nonlocal follower_led
        follower_led |= follower.op.leader
        return len(records(emulator, "ha", "Succeeded")) >= 3

    wait_for(three_runs, 20, what="3 runs under a")
    assert not follower_led and holder(emulator) == "a", "b led while a held the Lease"
    creates = job_creates(emulator)
    assert creates and set(creates) == {201}, f"the standby tried to create Jobs: {creates}"
    assert b'punctual_leader{shard="0"} 1.0' in leader.op.metrics.exposition()
    assert b'punctual_leader{shard="0"} 0.0' in follower.op.metrics.exposition()

    stopped = time.monotonic()
    leader.stop()  # clean: the Lease is released on the way out
    wait_for(lambda: follower.op.leader, 5, interval=0.05, what="b takes over")
    handover = time.monotonic() - stopped
    assert handover < 2, f"a released Lease is taken at the next retry (0.5 s), took {handover:.2f} s"
    assert holder(emulator) == "b"
    after = clock.now()
    wait_for(
        lambda: len([r for r in records(emulator, "ha", "Succeeded") if parse(r["scheduledTime"]) > after]) >= 2,
        20,
        what="2 runs under b",
    )
    jobs = jobs_of(emulator, "ha")
    assert len({slot_of(j) for j in jobs}) == len(jobs)
    assert not records(emulator, "ha", "Failed")


def test_two_replicas_that_both_lead_start_each_slot_once(emulator: Emulator, operator: OperatorFactory) -> None:
    # No Lease: each believes it leads, as two replicas do for a moment in a split brain.
    a, b = operator(pod_name="a"), operator(pod_name="b")
    assert a.op.leader and b.op.leader
    emulator.reset_request_log()
    emulator.create(scheduled_job("twice", "* * * * * *", successfulJobsHistoryLimit=100))
    wait_for(lambda: len(records(emulator, "twice", "Succeeded")) >= 6, 30, what="6 runs")
    creates = collections.Counter(job_creates(emulator))
    assert creates[409] >= 1, f"both replicas should have raced for a slot at least once: {creates}"
    jobs = jobs_of(emulator, "twice")
    slots = collections.Counter(slot_of(j) for j in jobs)
    assert slots and max(slots.values()) == 1
    assert creates[201] == len(jobs), "each Job created once (the other create was AlreadyExists, adopted)"
    times = [r["scheduledTime"] for r in records(emulator, "twice", "Succeeded")]
    assert len(times) == len(set(times)), "the status records each slot once"


def test_each_shard_elects_its_own_leader_on_its_own_lease(emulator: Emulator, operator: OperatorFactory) -> None:
    leases = {k: f"punctual-shard-{k}-leader" for k in (0, 1)}
    replicas = {
        (k, who): operator(shards=2, shard=k, lease_name=leases[k], lease_namespace=NS, pod_name=f"{k}{who}", **SHORT)
        for k in (0, 1)
        for who in "ab"
    }

    def holders() -> dict[int, str]:
        found = {
            k: emulator.get_or_none("coordination.k8s.io/v1", "leases", name, namespace=NS)
            for k, name in leases.items()
        }
        return {k: str(((lease or {}).get("spec") or {}).get("holderIdentity") or "") for k, lease in found.items()}

    wait_for(lambda: all(holders().values()), 10, what="a leader per shard")
    held = holders()
    assert {k: h[0] for k, h in held.items()} == {0: "0", 1: "1"}, f"each shard's Lease held by one of its own: {held}"
    for (k, who), replica in replicas.items():
        assert replica.op.leader == (held[k] == f"{k}{who}"), (k, who, held)
    names: dict[int, str] = {}
    i = 0
    while len(names) < 2:
        names.setdefault(shard_of(NS, f"sharded-{i}", 2), f"sharded-{i}")
        i += 1
    for name in names.values():
        emulator.create(scheduled_job(name, "* * * * * *"))
    for name in names.values():
        wait_for(lambda n=name: len(records(emulator, n, "Succeeded")) >= 2, 20, what=f"runs of {name}")


# -- processes, killed and restarted ------------------------------------------------------------------


@dataclass
class Replica:
    """One ``punctual run`` process against the emulator; a new identity at each start, as a pod."""

    label: str
    kubeconfig: Path
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    port: int = 0

    @property
    def identity(self) -> str:
        return f"{self.label}-{self.starts}"

    def start(self) -> None:
        self.starts += 1
        self.port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PUNCTUAL_", "KUBECONFIG"))},
            "PUNCTUAL_KUBECONFIG": str(self.kubeconfig),
            "PUNCTUAL_NAMESPACES": NS,
            "PUNCTUAL_METRICS_HOST": "127.0.0.1",
            "PUNCTUAL_METRICS_PORT": str(self.port),
            "PUNCTUAL_POD_NAME": self.identity,
            "PUNCTUAL_LEASE_NAME": LEASE,
            "PUNCTUAL_LEASE_NAMESPACE": NS,
            "PUNCTUAL_STATUS_DELAY": "0.2",
            "PUNCTUAL_WATCH_TIMEOUT": "30",
            **{f"PUNCTUAL_{k.upper()}": str(v) for k, v in SHORT.items()},
        }
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen([str(PUNCTUAL), "run"], env=env, stdout=log, stderr=subprocess.STDOUT)

    def signal(self, sig: int) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            raise AssertionError(f"{self.identity} did not exit on signal {sig}") from None

    def ready(self) -> bool:
        import urllib.request

        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.identity} exited {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False


def test_twenty_seeded_kill_and_restart_rounds_never_start_a_slot_twice(
    emulator: Emulator, script: JobScript, tmp_path: Path
) -> None:
    rng = random.Random(18)
    kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")
    replicas = {label: Replica(label, kubeconfig, tmp_path / f"{label}.log") for label in ("a", "b")}
    takeovers: list[tuple[str, float]] = []
    try:
        for replica in replicas.values():
            replica.start()
        for replica in replicas.values():
            wait_for(replica.ready, 30, interval=0.1, what=f"{replica.identity} ready")
        wait_for(lambda: holder(emulator) != "", 10, what="a leader")
        emulator.create(
            scheduled_job(
                "rounds",
                "* * * * * *",
                concurrencyPolicy="Allow",
                catchUp="All",
                successfulJobsHistoryLimit=1000,
            )
        )
        first = datetime.now(UTC)
        for _ in range(20):
            time.sleep(rng.uniform(0.2, 1.5))  # a moment into (or just after) a slot
            leading = holder(emulator)
            victim = next(r for r in replicas.values() if r.identity == leading)
            survivor = next(r for r in replicas.values() if r is not victim)
            how = rng.choice([signal.SIGKILL, signal.SIGTERM])
            killed = time.monotonic()
            victim.signal(how)
            heir = survivor.identity
            wait_for(lambda: holder(emulator) == heir, 10, interval=0.05, what=f"{heir} takes over")  # noqa: B023
            took = time.monotonic() - killed
            takeovers.append((how.name, took))
            victim.start()
            wait_for(victim.ready, 30, interval=0.1, what=f"{victim.identity} ready")
        time.sleep(3)  # the last takeover's catch-up runs
        last = datetime.now(UTC) - timedelta(seconds=2)
    finally:
        for replica in replicas.values():
            replica.signal(signal.SIGTERM)

    print("takeovers (signal, seconds from the signal to the survivor holding the Lease):", takeovers)
    kills = [t for how, t in takeovers if how == "SIGKILL"]
    terms = [t for how, t in takeovers if how == "SIGTERM"]
    assert kills and terms, takeovers
    assert max(kills) <= SHORT["lease_duration"] + 2, f"SIGKILL takeovers (s): {kills}"
    assert max(terms) <= 2, f"SIGTERM hand-overs (s): {terms}"

    jobs = jobs_of(emulator, "rounds")
    slots = collections.Counter(slot_of(j) for j in jobs)
    twice = {s: n for s, n in slots.items() if n > 1}
    assert not twice, f"slots started twice: {twice}"
    assert len(script.names) == len(set(script.names)), "a Job name was created twice"
    expected: list[datetime] = []
    slot = min(slots)
    while slot <= last:
        expected.append(slot)
        slot += timedelta(seconds=1)
    missing = [s for s in expected if s not in slots and s >= first.replace(microsecond=0) + timedelta(seconds=1)]
    assert not missing, f"slots never started (catchUp All should start them): {missing}"
    body: Body = emulator.get("punctual.dev/v1", "scheduledjobs", "rounds", namespace=NS)
    recorded = [r["scheduledTime"] for r in (body.get("status") or {}).get("history") or []]
    assert len(recorded) == len(set(recorded)), "the status records a slot twice"
