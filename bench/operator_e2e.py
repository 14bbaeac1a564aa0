"""Benchmark of the whole operator against the API emulator, each in its own process.

(Not ``bench/operator.py``: a script of that name shadows Python's ``operator`` module when run.)

1. Start the emulator (``python -m kube_emulator.emulator --jobs --job-duration 1s``), install
   the CRD and create ``--count`` ScheduledJobs over HTTP (a few at a time) before the operator runs.
2. Open a watch on Jobs in this process (it also counts the Jobs: a list at the end would miss
   those the history limits deleted): the time its ADDED event arrives minus the Job's
   ``punctual.dev/scheduled-time`` annotation is the start lag (the emulator's creationTimestamp has
   whole seconds only; its lag is reported too, as a cross-check at 1 s resolution).
3. Start the operator (``punctual run``, or with ``--design naive`` the kopf-timer design of
   ``bench/naive.py``), wait for it to be ready and settle, then measure over ``--window`` seconds
   starting at a slot: CPU of both processes from ``/proc/PID/stat``, the operator's API requests by
   verb from its metrics endpoint (scraped before and after), its peak RSS (``VmHWM``).
4. Check that every slot in the window got exactly one Job per ScheduledJob, and print a markdown
   table.

Usage::

    python bench/operator_e2e.py --count 1000 --schedule '* * * * *' --window 120
    python bench/operator_e2e.py --count 1000 --schedule '*/10 * * * * *' --window 60
    python bench/operator_e2e.py --count 1000 --design naive ...
    python bench/operator_e2e.py --count 1000 --design floor ...   # Job creates alone: the emulator's floor
    python bench/operator_e2e.py --count 1000 --design punctual,naive,floor   # one after another, with ratios
    python bench/operator_e2e.py --count 1000 --env PUNCTUAL_EVENT_BURST=0 ... # the event burst spent: steady state
    python bench/operator_e2e.py --count 1000 --shards 2 ...  # two shard processes: CPU and watch events per shard
    python bench/operator_e2e.py --count 100 --api real --design punctual,floor   # a real kube-apiserver
    python bench/operator_e2e.py --count 1000 --design punctual,floor --repeat 3   # medians and ranges of 3 rounds
    python bench/operator_e2e.py --count 1000 --env PYTHONPATH=/tmp/old/operator ...   # another checkout's operator

``--api real`` runs the same measurement against the real-server test tier instead of the emulator
(``tests/support/punctual_realserver.py``: etcd, kube-apiserver and kube-controller-manager on
127.0.0.1, binaries from ``$PUNCTUAL_KUBE_BIN``), with the stand-in kubelet
(``tests/support/punctual_kubelet.py``) in a process of its own running each Pod for 1 s. Every
client (the operator, the floor, the driver) uses the admin token; "API side CPU" is then
kube-apiserver + etcd + kube-controller-manager + the stand-in kubelet (their parts are printed
under the table), where with the emulator it is the emulator's one process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from punctual.api import parse_time
from punctual.core import shard_of
from punctual.schedule import Schedule

__all__ = ["Result", "main", "run"]

ROOT = Path(__file__).resolve().parent.parent
CRD = ROOT / "crds" / "scheduledjobs.punctual.dev.yaml"
CALENDAR_CRD = ROOT / "crds" / "calendars.punctual.dev.yaml"
SUPPORT = ROOT / "tests" / "support"
POD_ANNOTATIONS = {"punctual.dev/sandbox-duration": "1s", "punctual.dev/sandbox-exit-code": "0"}
"""The stand-in kubelet's duration and exit code (--api real): on the Pod, so it needs no read of the Job."""
NAIVE = Path(__file__).resolve().parent / "naive.py"
FLOOR = Path(__file__).resolve().parent / "floor.py"
NS = "default"
TICK = os.sysconf("SC_CLK_TCK")
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}


