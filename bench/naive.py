"""The obvious design, for comparison: a kopf timer per ScheduledJob that evaluates the cron every second.

Run as ``kopf run --standalone --all-namespaces bench/naive.py`` with ``KUBECONFIG`` set. Each
ScheduledJob gets ``@kopf.timer(interval=1)``; every tick computes the newest slot with croniter
(in the object's time zone) and, when it is newer than the last slot this process started, creates
a Job for it (same name scheme, label and ``punctual.dev/scheduled-time`` annotation as Punctual,
so the benchmark reads both the same way). Minimal on purpose: no status, no Events, no history,
no concurrency policy; the last started slot is kept in memory only. kopf's own Event posting is
off, so the Job creates are its only API writes (``NAIVE_METRICS_PORT`` serves their count).
"""

from __future__ import annotations

import json
import os
import ssl
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import kopf
from aiohttp import web
from croniter import croniter

__all__: list[str] = []

_last: dict[str, datetime] = {}
_started: dict[str, datetime] = {}
_writes = {"create": 0}
_session: dict[str, Any] = {}


@kopf.on.startup()
async def _startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.posting.enabled = False
    settings.watching.server_timeout = 60
    port = int(os.environ.get("NAIVE_METRICS_PORT", "0"))
    app = web.Application()

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(text=f'naive_api_requests_total{{verb="create"}} {_writes["create"]}\n')

    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()


async def _post(namespace: str, body: dict[str, Any]) -> None:
    if "http" not in _session:
        # The kubeconfig's server: the emulator speaks plain HTTP without auth; a real API server
        # (--api real) wants the token and CA the benchmark passes (NAIVE_TOKEN, NAIVE_CA).
        _session["server"] = os.environ["NAIVE_SERVER"]
        token, ca = os.environ.get("NAIVE_TOKEN"), os.environ.get("NAIVE_CA")
        context = ssl.create_default_context(cafile=ca) if ca else None
        _session["http"] = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {token}"} if token else {},
            connector=aiohttp.TCPConnector(ssl=context if context else True),
        )
    url = f"{_session['server']}/apis/batch/v1/namespaces/{namespace}/jobs"
    async with _session["http"].post(url, data=json.dumps(body), headers={"Content-Type": "application/json"}) as r:
        _writes["create"] += 1
        if r.status >= 400 and r.status != 409:
            raise kopf.TemporaryError(f"create Job: {r.status} {await r.text()}", delay=1)


@kopf.timer("punctual.dev", "v1", "scheduledjobs", interval=1)
async def tick(spec: kopf.Spec, name: str, namespace: str, uid: str, **_: Any) -> None:
    key = f"{namespace}/{name}"
    now = datetime.now(UTC)
    started = _started.setdefault(key, now)  # slots before this process saw the object are not run
    zone = ZoneInfo(spec.get("timeZone") or "UTC")
    expr = spec["schedule"]
    cron = croniter(expr, now.astimezone(zone), second_at_beginning=len(expr.split()) == 6)
    slot = cron.get_prev(datetime).astimezone(UTC)
    if slot < started or slot <= _last.get(key, started):
        return
    _last[key] = slot
    stamp = slot.strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"{name}-{int(slot.timestamp())}",
            "labels": {"punctual.dev/scheduledjob": name},
            "annotations": {"punctual.dev/scheduled-time": stamp},
            "ownerReferences": [
                {"apiVersion": "punctual.dev/v1", "kind": "ScheduledJob", "name": name, "uid": uid, "controller": True}
            ],
        },
        "spec": spec["jobTemplate"]["spec"],
    }
    await _post(namespace, body)
