"""What one ScheduledJob watch event costs a consumer: kopf's event-handler path against our lean loop.

Starts the emulator, creates ``--count`` ScheduledJobs, starts a consumer process that counts the
events it is handed, then writes every ScheduledJob's status ``--rounds`` times (a status with
``--records`` history records, as an operator's own status patch does) and measures the consumer's
CPU per event and its RSS (after the list, after the events, and ``--linger`` seconds later).

Either way the events go to the operator's own handler (``Operator.on_scheduledjob``: the caches
and the pipeline index; the scheduler is not running, so nothing is reconciled):

- ``kopf``: through kopf, with the operator's own registry and kopf settings: the path
  Punctual's ScheduledJobs take.
- ``lean``: through :meth:`punctual.runtime.kube.Kube.list_and_watch`, the loop our Jobs and Pods take.

    python bench/watch_cost.py --count 5000 --rounds 2 --consumer kopf,lean
    python bench/watch_cost.py --count 5000 --rounds 2 --consumer kopf --kopf-idle 5   # kopf's default
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import yaml
from cache_memory import status_text
from operator_e2e import _cpu, _hwm_mb

ROOT = Path(__file__).resolve().parents[1]
CRD = ROOT / "crds" / "scheduledjobs.punctual.dev.yaml"
NS = "default"

CONSUMER = r"""
import asyncio, logging, sys, threading, time
mode, kubeconfig, idle = sys.argv[1], sys.argv[2], sys.argv[3]
logging.basicConfig(level=logging.WARNING)
from punctual.runtime.app import Operator
from punctual.runtime.kube import Kube, load_credentials
from punctual.runtime.settings import Settings
creds = load_credentials(kubeconfig, None)
operator = Operator(Settings(), credentials=creds)  # its caches take every event; nothing is reconciled
count = [0]
handle = operator.on_scheduledjob
def counted(kind, body, **kwargs):
    count[0] += 1
    handle(kind, body, **kwargs)
operator.on_scheduledjob = counted  # the kopf handler calls it by this name
def report():
    while True:
        print(count[0], flush=True)
        time.sleep(0.2)
threading.Thread(target=report, daemon=True).start()
if mode == "lean":
    async def main():
        async with Kube(creds) as kube:
            def on_list(items):
                for body in items:
                    counted(None, body)
            await kube.list_and_watch("/apis/punctual.dev/v1/scheduledjobs", label_selector="",
                                      on_list=on_list, on_event=counted, timeout_seconds=600)
    asyncio.run(main())
else:
    import kopf
    settings = operator.kopf_settings()
    if idle:
        settings.queueing.idle_timeout = float(idle)
    asyncio.run(kopf.operator(registry=operator.registry, settings=settings, clusterwide=True, standalone=True))