@dataclass
class Result:
    design: str
    count: int
    schedule: str
    window: float
    slots: int = 0
    expected: int = 0
    jobs: int = 0
    missing: int = 0
    duplicates: int = 0
    lag_watch: list[float] = field(default_factory=list)
    lag_created: list[float] = field(default_factory=list)
    writes: dict[str, float] = field(default_factory=dict)
    op_cpu: float = 0.0
    op_cpu_startup: float = 0.0
    emu_cpu: float = 0.0
    op_rss_mb: float = 0.0
    op_rss_end_mb: float = 0.0
    op_rss_all_mb: float = 0.0
    shards: int = 1
    op_rss_ready_mb: float = 0.0
    startup_s: float = 0.0
    events: int = 0
    """Events created in the window (counted on the server: the operator's metrics count them as creates)."""
    api: str = "emulator"
    api_cpu_parts: dict[str, float] = field(default_factory=dict)
    """CPU seconds in the window of each API-side process (--api real: kube-apiserver, etcd, ...)."""
    shard_cpu: list[float] = field(default_factory=list)
    """Operator CPU seconds in the window, per shard process."""
    shard_runs: list[int] = field(default_factory=list)
    """Jobs of the window's slots per shard (by the owner's shard)."""
    shard_watch: list[dict[str, float]] = field(default_factory=list)
    """Watch events each shard received in the window, by resource (punctual_watch_events_total)."""
    not_started: dict[str, int] = field(default_factory=dict)
    """Punctual only: the window's slots without a Job, by what the ScheduledJobs' histories say (result/reason)."""
    late: int = 0
    """Slots with neither a Job nor a record at the window's end whose Job came within LATE_GRACE more."""
    late_max: float = 0.0
    """The largest start lag among those late slots (s)."""
    round: int = 0
    """With --repeat: which round (1, 2, ...) of the designs this run was; 0 without."""

    @property
    def design_label(self) -> str:
        return self.design if self.shards == 1 else f"{self.design} ({self.shards} shards)"

    @property
    def label(self) -> str:
        return self.design_label if not self.round else f"{self.design_label} #{self.round}"

    @property
    def writes_total(self) -> float:
        return sum(v for k, v in self.writes.items() if k in WRITE_VERBS)

    @property
    def writes_without_events(self) -> float:
        """The writes the runs need (Job creates, status patches, deletes): Events are budgeted apart."""
        return self.writes_total - self.events


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu(pid: int) -> float:
    """User + system CPU seconds of a live process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _hwm_mb(pid: int, field: str = "VmHWM") -> float:
    """Peak resident memory (``VmHWM``), or another ``/proc/PID/status`` field such as ``VmRSS`` (now)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _scrape(session: aiohttp.ClientSession, url: str) -> dict[str, float]:
    async with session.get(url) as resp:
        text = await resp.text()
    out: dict[str, float] = {}
    for m in re.finditer(r'^(?:punctual|naive)_api_requests_total\{verb="([^"]+)"\} (\S+)$', text, re.M):
        out[m.group(1)] = float(m.group(2))
    return out


async def _scrape_watch(session: aiohttp.ClientSession, url: str) -> dict[str, float]:
    """Watch events received so far by one operator process, by resource."""
    async with session.get(url) as resp:
        text = await resp.text()
    return {
        m.group(1): float(m.group(2))
        for m in re.finditer(r'^punctual_watch_events_total\{resource="([^"]+)"\} (\S+)$', text, re.M)
    }


async def _scrape_all(session: aiohttp.ClientSession, urls: list[str]) -> dict[str, float]:
    """Requests by verb, summed over every operator process (shards)."""
    total: dict[str, float] = {}
    for url in urls:
        for verb, n in (await _scrape(session, url)).items():
            total[verb] = total.get(verb, 0.0) + n
    return total


async def _count_events(session: aiohttp.ClientSession, url: str) -> int:
    """Events in the namespace now (the operator's metrics say "create" for Jobs and Events alike)."""
    # About ScheduledJobs only: a real kube-controller-manager posts Events about the Jobs too.
    params = {"fieldSelector": "involvedObject.kind=ScheduledJob"}
    async with session.get(f"{url}/api/v1/namespaces/{NS}/events", params=params) as resp:
        resp.raise_for_status()
        return len((await resp.json()).get("items") or [])


def _scheduled_job(
    name: str, schedule: str, *, pod_annotations: dict[str, str] | None = None, policy: str = "Forbid"
) -> dict[str, Any]:
    template: dict[str, Any] = {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}
    if pod_annotations:
        template["metadata"] = {"annotations": pod_annotations}
    return {
        "apiVersion": "punctual.dev/v1",
        "kind": "ScheduledJob",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "schedule": schedule,
            "concurrencyPolicy": policy,
            "jobTemplate": {"spec": {"template": template}},
        },
    }


