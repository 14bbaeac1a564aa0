"""The real operator under chaos, over HTTP against the emulated API. Seeded, about a minute in CI.

* **SIGKILL**: ``punctual run`` in a subprocess is killed with SIGKILL and restarted a few times:
  at seeded random moments, and right after the API server created a Job (before the operator
  even read the answer, let alone wrote the status: the crash the deterministic Job names exist
  for).
* **API faults**: the operator in-process while the API answers 500, 429 (Retry-After) and hangs
  on about 10% each of the requests, and every watch stream is dropped every few seconds; then the
  faults are cleared and the operator must still schedule.

Checked from every Job the API server created (a log kept by the emulator's store: a second
create of the same name would be a second 201) and from the final status: no Job name created
twice, no slot with two Jobs, history slots unique, every run record is a created Job, every
created Job is counted once, and every slot since creation is accounted for exactly once
(``status.counts``: started + skipped + missed + dropped, plus the queue).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from chaos_support import CRD, CreationLog, in_process_operator, scheduled_job, settled_world

from kube_emulator import Emulator, Faults, JobController

PUNCTUAL = Path(sys.executable).with_name("punctual")
# CI runs one seed of each for ~18 s; a larger run: PUNCTUAL_CHAOS_SEEDS=1,2,3,4,5 PUNCTUAL_CHAOS_SECONDS=120
SEEDS = [int(s) for s in os.environ.get("PUNCTUAL_CHAOS_SEEDS", "1").split(",")]
SECONDS = float(os.environ.get("PUNCTUAL_CHAOS_SECONDS", "18"))

# */2 schedules with seconds: a 40 s run is ~20 slots each. Durations make Forbid skip, Queue
# queue (and drop) and Allow overlap.
SCHEDULED_JOBS = [
    scheduled_job("forbid", "*/2 * * * * *", duration="3s", concurrencyPolicy="Forbid", catchUp="None"),
    scheduled_job("queue", "*/2 * * * * *", duration="3s", concurrencyPolicy="Queue", maxQueued=2),
    scheduled_job("allow", "*/2 * * * * *", duration="5s", concurrencyPolicy="Allow", catchUp="All"),
    scheduled_job(
        "catchup",
        "*/3 * * * * *",
        duration="1s",
        concurrencyPolicy="Forbid",
        catchUp="All",
        maxCatchUp=3,
    ),
]
NAMES = [sj["metadata"]["name"] for sj in SCHEDULED_JOBS]


def start_operator(kubeconfig: Path, log_file: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PUNCTUAL_KUBECONFIG": str(kubeconfig),
        "PUNCTUAL_METRICS_PORT": "0",
        "PUNCTUAL_METRICS_HOST": "127.0.0.1",
        "PUNCTUAL_WATCH_TIMEOUT": "5",
        "PUNCTUAL_LOG_LEVEL": "INFO",
    }
    with log_file.open("ab") as out:
        return subprocess.Popen([str(PUNCTUAL), "run"], env=env, stdout=out, stderr=subprocess.STDOUT)


def kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


@pytest.mark.parametrize("seed", SEEDS)
def test_sigkill_and_restart(seed: int, tmp_path: Path) -> None:
    rng = random.Random(seed)
    log = CreationLog()
    current: list[subprocess.Popen[bytes]] = []
    armed = {"kill_after_create": False}
    kills = {"random": 0, "after_create": 0}

    def after_create(_: object) -> None:
        # On the emulator's thread, right after the store created the Job: the operator dies
        # before it reads the 201, so before its status write.
        if armed["kill_after_create"] and current and current[-1].poll() is None:
            armed["kill_after_create"] = False
            current[-1].send_signal(signal.SIGKILL)
            kills["after_create"] += 1

    log.after_create = after_create
    operator_log = tmp_path / "operator.log"
    with Emulator(controllers=[JobController(default_duration=1.0)], seed=seed) as emu:
        emu.install_crd(CRD)
        log.install(emu)
        kubeconfig = emu.write_kubeconfig(tmp_path / "kubeconfig")
        for sj in SCHEDULED_JOBS:
            emu.create(sj)
        try:
            deadline = time.monotonic() + SECONDS
            while time.monotonic() < deadline:
                current.append(start_operator(kubeconfig, operator_log))
                time.sleep(rng.uniform(3.0, 8.0))
                if rng.random() < 0.5:
                    armed["kill_after_create"] = True  # the next Job creation kills it
                    # Wait for that creation, not for a fixed 5 s: an every-2-s schedule creates one
                    # within seconds of the operator scheduling, but on a loaded 2-core machine its
                    # start-up alone (imports, lists) can outlast a short window, and then the kill
                    # this test must exercise never happened (kills["after_create"] == 0).
                    end = time.monotonic() + 30
                    while current[-1].poll() is None and time.monotonic() < end:
                        time.sleep(0.05)
                    armed["kill_after_create"] = False
                if current[-1].poll() is None:
                    kills["random"] += 1
                kill(current[-1])
                time.sleep(rng.uniform(0.0, 3.0))  # down: slots come due meanwhile
            # The last operator runs undisturbed, catches up and keeps scheduling.
            current.append(start_operator(kubeconfig, operator_log))
            time.sleep(8)
            statuses = settled_world(emu, log, NAMES)
        finally:
            for proc in current:
                kill(proc)
    assert kills["after_create"] + kills["random"] >= 3, kills
    assert kills["after_create"] >= 1, kills
    for name in NAMES:
        assert statuses[name].counts.get("Succeeded", 0) >= 3, (name, statuses[name].counts)
    # The survivors exited with SIGKILL, never on their own (a crash would show another code).
    assert all(p.returncode == -signal.SIGKILL for p in current), [p.returncode for p in current]


@pytest.mark.parametrize("seed", SEEDS)
def test_api_faults_and_dropped_watches(seed: int) -> None:
    rng = random.Random(seed)
    log = CreationLog()
    with Emulator(controllers=[JobController(default_duration=1.0)], seed=seed) as emu:
        emu.install_crd(CRD)
        log.install(emu)
        for sj in SCHEDULED_JOBS:
            emu.create(sj)
        with in_process_operator(emu):
            emu.faults = Faults(error_rate=0.1, throttle_rate=0.1, hang_rate=0.1, hang_seconds=2, seed=seed)
            end = time.monotonic() + SECONDS * 2 / 3
            drops = 0
            while time.monotonic() < end:
                time.sleep(rng.uniform(2.0, 4.0))
                drops += emu.drop_watches()
            faults = emu.fault_counts
            emu.faults = Faults()
            cleared = time.monotonic()
            started = {name: len(log.of(name)) for name in NAMES}
            # The operator may be in its 10 s retry after an error, and kopf in a watch backoff.
            while time.monotonic() < cleared + 20 and any(len(log.of(n)) < started[n] + 2 for n in NAMES):
                time.sleep(0.5)
            statuses = settled_world(emu, log, NAMES)
            after = {name: len(log.of(name)) - started[name] for name in NAMES}
    assert drops >= 3
    assert faults.get("error", 0) >= 3 and faults.get("throttle", 0) >= 3 and faults.get("hang", 0) >= 3, faults
    # Scheduling goes on after the faults: each ScheduledJob starts Jobs again.
    assert all(n >= 2 for n in after.values()), after
    for name in NAMES:
        assert statuses[name].counts.get("Succeeded", 0) >= 2, (name, statuses[name].counts)
