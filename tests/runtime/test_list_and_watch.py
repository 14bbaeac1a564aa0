"""Kube.list_and_watch (the operator's cache of its Jobs and Pods) against the emulated API over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

from kube_emulator import AsyncEmulator
from kube_emulator.faults import Faults
from punctual.runtime.kube import Credentials, Kube

JOBS = "/apis/batch/v1/namespaces/default/jobs"
LABEL = "punctual.dev/scheduledjob"
pytestmark = [pytest.mark.asyncio, pytest.mark.looptime(False)]  # real time: HTTP to the emulator


def job(name: str, *, labelled: bool = True, marker: str = "0") -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": "default",
            "labels": {LABEL: "x"} if labelled else {"other": "y"},
            "annotations": {"marker": marker},
        },
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}},
    }


def mark(emulator: AsyncEmulator, name: str, marker: str) -> None:
    emulator.patch("batch/v1", "jobs", name, {"metadata": {"annotations": {"marker": marker}}}, namespace="default")


class Recorder:
    """What the loop told us: each list, and each event, as names."""

    def __init__(self) -> None:
        self.lists: list[list[str]] = []
        self.events: list[tuple[str, str, str]] = []

    def on_list(self, items: list[dict[str, Any]]) -> None:
        self.lists.append(sorted(i["metadata"]["name"] for i in items))

    def on_event(self, kind: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        self.events.append((kind, meta["name"], (meta.get("annotations") or {}).get("marker", "")))


async def eventually(predicate: Callable[[], bool], timeout: float = 10.0, *, what: object = None) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, f"condition not reached: {vars(what) if what else ''}"
        await asyncio.sleep(0.02)


@pytest_asyncio.fixture
async def emulator() -> AsyncIterator[AsyncEmulator]:
    async with AsyncEmulator(bookmark_interval=0.2) as emu:
        yield emu


async def start(emu: AsyncEmulator, rec: Recorder, path: str = JOBS) -> tuple[Kube, asyncio.Task[None], asyncio.Event]:
    kube = Kube(Credentials(server=emu.url))
    await kube.__aenter__()
    listed = asyncio.Event()
    task = asyncio.create_task(
        kube.list_and_watch(
            path,
            label_selector=LABEL,
            on_list=rec.on_list,
            on_event=rec.on_event,
            timeout_seconds=30,
            listed=listed,
            first_retry=0.05,
        )
    )
    return kube, task, listed


async def stop(kube: Kube, task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await kube.__aexit__(None, None, None)


async def test_lists_then_streams_only_labelled_objects(emulator: AsyncEmulator) -> None:
    emulator.create(job("before"))
    emulator.create(job("foreign", labelled=False))
    rec = Recorder()
    kube, task, listed = await start(emulator, rec)
    try:
        await asyncio.wait_for(listed.wait(), 5)
        assert rec.lists == [["before"]]
        emulator.create(job("after"))
        emulator.create(job("foreign-2", labelled=False))
        mark(emulator, "before", "1")
        emulator.delete("batch/v1", "jobs", "after", namespace="default")
        await eventually(lambda: len(rec.events) >= 3, what=rec)
        await asyncio.sleep(0.3)  # nothing else (bookmarks are not events)
        assert rec.events == [("ADDED", "after", "0"), ("MODIFIED", "before", "1"), ("DELETED", "after", "0")]
    finally:
        await stop(kube, task)


async def test_a_dropped_stream_resumes_where_it_was_without_listing_again(emulator: AsyncEmulator) -> None:
    rec = Recorder()
    kube, task, listed = await start(emulator, rec)
    try:
        await asyncio.wait_for(listed.wait(), 5)
        emulator.create(job("one"))
        await eventually(lambda: len(rec.events) == 1)
        assert emulator.drop_watches() >= 1
        emulator.create(job("two"))
        await eventually(lambda: len(rec.events) == 2)
        assert rec.lists == [[]]
        assert [name for _, name, _ in rec.events] == ["one", "two"]
    finally:
        await stop(kube, task)


async def test_too_old_a_version_lists_again_and_the_list_is_the_truth() -> None:
    async with AsyncEmulator(history_limit=3, bookmark_interval=0.2) as emulator:
        await _too_old_a_version(emulator)


async def _too_old_a_version(emulator: AsyncEmulator) -> None:
    emulator.create(job("stays"))
    emulator.create(job("goes"))
    rec = Recorder()
    kube, task, listed = await start(emulator, rec)
    try:
        await asyncio.wait_for(listed.wait(), 5)
        # Watches fail while more changes happen than the emulator keeps (history_limit=3), so the
        # resumed watch gets 410 Gone: the loop must list again, and that list shows "goes" gone.
        emulator.faults = Faults(error_rate=1.0, path_pattern="/jobs$", methods=frozenset({"GET"}))
        emulator.drop_watches()
        emulator.delete("batch/v1", "jobs", "goes", namespace="default")
        for i in range(5):
            mark(emulator, "stays", str(i))
        await asyncio.sleep(0.2)
        emulator.faults = Faults()
        await eventually(lambda: len(rec.lists) >= 2)
        assert rec.lists[-1] == ["stays"]
        emulator.create(job("new"))
        await eventually(lambda: ("ADDED", "new", "0") in rec.events)
    finally:
        await stop(kube, task)


async def test_a_list_that_cannot_succeed_still_lets_start_up_go_on(emulator: AsyncEmulator) -> None:
    rec = Recorder()
    kube, task, listed = await start(emulator, rec, path="/apis/nothing.example/v1/namespaces/default/things")
    try:
        await asyncio.wait_for(listed.wait(), 5)  # 404: not transient, start-up must not hang on it
        assert rec.lists == []
        assert not task.done()  # and it keeps trying
    finally:
        await stop(kube, task)


async def test_server_errors_and_throttling_are_retried_until_the_list_succeeds(emulator: AsyncEmulator) -> None:
    emulator.create(job("a"))
    emulator.faults = Faults(error_rate=0.5, throttle_rate=0.5, path_pattern="/jobs$")
    rec = Recorder()
    kube, task, listed = await start(emulator, rec)
    try:
        await asyncio.sleep(0.3)
        assert not listed.is_set()  # 500 and 429 are transient: no pretending it listed
        emulator.faults = Faults()
        await asyncio.wait_for(listed.wait(), 10)
        assert rec.lists[-1] == ["a"]
    finally:
        await stop(kube, task)


async def test_a_refused_watch_is_one_log_line_with_the_status_message(caplog: pytest.LogCaptureFixture) -> None:
    """kube-apiserver refuses a watch with a Status body ending in a newline (RBAC not yet synced
    after a restart, say): the warning is one line with the Status's reason and message, and the
    watch is tried again."""
    from aiohttp import web

    status = (
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"jobs.batch is forbidden: '
        'User \\"u\\" cannot watch resource \\"jobs\\"","reason":"Forbidden","code":403}\n'
    )
    watches: list[str] = []

    async def jobs(request: web.Request) -> web.Response:
        if request.query.get("watch") == "true":
            watches.append(request.query["resourceVersion"])
            return web.Response(status=403, text=status, content_type="application/json")
        listing = '{"kind":"JobList","apiVersion":"batch/v1","metadata":{"resourceVersion":"7"},"items":[]}'
        return web.Response(text=listing, content_type="application/json")

    app = web.Application()
    app.router.add_get(JOBS, jobs)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    kube = Kube(Credentials(server=f"http://127.0.0.1:{port}"))
    await kube.__aenter__()
    rec = Recorder()
    task = asyncio.create_task(
        kube.list_and_watch(JOBS, label_selector=LABEL, on_list=rec.on_list, on_event=rec.on_event, first_retry=0.05)
    )
    try:
        with caplog.at_level("WARNING", logger="punctual.kube"):
            await eventually(lambda: len(watches) >= 2)
        refusals = [r.getMessage() for r in caplog.records if r.name == "punctual.kube"]
        assert refusals, caplog.text
        for text in refusals:
            assert "\n" not in text, text
            assert text.startswith(f"watching {JOBS}: 403 Forbidden: jobs.batch is forbidden: "), text
            assert 'cannot watch resource "jobs"; retrying in 0 s' in text, text
        assert watches[:2] == ["7", "7"]  # retried from the list's version, not listed again
        assert rec.lists == [[]]
    finally:
        await stop(kube, task)
        await runner.cleanup()
