"""The operator's HTTP endpoints: /metrics, /healthz and /readyz on aiohttp."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from punctual.runtime.metrics import Metrics

__all__ = ["make_app", "serve"]


def make_app(metrics: Metrics, *, ready: Callable[[], bool], alive: Callable[[], bool]) -> web.Application:
    """An aiohttp app serving /metrics, /healthz (200 or 500) and /readyz (200 or 503)."""

    async def handle_metrics(request: web.Request) -> web.Response:
        # The 0.0.4 text format; say so (and not the 1.0.0 default). Written in a thread: at 10,000
        # ScheduledJobs it is half a million lines, which on the event loop would hold up the runs.
        body = await asyncio.to_thread(metrics.exposition)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})

    async def handle_healthz(request: web.Request) -> web.Response:
        ok = alive()
        return web.Response(text="ok\n" if ok else "not alive\n", status=200 if ok else 500)

    async def handle_readyz(request: web.Request) -> web.Response:
        ok = ready()
        return web.Response(text="ok\n" if ok else "not ready\n", status=200 if ok else 503)

    app = web.Application()
    app.router.add_get("/metrics", handle_metrics)
    app.router.add_get("/healthz", handle_healthz)
    app.router.add_get("/readyz", handle_readyz)
    return app


async def serve(app: web.Application, *, host: str, port: int) -> web.AppRunner:
    """Start ``app`` on host:port (port 0 = any free port); the caller awaits ``runner.cleanup()``."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner
