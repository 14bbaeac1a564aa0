"""The emulator's floor: Job creates with no operator logic at all (``operator_e2e.py --design floor``).

At each slot this process POSTs one Job per ScheduledJob name (``sj-00000`` ...), 32 at a time like
the operator's workers, annotated with the slot like Punctual's Jobs. Nothing is decided, read or
written besides the Job, so its start lag is what the emulator (and the shared 2 cores) allow any
operator at that size: the part of Punctual's lag that the emulator causes. A schedule with ``H``
is spread as Punctual spreads it: each name has its own slots, hashed from ``default/<name>``.

Environment: ``NAIVE_SERVER`` (API URL), ``NAIVE_METRICS_PORT``, ``FLOOR_COUNT``, ``FLOOR_SCHEDULE``;
against a real API server (``--api real``) also ``NAIVE_TOKEN`` (a bearer token) and ``NAIVE_CA``
(the CA file of its certificate), and ``FLOOR_POD_ANNOTATIONS`` (JSON: the stand-in kubelet's
duration and exit code, as the benchmark's ScheduledJobs carry them).
"""

from __future__ import annotations

import asyncio
import heapq
import json
import os
import ssl
from datetime import UTC, datetime

import aiohttp
from aiohttp import web

from punctual.api import format_time
from punctual.schedule import Schedule

WORKERS = 32
CONTAINER = {"name": "c", "image": "busybox"}
creates = 0
POD_ANNOTATIONS: dict[str, str] = json.loads(os.environ.get("FLOOR_POD_ANNOTATIONS") or "{}")


def client_options() -> dict[str, object]:
    """aiohttp session options: a bearer token and the server's CA when given (a real API server)."""
    token, ca = os.environ.get("NAIVE_TOKEN"), os.environ.get("NAIVE_CA")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    context = ssl.create_default_context(cafile=ca) if ca else None
    return {"headers": headers, "connector": aiohttp.TCPConnector(limit=64, ssl=context if context else True)}


async def _serve_metrics(port: int) -> web.AppRunner:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(text=f'naive_api_requests_total{{verb="create"}} {creates}\n')

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def _burst(session: aiohttp.ClientSession, server: str, numbers: list[int], slot: datetime) -> None:
    global creates
    names = iter(numbers)
    stamp = format_time(slot)

    async def worker() -> None:
        global creates
        for i in names:
            name = f"sj-{i:05d}"
            body = {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {
                    "name": f"{name}-{int(slot.timestamp())}",
                    "labels": {"punctual.dev/scheduledjob": name},
                    "annotations": {"punctual.dev/scheduled-time": stamp},
                },
                "spec": {
                    "template": {
                        "metadata": {"annotations": POD_ANNOTATIONS},
                        "spec": {"restartPolicy": "Never", "containers": [CONTAINER]},
                    }
                },
            }
            async with session.post(f"{server}/apis/batch/v1/namespaces/default/jobs", json=body) as resp:
                await resp.read()
            creates += 1

    await asyncio.gather(*(worker() for _ in range(WORKERS)))


async def main() -> None:
    server, count = os.environ["NAIVE_SERVER"], int(os.environ["FLOOR_COUNT"])
    expression = os.environ["FLOOR_SCHEDULE"]
    anchor = datetime.now(UTC)
    # Without H every name shares one schedule; with H each has its own (the key Punctual hashes).
    keys = [f"default/sj-{i:05d}" for i in range(count)] if "H" in expression else ["floor"]
    schedules = [Schedule([expression], anchor=anchor, key=key) for key in keys]
    runner = await _serve_metrics(int(os.environ["NAIVE_METRICS_PORT"]))
    try:
        async with aiohttp.ClientSession(**client_options()) as session:  # type: ignore[arg-type]
            due: list[tuple[datetime, int]] = []  # (next slot, schedule index), a heap
            now = datetime.now(UTC)
            for k, schedule in enumerate(schedules):
                first = schedule.next_after(now)
                assert first is not None
                heapq.heappush(due, (first, k))
            while True:
                slot = due[0][0]
                await asyncio.sleep(max(0.0, (slot - datetime.now(UTC)).total_seconds()))
                ready: list[int] = []
                while due and due[0][0] == slot:
                    _, k = heapq.heappop(due)
                    ready.append(k)
                    following = schedules[k].next_after(slot)
                    assert following is not None
                    heapq.heappush(due, (following, k))
                await _burst(session, server, ready if len(schedules) > 1 else list(range(count)), slot)
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