async def _create_all(
    session: aiohttp.ClientSession, url: str, count: int, schedule: str, *, concurrency: int,
    pod_annotations: dict[str, str] | None = None, policy: str = "Forbid",
) -> None:
    names = iter(f"sj-{i:05d}" for i in range(count))

    async def worker() -> None:
        for name in names:
            body = _scheduled_job(name, schedule, pod_annotations=pod_annotations, policy=policy)
            async with session.post(f"{url}/apis/punctual.dev/v1/namespaces/{NS}/scheduledjobs", json=body) as resp:
                if resp.status >= 300:
                    raise RuntimeError(f"create {name}: {resp.status} {await resp.text()}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))


Seen = dict[str, tuple[float, dict[str, Any]]]


async def _watch_jobs(session: aiohttp.ClientSession, url: str, seen: Seen) -> None:
    """Record the arrival time (wall clock) of every new Job; reconnects when the server ends the stream."""
    rv = ""
    while True:
        params = {"watch": "true", "timeoutSeconds": "600"}
        if rv:
            params["resourceVersion"] = rv
        async with session.get(f"{url}/apis/batch/v1/namespaces/{NS}/jobs", params=params,
                               timeout=aiohttp.ClientTimeout(total=None)) as resp:
            async for line in resp.content:
                arrived = time.time()
                event = json.loads(line)
                obj = event.get("object") or {}
                meta = obj.get("metadata") or {}
                rv = meta.get("resourceVersion", rv)
                if event.get("type") == "ADDED" and meta.get("name") not in seen:
                    seen[meta["name"]] = (arrived, meta)


async def _wait_http(
    session: aiohttp.ClientSession, url: str, *, timeout: float, proc: subprocess.Popen[bytes]
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the process exited with {proc.returncode}")
        with contextlib.suppress(aiohttp.ClientError):
            async with session.get(url) as resp:
                if resp.status == 200:
                    return
        await asyncio.sleep(0.2)
    raise TimeoutError(url)


@dataclass
class _Api:
    """The API server a run talks to: its URL, how clients authenticate, and its processes' pids."""

    url: str
    kubeconfig: Path
    pids: dict[str, int]
    token: str = ""
    ca: Path | None = None
    stop: list[Any] = field(default_factory=list)

    def session(self) -> aiohttp.ClientSession:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        context = ssl.create_default_context(cafile=str(self.ca)) if self.ca else None
        return aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(ssl=context or True))

    def client_env(self) -> dict[str, str]:
        """What the floor and naive designs need to reach it (besides NAIVE_SERVER and KUBECONFIG)."""
        if not self.token:
            return {}
        annotations = json.dumps(POD_ANNOTATIONS)
        return {"NAIVE_TOKEN": self.token, "NAIVE_CA": str(self.ca), "FLOOR_POD_ANNOTATIONS": annotations}

    def close(self) -> None:
        for stop in reversed(self.stop):
            with contextlib.suppress(Exception):
                stop()


async def _start_emulator(tmp: Path, log_dir: Path, stack: contextlib.ExitStack) -> _Api:
    kubeconfig = tmp / "kubeconfig"
    emu = subprocess.Popen(
        [sys.executable, "-m", "kube_emulator.emulator", "--port", "0", "--kubeconfig-out", str(kubeconfig),
         "--jobs", "--job-duration", "1s"],
        stdout=subprocess.PIPE, stderr=stack.enter_context(open(log_dir / "emulator.log", "wb")),  # noqa: SIM115
    )
    api = _Api(url="", kubeconfig=kubeconfig, pids={"emulator": emu.pid}, stop=[lambda: _end(emu)])
    assert emu.stdout is not None
    line = emu.stdout.readline().decode().strip()
    if not line.startswith("READY "):
        api.close()
        raise RuntimeError(f"emulator did not start: {line!r}")
    api.url = line.split()[1]
    async with api.session() as session:
        crd = yaml.safe_load(CRD.read_text())
        async with session.post(f"{api.url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd) as r:
            assert r.status < 300, await r.text()
    return api


def _start_real(tmp: Path, log_dir: Path, stack: contextlib.ExitStack) -> _Api:
    """The real-server test tier's etcd, kube-apiserver and kube-controller-manager, the CRDs, and the
    stand-in kubelet in its own process (its Python threads would otherwise share this driver's GIL)."""
    if str(SUPPORT) not in sys.path:
        sys.path.insert(0, str(SUPPORT))
    from punctual_realserver import RealServer, default_bin_dir, missing_binaries

    missing = missing_binaries()
    if missing:
        raise SystemExit(f"--api real needs {', '.join(missing)} (kube binaries from $PUNCTUAL_KUBE_BIN, "
                         f"now {default_bin_dir()}; etcd and openssl on PATH)")
    # The venv's kubectl (the one the real-server tier uses), not whichever is first on PATH.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    server = RealServer(workdir=tmp / "realserver")
    (tmp / "realserver").mkdir()
    server.start(kubelet=False)
    api = _Api(url=server.url, kubeconfig=server.admin_kubeconfig, pids={}, token=server.admin_token,
               ca=server.ca_path, stop=[server.stop])
    try:
        server.kubectl("apply", "-f", str(CRD), "-f", str(CALENDAR_CRD))
        for crd in ("crd/scheduledjobs.punctual.dev", "crd/calendars.punctual.dev"):
            server.kubectl("wait", "--for=condition=Established", crd, "--timeout=60s")
        code = (
            "import signal, sys, threading; sys.path.insert(0, sys.argv[1]); "
            "from punctual_kubelet import StandInKubelet; "
            "k = StandInKubelet(sys.argv[2], default_duration=1.0); k.start(); print('READY', flush=True); "
            "done = threading.Event(); signal.signal(signal.SIGTERM, lambda *_: done.set()); done.wait(); k.stop()"
        )
        kubelet = subprocess.Popen(
            [sys.executable, "-c", code, str(SUPPORT), str(server.admin_kubeconfig)], stdout=subprocess.PIPE,
            stderr=stack.enter_context(open(log_dir / "kubelet.log", "wb")),  # noqa: SIM115
        )
        api.stop.append(lambda: _end(kubelet))
        assert kubelet.stdout is not None
        if kubelet.stdout.readline().decode().strip() != "READY":
            raise RuntimeError(f"the stand-in kubelet did not start (see {log_dir / 'kubelet.log'})")
        for name in ("kube-apiserver", "etcd", "kube-controller-manager"):
            proc = server.processes[name].proc
            assert proc is not None
            api.pids[name] = proc.pid
        api.pids["stand-in kubelet"] = kubelet.pid
    except BaseException:
        api.close()
        raise
    if log_dir != tmp:  # --logs: keep the servers' logs too
        api.stop.insert(0, lambda: [shutil.copy(p, log_dir) for p in (tmp / "realserver").glob("*.log")])
    return api


LATE_GRACE = 120.0
"""Seconds the operator is given after the window to start the slots with neither a Job nor a
history record: a slot started late is told apart from one never started (its lag is not in the
table's figures)."""


async def _late_jobs(
    seen: Seen, missing: set[tuple[str, datetime]], *, grace: float
) -> dict[tuple[str, datetime], float]:
    """The ``missing`` slots whose Job the watch delivers within ``grace`` more seconds: each one's lag."""
    deadline = time.monotonic() + grace
    found: dict[tuple[str, datetime], float] = {}
    while True:
        for arrived, meta in list(seen.values()):
            stamp = (meta.get("annotations") or {}).get("punctual.dev/scheduled-time")
            if not stamp:
                continue
            slot = parse_time(stamp)
            key = (meta["labels"]["punctual.dev/scheduledjob"], slot)
            if key in missing and key not in found:
                found[key] = arrived - slot.timestamp()
        if len(found) == len(missing) or time.monotonic() >= deadline:
            return found
        await asyncio.sleep(1.0)


async def _not_started(
    session: aiohttp.ClientSession, url: str, per: Counter[tuple[str, datetime]], want: set[datetime] | None,
    own: dict[str, set[datetime]],
) -> tuple[dict[str, int], set[tuple[str, datetime]]]:
    """Why the window's slots without a Job have none, by the ScheduledJobs' own history records;
    and the slots with no record at all (not decided yet, or lost)."""
    async with session.get(f"{url}/apis/punctual.dev/v1/namespaces/{NS}/scheduledjobs") as resp:
        resp.raise_for_status()
        items = (await resp.json()).get("items") or []
    reasons: Counter[str] = Counter()
    undecided: set[tuple[str, datetime]] = set()
    for item in items:
        name = item["metadata"]["name"]
        slots = want if want is not None else own.get(name, set())
        records = {parse_time(r["scheduledTime"]): r for r in (item.get("status") or {}).get("history") or []}
        for slot in slots:
            if (name, slot) in per:
                continue
            record = records.get(slot)
            reasons[f"{record['result']}/{record.get('reason') or '-'}" if record else "no record"] += 1
            if record is None:
                undecided.add((name, slot))
    return dict(reasons.most_common()), undecided


def _end(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _sleep_until(moment: datetime) -> None:
    await asyncio.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()))


async def run(
    *, count: int, schedule: str, window: float, design: str = "punctual", settle: float = 5.0,
    concurrency: int = 8, log_dir: Path | None = None, profile: Path | None = None,
    extra_env: dict[str, str] | None = None,
    shards: int = 1, api_kind: str = "emulator",
) -> Result:
    if shards > 1 and design != "punctual":
        raise ValueError("--shards applies to the punctual design only")
    result = Result(design=design, count=count, schedule=schedule, window=window, shards=shards, api=api_kind)
    tmp = Path(tempfile.mkdtemp(prefix="punctual-bench-"))
    log_dir = log_dir or tmp
    python = sys.executable
    stack = contextlib.ExitStack()
    ops: list[subprocess.Popen[bytes]] = []
    watcher: asyncio.Task[None] | None = None
    api: _Api | None = None
    try:
        api = _start_real(tmp, log_dir, stack) if api_kind == "real" else await _start_emulator(tmp, log_dir, stack)
        url, kubeconfig = api.url, api.kubeconfig
        async with api.session() as session:
            # On the real server, Allow: its Job controller and stand-in kubelet do not finish 1,000
            # Jobs within a minute, and under Forbid the next slots would be skipped (the floor
            # creates regardless, so the comparison would not be like with like).
            await _create_all(session, url, count, schedule, concurrency=concurrency,
                              pod_annotations=POD_ANNOTATIONS if api_kind == "real" else None,
                              policy="Allow" if api_kind == "real" else "Forbid")
            seen: Seen = {}
            watcher = asyncio.create_task(_watch_jobs(session, url, seen))

            ports = [_free_port() for _ in range(shards)]
            port = ports[0]
            env = {**os.environ, "PUNCTUAL_KUBECONFIG": str(kubeconfig), "PUNCTUAL_METRICS_PORT": str(port),
                   "PUNCTUAL_METRICS_HOST": "127.0.0.1", "PUNCTUAL_WATCH_TIMEOUT": "60",
                   "PUNCTUAL_LOG_LEVEL": "WARNING",
                   "KUBECONFIG": str(kubeconfig), "NAIVE_METRICS_PORT": str(port), "NAIVE_SERVER": url,
                   **api.client_env(), **(extra_env or {})}
            if design == "punctual":
                punctual = shutil.which("punctual", path=str(Path(python).parent)) or "punctual"
                cmd = [punctual, "run"]
                ready_path = "/readyz"
            elif design == "naive":
                cmd = [python, "-m", "kopf", "run", "--standalone", "--all-namespaces", "--quiet", str(NAIVE)]
                ready_path = "/metrics"
            else:  # floor: Job creates alone, no operator (bench/floor.py)
                cmd = [python, str(FLOOR)]
                env.update(FLOOR_COUNT=str(count), FLOOR_SCHEDULE=schedule)
                ready_path = "/metrics"
            t0 = time.monotonic()
            for k in range(shards):  # --shards: one operator process per shard, each on its own port
                shard_env = env
                if shards > 1:
                    shard_env = {**env, "PUNCTUAL_SHARDS": str(shards), "PUNCTUAL_SHARD": str(k),
                                 "PUNCTUAL_METRICS_PORT": str(ports[k])}
                log_name = "operator.log" if shards == 1 else f"operator-{k}.log"
                op_log = stack.enter_context(open(log_dir / log_name, "wb"))  # noqa: SIM115
                ops.append(subprocess.Popen(cmd, env=shard_env, stdout=subprocess.DEVNULL, stderr=op_log))
            for k, op in enumerate(ops):
                await _wait_http(session, f"http://127.0.0.1:{ports[k]}{ready_path}", timeout=120, proc=op)
            result.startup_s = time.monotonic() - t0
            pids = [op.pid for op in ops]
            pid = pids[0]
            metrics_urls = [f"http://127.0.0.1:{p}/metrics" for p in ports]

            # The window starts at a slot at least `settle` seconds after readiness and ends one slot
            # period before a slot, so the runs started in it have finished (Jobs last 1 s).
            # With H, each ScheduledJob has its own slots (hashed from its namespace/name): the window
            # is aligned on the schedule with H read as 0, and each object's slots in it are its own.
            spread = "H" in schedule
            sched = Schedule([schedule.replace("H", "0")], anchor=datetime.now(UTC), key="bench")
            first = sched.next_after(datetime.now(UTC) + timedelta(seconds=settle))
            assert first is not None
            limit = first + timedelta(seconds=window)
            slots, _ = sched.slots(first - timedelta(microseconds=1), limit - timedelta(microseconds=1), limit=100000)
            own: dict[str, set[datetime]] = {}
            if spread:
                for i in range(count):
                    name = f"sj-{i:05d}"
                    mine = Schedule([schedule], anchor=first, key=f"{NS}/{name}")
                    tick = timedelta(microseconds=1)
                    got, _ = mine.slots(first - tick, limit - tick, limit=100000)
                    own[name] = {s.replace(microsecond=0) for s in got}
            end = limit - timedelta(seconds=0.5)
            await _sleep_until(first - timedelta(seconds=0.5))
            result.op_cpu_startup = sum(_cpu(p) for p in pids)
            result.op_rss_ready_mb = max(_hwm_mb(p) for p in pids)
            shard_cpu0 = [_cpu(p) for p in pids]
            api_cpu0 = {name: _cpu(p) for name, p in api.pids.items()}
            watch0 = [await _scrape_watch(session, u) for u in metrics_urls] if design == "punctual" else []
            before = await _scrape_all(session, metrics_urls)
            events0 = await _count_events(session, url)
            spy: subprocess.Popen[bytes] | None = None
            if profile is not None:  # sample the operator over the window (collapsed stacks, for flame graphs)
                spy_bin = shutil.which("py-spy", path=str(Path(python).parent)) or "py-spy"
                spy = subprocess.Popen(
                    [spy_bin, "record", "--pid", str(pid), "--format", "raw", "--rate", "100", "--nonblocking",
                     "--duration", str(int((end - datetime.now(UTC)).total_seconds())), "--output", str(profile)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )
            await _sleep_until(end)
            shard_cpu1 = [_cpu(p) for p in pids]
            api_cpu1 = {name: _cpu(p) for name, p in api.pids.items()}
            watch1 = [await _scrape_watch(session, u) for u in metrics_urls] if design == "punctual" else []
            after = await _scrape_all(session, metrics_urls)
            events1 = await _count_events(session, url)
            result.op_rss_mb = max(_hwm_mb(p) for p in pids)
            result.op_rss_all_mb = sum(_hwm_mb(p) for p in pids)
            result.op_rss_end_mb = max(_hwm_mb(p, "VmRSS") for p in pids)
            if spy is not None:
                spy.wait(30)
            # Let the watch deliver the last events (with H, the window's last slots are at its very end).
            await asyncio.sleep(20.0 if spread else 1.0)

            # Jobs of the window's slots, from the watch (a list now would miss the Jobs that the
            # history limits have deleted since).
            want = {s.replace(microsecond=0) for s in slots}
            result.slots = len(slots)
            result.expected = sum(len(v) for v in own.values()) if spread else len(slots) * count
            per: Counter[tuple[str, datetime]] = Counter()
            for arrived, meta in list(seen.values()):
                stamp = (meta.get("annotations") or {}).get("punctual.dev/scheduled-time")
                if not stamp:
                    continue
                slot = parse_time(stamp)
                owner = meta["labels"]["punctual.dev/scheduledjob"]
                if slot not in (own.get(owner, set()) if spread else want):
                    continue
                per[(owner, slot)] += 1
                result.lag_created.append((parse_time(meta["creationTimestamp"]) - slot).total_seconds())
                result.lag_watch.append(arrived - slot.timestamp())
            result.jobs = sum(per.values())
            result.duplicates = sum(n - 1 for n in per.values() if n > 1)
            result.missing = result.expected - len(per)
            if design == "punctual" and result.missing:
                # Why, by the history records now (the history limit trims them later); then the
                # slots with no record at all get LATE_GRACE more seconds: started late, or never?
                result.not_started, undecided = await _not_started(
                    session, url, per, want if not spread else None, own
                )
                late = await _late_jobs(seen, undecided, grace=LATE_GRACE) if undecided else {}
                result.late, result.late_max = len(late), max(late.values(), default=0.0)
            verbs = sorted(set(after) | set(before))
            result.writes = {verb: after.get(verb, 0) - before.get(verb, 0) for verb in verbs}
            result.shard_cpu = [b - a for a, b in zip(shard_cpu0, shard_cpu1, strict=True)]
            result.op_cpu = sum(result.shard_cpu)
            # Only the operator posts Events about ScheduledJobs (naive's kopf posting is off, the floor posts none).
            result.events = events1 - events0
            result.api_cpu_parts = {name: api_cpu1[name] - api_cpu0[name] for name in api.pids}
            result.emu_cpu = sum(result.api_cpu_parts.values())
            runs = Counter(shard_of(NS, owner, shards) for owner, _ in per)
            result.shard_runs = [runs.get(k, 0) for k in range(shards)]
            result.shard_watch = [
                {r: w1.get(r, 0.0) - w0.get(r, 0.0) for r in sorted(set(w0) | set(w1))}
                for w0, w1 in zip(watch0, watch1, strict=True)
            ]
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(BaseException):
                await watcher
        for proc in ops:
            _end(proc)
        if api is not None:
            api.close()
        stack.close()
        # The work folder (kubeconfig, and the logs unless --logs) goes with the run; after a failure
        # the logs are kept for the post-mortem and their folder is named on stderr.
        failed = sys.exc_info()[0] is not None
        if failed and log_dir == tmp:
            print(f"operator_e2e: logs kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return result


def table(results: list[Result]) -> str:
    out = [
        "| design | ScheduledJobs | schedule | window (s) | slots | Jobs / expected | missing | duplicates "
        "| lag p50 (s) | lag p99 (s) | lag max (s) | lag max, creationTimestamp (s) | API writes / run "
        "| writes by verb (per run) | of which Events / run | writes / run without Events |"
        " operator CPU (ms / run) | API side CPU (ms / run) | operator CPU in window (s) "
        "| API side CPU in window (s) | operator peak RSS (MB) | peak RSS, all processes (MB) "
        "| peak RSS before the window (MB) | RSS at the end (MB) | operator startup (s) "
        "| operator CPU at startup (s) | API | runs per shard | operator CPU per shard (ms / run) "
        "| watch events per shard in window (jobs / pods / scheduledjobs) |",
        "|" + "---|" * 30,
    ]
    for r in results:
        runs = max(r.jobs, 1)
        verbs = ", ".join(f"{k} {v / runs:.2f}" for k, v in r.writes.items() if v and k in WRITE_VERBS) or "-"
        reads = ", ".join(f"{k} {v / runs:.2f}" for k, v in r.writes.items() if v and k not in WRITE_VERBS)
        if reads:
            verbs += f" (reads: {reads})"
        lag_c = max(r.lag_created) if r.lag_created else float("nan")
        out.append(
            f"| {r.label} | {r.count:,} | `{r.schedule}` | {r.window:g} | {r.slots} | {r.jobs:,} / {r.expected:,} "
            f"| {r.missing} | {r.duplicates} | {_pct(r.lag_watch, 0.5):.3f} | {_pct(r.lag_watch, 0.99):.3f} "
            f"| {max(r.lag_watch, default=float('nan')):.3f} | {lag_c:.0f} | {r.writes_total / runs:.2f} | {verbs} "
            f"| {r.events / runs:.2f} | {r.writes_without_events / runs:.2f} "
            f"| {r.op_cpu / runs * 1000:.2f} | {r.emu_cpu / runs * 1000:.2f} | {r.op_cpu:.2f} | {r.emu_cpu:.2f} "
            f"| {r.op_rss_mb:.0f} | {r.op_rss_all_mb:.0f} | {r.op_rss_ready_mb:.0f} | {r.op_rss_end_mb:.0f} "
            f"| {r.startup_s:.1f} "
            f"| {r.op_cpu_startup:.2f} | {r.api} | {_per_shard(r)} |"
        )
    parts = [r for r in results if len(r.api_cpu_parts) > 1]
    if parts or any(r.not_started for r in results):
        out.append("")
        for r in results:
            if r.not_started:
                why = ", ".join(f"{reason} {n:,}" for reason, n in r.not_started.items())
                line = f"Slots without a Job, {r.label}, by their history records: {why}"
                undecided = r.not_started.get("no record", 0)
                if undecided:
                    line += (f"; of those with no record, {r.late:,} got their Job within {LATE_GRACE:.0f} s "
                             f"after the window")
                    if r.late:
                        line += f" (the latest {r.late_max:.1f} s after its slot)"
                    line += f" and {undecided - r.late:,} did not"
                out.append(line + ".")
        for r in parts:
            split = ", ".join(f"{name} {cpu:.2f} s" for name, cpu in r.api_cpu_parts.items())
            out.append(f"API side CPU in the window, {r.label}: {split}.")
    return "\n".join(out)


def _per_shard(r: Result) -> str:
    """Runs, CPU per run and watch events of each shard process, as ``a / b`` (one entry unsharded)."""
    if not r.shard_runs:
        return "- | - | -"
    runs = " / ".join(f"{n:,}" for n in r.shard_runs)
    cpu = " / ".join(f"{c / max(n, 1) * 1000:.2f}" for c, n in zip(r.shard_cpu, r.shard_runs, strict=True))
    if r.shard_watch:
        watch = " ; ".join(
            " / ".join(f"{w.get(k, 0):,.0f}" for k in ("jobs", "pods", "scheduledjobs")) for w in r.shard_watch
        )
    else:
        watch = "-"
    return f"{runs} | {cpu} | {watch}"


def spread(results: list[Result]) -> str:
    """With --repeat: each design's median and range over its rounds, for the figures that vary most."""
    figures: list[tuple[str, Callable[[Result], float]]] = [
        ("lag p50 (s)", lambda r: _pct(r.lag_watch, 0.5)),
        ("lag p99 (s)", lambda r: _pct(r.lag_watch, 0.99)),
        ("operator CPU (ms / run)", lambda r: r.op_cpu / max(r.jobs, 1) * 1000),
        ("API writes / run without Events", lambda r: r.writes_without_events / max(r.jobs, 1)),
        ("operator peak RSS (MB)", lambda r: r.op_rss_mb),
    ]
    by_design: dict[str, list[Result]] = {}
    for r in results:
        by_design.setdefault(r.design_label, []).append(r)
    lines = ["", f"Median and range over {max(r.round for r in results)} rounds:", ""]
    lines.append("| design | " + " | ".join(name for name, _ in figures) + " |")
    lines.append("|---|" + "---:|" * len(figures))
    for label, runs in by_design.items():
        cells = []
        for _, get in figures:
            values = [get(r) for r in runs]
            cells.append(f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ratios(results: list[Result]) -> str:
    """Each other design against the first (Punctual), from the same invocation: the figure is a ratio."""
    base = results[0]
    lines = []
    for other in results[1:]:
        def per_run(r: Result, value: float) -> float:
            return value / max(r.jobs, 1)

        pairs = [
            ("operator CPU per run", per_run(other, other.op_cpu) * 1000, per_run(base, base.op_cpu) * 1000, "ms"),
            ("start lag p50", _pct(other.lag_watch, 0.5), _pct(base.lag_watch, 0.5), "s"),
            ("start lag p99", _pct(other.lag_watch, 0.99), _pct(base.lag_watch, 0.99), "s"),
            ("API writes per run", per_run(other, other.writes_total), per_run(base, base.writes_total), ""),
            ("API writes per run without Events", per_run(other, other.writes_without_events),
             per_run(base, base.writes_without_events), ""),
            ("operator peak RSS", other.op_rss_mb, base.op_rss_mb, "MB"),
        ]
        lines.append(f"\n{other.label} / {base.label} (same invocation, same machine):\n")
        lines.append(f"| | {base.label} | {other.label} | {other.label} / {base.label} |")
        lines.append("|---|---:|---:|---:|")
        for label, theirs, ours, unit in pairs:
            ratio = theirs / ours if ours else float("nan")
            lines.append(f"| {label} | {ours:.2f} {unit} | {theirs:.2f} {unit} | {ratio:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="ScheduledJobs")
    parser.add_argument("--schedule", default="* * * * *", help="every ScheduledJob's schedule")
    parser.add_argument("--seconds", action="store_true", help="shorthand for --schedule '*/10 * * * * *'")
    parser.add_argument("--window", type=float, default=None, help="seconds measured (default 120, 60 with seconds)")
    parser.add_argument("--design", default="punctual",
                        help="punctual, naive or floor; a comma-separated list runs each in turn (same sizes) "
                             "and prints their ratios to the first")
    parser.add_argument("--shards", type=int, default=1,
                        help="run the punctual design as this many operator processes (PUNCTUAL_SHARDS)")
    parser.add_argument("--api", choices=("emulator", "real"), default="emulator",
                        help="the API server: the emulator (default), or the real-server tier's kube-apiserver "
                             "(binaries from $PUNCTUAL_KUBE_BIN)")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds after readiness before the window")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the operator, e.g. PUNCTUAL_EVENT_BURST=0 (repeatable)")
    parser.add_argument("--logs", type=Path, default=None, help="keep the processes' logs in this directory")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run the designs this many rounds, interleaved, and print each figure's median and "
                             "range (this machine's figures vary from run to run)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="run the operator under py-spy and write its collapsed stacks here (needs py-spy)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat: at least 1")
    designs = [d.strip() for d in args.design.split(",") if d.strip()]
    unknown = [d for d in designs if d not in ("punctual", "naive", "floor")]
    if not designs or unknown:
        parser.error(f"--design: unknown {', '.join(unknown) or 'empty'}; choose from punctual, naive, floor")
    extra_env: dict[str, str] = {}
    for item in args.env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--env {item!r}: expected NAME=VALUE")
        extra_env[name] = value
    schedule = "*/10 * * * * *" if args.seconds else args.schedule
    window = args.window or (60.0 if len(schedule.split()) == 6 else 120.0)
    results = []
    for round_ in range(1, args.repeat + 1):  # rounds interleave the designs: a busy spell hits each alike
        for design in designs:
            log_dir = args.logs / design if args.logs else None
            if log_dir and args.repeat > 1:
                log_dir = log_dir / str(round_)
            if log_dir:
                log_dir.mkdir(parents=True, exist_ok=True)
            result = asyncio.run(
                run(count=args.count, schedule=schedule, window=window, design=design, settle=args.settle,
                    log_dir=log_dir, profile=args.profile if design == "punctual" and round_ == 1 else None,
                    extra_env=extra_env, shards=args.shards if design == "punctual" else 1, api_kind=args.api)
            )
            result.round = round_ if args.repeat > 1 else 0
            results.append(result)
            print(f"{result.label}: {result.jobs} Jobs; lag samples: {len(result.lag_watch)}; "
                  f"mean {statistics.fmean(result.lag_watch or [0]):.3f} s", file=sys.stderr)
    print(table(results))
    if args.repeat > 1:
        print(spread(results))
    first = [r for r in results if r.round in (0, 1)]
    if len(first) > 1:
        print(ratios(first))
    return 0


if __name__ == "__main__":
    sys.exit(main())