"""


@dataclass
class Result:
    consumer: str
    events: int
    expected: int
    cpu: float
    rss_listed: float
    rss_after: float
    rss_later: float


async def measure(consumer: str, *, count: int, rounds: int, records: int, linger: float, idle: str) -> Result:
    tmp = Path(tempfile.mkdtemp(prefix="watch-cost-"))
    kubeconfig = tmp / "kubeconfig"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with open(tmp / "emulator.log", "wb") as emu_log, open(tmp / "consumer.log", "wb") as cons_log:
            emu = subprocess.Popen(
                [sys.executable, "-m", "kube_emulator.emulator", "--port", "0", "--kubeconfig-out", str(kubeconfig)],
                stdout=subprocess.PIPE,
                stderr=emu_log,
            )
            procs.append(emu)
            assert emu.stdout is not None
            url = emu.stdout.readline().decode().split()[1]
            async with aiohttp.ClientSession() as session:
                crds = f"{url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
                async with session.post(crds, json=yaml.safe_load(CRD.read_text())) as resp:
                    assert resp.status < 300, await resp.text()
                sem = asyncio.Semaphore(16)
                base = f"{url}/apis/punctual.dev/v1/namespaces/{NS}/scheduledjobs"

                async def create(n: int) -> None:
                    container = {"name": "c", "image": "busybox", "command": ["true"]}
                    body = {
                        "apiVersion": "punctual.dev/v1",
                        "kind": "ScheduledJob",
                        "metadata": {"name": f"sj-{n:05d}", "namespace": NS},
                        "spec": {
                            "schedule": "0 0 1 1 *",
                            "jobTemplate": {
                                "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [container]}}}
                            },
                        },
                    }
                    async with sem, session.post(base, json=body) as resp:
                        assert resp.status < 300, await resp.text()

                await asyncio.gather(*(create(n) for n in range(count)))
                env = {**os.environ, "PYTHONPATH": str(ROOT / "operator")}
                cons = subprocess.Popen(
                    [sys.executable, "-c", CONSUMER, consumer, str(kubeconfig), idle],
                    stdout=subprocess.PIPE,
                    stderr=cons_log,
                    env=env,
                )
                procs.append(cons)
                seen = [0]

                async def read() -> None:
                    assert cons.stdout is not None
                    loop = asyncio.get_running_loop()
                    while line := await loop.run_in_executor(None, cons.stdout.readline):
                        seen[0] = int(line)

                reader = asyncio.create_task(read())
                deadline = time.monotonic() + 120
                while seen[0] < count:
                    if time.monotonic() > deadline or cons.poll() is not None:
                        raise RuntimeError(f"{consumer}: listed {seen[0]} of {count}; see {tmp}/consumer.log")
                    await asyncio.sleep(0.2)
                await asyncio.sleep(linger)
                listed, rss_listed, cpu0 = seen[0], _hwm_mb(cons.pid, "VmRSS"), _cpu(cons.pid)
                texts = [json.loads(status_text(n, records)) for n in range(count)]
                for _ in range(rounds):
                    for status in texts:  # a new version each round, as a run's outcome is
                        status["lastScheduleTime"] = f"2026-12-03T1{_}:00:00Z"

                    async def patch(n: int) -> None:
                        async with (
                            sem,
                            session.patch(
                                f"{base}/sj-{n:05d}/status",
                                data=json.dumps({"status": texts[n]}),
                                headers={"Content-Type": "application/merge-patch+json"},
                            ) as resp,
                        ):
                            assert resp.status < 300, await resp.text()

                    await asyncio.gather(*(patch(n) for n in range(count)))
                expected = rounds * count
                deadline = time.monotonic() + 300
                while seen[0] - listed < expected and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                await asyncio.sleep(0.5)
                cpu, rss_after = _cpu(cons.pid) - cpu0, _hwm_mb(cons.pid, "VmRSS")
                await asyncio.sleep(linger)
                rss_later = _hwm_mb(cons.pid, "VmRSS")
                reader.cancel()
                return Result(consumer, seen[0] - listed, expected, cpu, rss_listed, rss_after, rss_later)
    finally:
        for proc in reversed(procs):
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="ScheduledJobs")
    parser.add_argument("--rounds", type=int, default=2, help="status writes of each ScheduledJob")
    parser.add_argument("--records", type=int, default=5, help="history records in each status written")
    parser.add_argument("--consumer", default="kopf,lean", help="kopf, lean, or both (comma-separated)")
    parser.add_argument("--linger", type=float, default=8.0, help="seconds waited before each RSS reading")
    parser.add_argument(
        "--kopf-idle", default="", help="kopf's settings.queueing.idle_timeout (default: the operator's own setting)"
    )
    args = parser.parse_args(argv)
    results = [
        asyncio.run(
            measure(
                c.strip(),
                count=args.count,
                rounds=args.rounds,
                records=args.records,
                linger=args.linger,
                idle=args.kopf_idle,
            )
        )
        for c in args.consumer.split(",")
        if c.strip()
    ]
    print(
        f"| consumer | events / written | CPU per event (ms) | RSS listed (MB) | RSS after the events (MB) "
        f"| {args.linger:g} s later (MB) |"
    )
    print("|---|---|---:|---:|---:|---:|")
    for r in results:
        per = r.cpu / r.events * 1e3 if r.events else float("nan")
        print(
            f"| {r.consumer} | {r.events:,} / {r.expected:,} | {per:.3f} | {r.rss_listed:.0f} | "
            f"{r.rss_after:.0f} | {r.rss_later:.0f} |"
        )
    return 0 if all(r.events >= r.expected for r in results) else 1


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
