"""The metrics endpoint over real HTTP on 127.0.0.1, linted by ``promtool check metrics``."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
import pytest

from punctual.runtime.http import make_app, serve
from punctual.runtime.metrics import Metrics


@dataclass
class Server:
    metrics: Metrics
    base: str
    flags: dict[str, bool]


def populate(m: Metrics) -> None:
    """Touch every metric family, with awkward label values (quotes, backslashes, unicode)."""
    for ns, name in (("default", "nightly"), ("team-b", 'we"ird\\name-ü')):
        m.run_started(ns, name, trigger="schedule", lag_seconds=0.3)
        m.run_started(ns, name, trigger="catchup", lag_seconds=120)
        m.run_started(ns, name, trigger="manual", lag_seconds=None)
        m.run_finished(ns, name, result="Succeeded", duration_seconds=61, exit_code=0, finished_at=1_700_000_000)
        m.run_finished(ns, name, result="Failed", duration_seconds=3, exit_code=2, finished_at=1_700_000_100)
        m.run_finished(ns, name, result="Replaced", duration_seconds=9, exit_code=None, finished_at=1_700_000_200)
        for outcome in ("Skipped", "Missed", "Dropped", "Replaced"):
            m.slot_outcome(ns, name, outcome=outcome)
        m.set_state(
            ns,
            name,
            active=1,
            queued=2,
            next_run=datetime(2030, 1, 1, tzinfo=UTC),
            interval_seconds=300,
            budget_seconds=600,
            oldest_active_start=1_700_000_300,
            suspended=False,
            paused=True,
            last_success=1_700_000_000,
            last_failure=1_700_000_100,
        )
    m.observe_reconcile(0.03)
    m.api_request("list")
    m.api_request("patch", error_code=409)
    m.set_heap_size(4)
    m.set_scheduledjobs(2)
    m.set_shard(1, 3)


@asynccontextmanager
async def running_server() -> AsyncIterator[Server]:
    metrics = Metrics()
    flags = {"ready": False, "alive": True}
    app = make_app(metrics, ready=lambda: flags["ready"], alive=lambda: flags["alive"])
    runner = await serve(app, host="127.0.0.1", port=0)
    try:
        host, port = runner.addresses[0][:2]
        yield Server(metrics, f"http://{host}:{port}", flags)
    finally:
        await runner.cleanup()


def with_server(body: Callable[[Server], Awaitable[None]]) -> None:
    """Run ``body`` against a fresh server on a private event loop.

    Not pytest-asyncio and not ``asyncio.run``: these tests need no virtual time, and a loop that is
    never installed as the thread's current loop leaves whatever loop the asyncio plugins (looptime,
    pytest-asyncio) installed untouched; ``asyncio.run`` would unset it and orphan it.
    """

    async def main() -> None:
        async with running_server() as server:
            await body(server)

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(main())
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()


async def get(url: str) -> tuple[int, str, bytes]:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.read()


def test_healthz_follows_alive() -> None:
    async def body(server: Server) -> None:
        assert (await get(server.base + "/healthz"))[0] == 200
        server.flags["alive"] = False
        assert (await get(server.base + "/healthz"))[0] == 500

    with_server(body)


def test_readyz_follows_ready() -> None:
    async def body(server: Server) -> None:
        assert (await get(server.base + "/readyz"))[0] == 503
        server.flags["ready"] = True
        assert (await get(server.base + "/readyz"))[0] == 200

    with_server(body)


def test_unknown_path_is_404() -> None:
    async def body(server: Server) -> None:
        assert (await get(server.base + "/nope"))[0] == 404

    with_server(body)


def test_metrics_scrape_serves_text_format() -> None:
    async def body(server: Server) -> None:
        populate(server.metrics)
        status, content_type, data = await get(server.base + "/metrics")
        assert status == 200
        assert content_type.startswith("text/plain")
        assert "version=0.0.4" in content_type
        assert data == server.metrics.exposition()
        line = b'punctual_runs_finished_total{namespace="default",result="Failed",scheduledjob="nightly"} 1.0'
        assert line in data

    with_server(body)


def promtool_check_metrics(promtool: str, exposition: bytes) -> None:
    result = subprocess.run(
        [promtool, "check", "metrics"], input=exposition, capture_output=True, timeout=60, check=False
    )
    output = (result.stdout + result.stderr).decode()
    # Exit 0 and no output at all: promtool prints one line per lint problem (and exits 3).
    assert result.returncode == 0, output
    assert output.strip() == "", output


@pytest.mark.tools
def test_scrape_passes_promtool_check_metrics(promtool: str) -> None:
    scraped: list[bytes] = []

    async def body(server: Server) -> None:
        populate(server.metrics)
        status, _, data = await get(server.base + "/metrics")
        assert status == 200
        scraped.append(data)

    with_server(body)
    promtool_check_metrics(promtool, scraped[0])


@pytest.mark.tools
def test_empty_registry_passes_promtool(promtool: str) -> None:
    promtool_check_metrics(promtool, Metrics().exposition())


@pytest.mark.tools
def test_promtool_lint_is_not_vacuous(promtool: str) -> None:
    bad = b"# HELP foo x\n# TYPE foo counter\nfoo 1\n"
    with pytest.raises(AssertionError, match="_total"):
        promtool_check_metrics(promtool, bad)
