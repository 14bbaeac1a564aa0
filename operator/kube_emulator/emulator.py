"""The Kubernetes API emulator: lifecycle, kubeconfig, test helpers, and a CLI (I/O shell).

:class:`AsyncEmulator` serves the API on the current event loop (``async with``).
:class:`Emulator` runs an :class:`AsyncEmulator` on its own event loop in a background
thread, so synchronous tests and a kopf operator in another thread can share it; its helper
methods are thread-safe (they run on the emulator's loop and wait for the result).

Run as a process: ``python -m kube_emulator.emulator --port N [--kubeconfig-out PATH]
[--jobs]``; it prints ``READY <url>`` on stdout when it serves, and stops on SIGINT/SIGTERM.

The HTTP server is aiohttp's low-level ``web.Server``, not ``kmock.Server``: the latter
patches aiohttp's DNS resolution process-wide and must be exited in LIFO order, which does
not hold for emulators in several threads.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

import aiohttp.web

from kube_emulator import errors
from kube_emulator.faults import FaultInjector, Faults
from kube_emulator.jobs import JobController, parse_duration
from kube_emulator.resources import ResourceDef
from kube_emulator.selectors import Selector
from kube_emulator.server import ApiHandler, RequestRecord
from kube_emulator.store import Body, Clock, Store

__all__ = ["MERGE_PATCH", "WRITE_VERBS", "AsyncEmulator", "Controller", "Emulator", "main", "write_kubeconfig"]

T = TypeVar("T")
MERGE_PATCH = "application/merge-patch+json"
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


class Controller(Protocol):
    """Something that simulates a cluster component on the store, e.g. :class:`JobController`."""

    async def start(self, store: Store) -> None: ...

    async def stop(self) -> None: ...


def write_kubeconfig(path: str | Path, *, server: str, namespace: str = "default") -> Path:
    """A kubeconfig with one cluster/context/user and no auth (JSON is valid YAML)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "punctual-sandbox", "cluster": {"server": server}}],
        "users": [{"name": "punctual-sandbox", "user": {}}],
        "contexts": [
            {
                "name": "punctual-sandbox",
                "context": {
                    "cluster": "punctual-sandbox",
                    "user": "punctual-sandbox",
                    "namespace": namespace,
                },
            }
        ],
        "current-context": "punctual-sandbox",
        "preferences": {},
    }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(config, indent=2) + "\n")
    return target


class _Helpers:
    """Synchronous object helpers over the store; subclasses say how to reach its loop."""

    def _call(self, fn: Callable[[Store], T]) -> T:
        raise NotImplementedError

    def _resource(self, store: Store, api_version: str, kind_or_plural: str) -> ResourceDef:
        return store.find(api_version, kind_or_plural)

    def create(self, obj: Mapping[str, Any], *, namespace: str | None = None) -> Body:
        def op(store: Store) -> Body:
            rd = self._resource(store, obj["apiVersion"], obj["kind"])
            return store.create(rd, namespace or obj.get("metadata", {}).get("namespace"), obj)

        return self._call(op)

    def get(self, api_version: str, kind_or_plural: str, name: str, *, namespace: str | None = None) -> Body:
        return self._call(lambda s: s.get(self._resource(s, api_version, kind_or_plural), namespace, name))

    def get_or_none(
        self, api_version: str, kind_or_plural: str, name: str, *, namespace: str | None = None
    ) -> Body | None:
        try:
            return self.get(api_version, kind_or_plural, name, namespace=namespace)
        except errors.ApiError as e:
            if e.code == 404:
                return None
            raise

    def list(
        self,
        api_version: str,
        kind_or_plural: str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[Body]:
        selector = Selector.parse(labels=label_selector, fields=field_selector)

        def op(store: Store) -> list[Body]:
            rd = self._resource(store, api_version, kind_or_plural)
            items: list[Body] = store.list_objects(rd, namespace, selector)["items"]
            return items

        return self._call(op)

    def patch(
        self,
        api_version: str,
        kind_or_plural: str,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        content_type: str = MERGE_PATCH,
        subresource: str | None = None,
    ) -> Body:
        def op(store: Store) -> Body:
            rd = self._resource(store, api_version, kind_or_plural)
            return store.patch(rd, namespace, name, patch, content_type=content_type, subresource=subresource)

        return self._call(op)

    def patch_status(
        self,
        api_version: str,
        kind_or_plural: str,
        name: str,
        status: Mapping[str, Any],
        *,
        namespace: str | None = None,
    ) -> Body:
        """Merge-patch ``.status`` via the status subresource."""
        patch = {"status": dict(status)}
        return self.patch(api_version, kind_or_plural, name, patch, namespace=namespace, subresource="status")

    def delete(self, api_version: str, kind_or_plural: str, name: str, *, namespace: str | None = None) -> Body:
        return self._call(lambda s: s.delete(self._resource(s, api_version, kind_or_plural), namespace, name))

    def install_crd(self, crd: Mapping[str, Any]) -> Body:
        """Create a CRD (or replace its spec if it exists); its resources are served at once."""

        def op(store: Store) -> Body:
            rd = store.resolve("apiextensions.k8s.io", "v1", "customresourcedefinitions")
            name = crd["metadata"]["name"]
            try:
                existing = store.get(rd, None, name)
            except errors.ApiError:
                return store.create(rd, None, crd)
            if existing.get("spec") == crd.get("spec"):
                return existing
            store.delete(rd, None, name)
            return store.create(rd, None, crd)

        return self._call(op)

    def set_pod_log(self, namespace: str, name: str, text: str) -> None:
        def op(store: Store) -> None:
            store.pod_logs[(namespace, name)] = text

        self._call(op)


class AsyncEmulator(_Helpers):
    """The emulated API on the current event loop. Use ``async with`` or start()/stop()."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
        controllers: Sequence[Controller] = (),
        clock: Clock | None = None,
        seed: int | None = None,
        bookmark_interval: float = 5.0,
        history_limit: int = 10_000,
    ) -> None:
        self.host = host
        self.port = port
        self.controllers = list(controllers)
        self._injector = FaultInjector(faults or Faults())
        self._clock = clock
        self._seed = seed
        self._bookmark_interval = bookmark_interval
        self._history_limit = history_limit
        self._store: Store | None = None
        self._handler: ApiHandler | None = None
        self._runner: aiohttp.web.ServerRunner | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    # --- Lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._store = Store(clock=self._clock, seed=self._seed, history_limit=self._history_limit)
        self._handler = ApiHandler(self._store, injector=self._injector, bookmark_interval=self._bookmark_interval)
        await self._handler.__aenter__()  # kmock's stream feeder for user reactions
        try:
            server = aiohttp.web.Server(self._handler)
            self._runner = aiohttp.web.ServerRunner(server, handle_signals=False, shutdown_timeout=1.0)
            await self._runner.setup()
            site = aiohttp.web.TCPSite(self._runner, self.host, self.port)
            await site.start()
            self.port = int(self._runner.addresses[0][1])
            self._handler.server_address = f"{self.host}:{self.port}"
            for controller in self.controllers:
                await controller.start(self._store)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        for controller in reversed(self.controllers):
            await controller.stop()
        if self._handler is not None:
            self._handler.closing.set()
        if self._store is not None:
            self._store.close_all_watches()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._handler is not None and self._handler.active:
            await self._handler.__aexit__(None, None, None)

    async def add_controller(self, controller: Controller) -> None:
        self.controllers.append(controller)
        await controller.start(self.store)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # --- Properties ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("The emulator is not started.")
        return self._store

    @property
    def handler(self) -> ApiHandler:
        """The kmock handler: add kmock reactions to it to override the emulation."""
        if self._handler is None:
            raise RuntimeError("The emulator is not started.")
        return self._handler

    @property
    def faults(self) -> Faults:
        return self._injector.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self._injector.configure(faults)

    @property
    def fault_counts(self) -> dict[str, int]:
        return dict(self._injector.counts)

    @property
    def request_log(self) -> list[RequestRecord]:
        return list(self.handler.request_log)

    @property
    def verb_counts(self) -> dict[str, int]:
        return dict(self.handler.verb_counts)

    @property
    def api_writes(self) -> int:
        """Requests that asked to change something (create/update/patch/delete)."""
        return sum(count for verb, count in self.handler.verb_counts.items() if verb in WRITE_VERBS)

    def reset_request_log(self) -> None:
        self.handler.request_log.clear()
        self.handler.verb_counts.clear()

    def write_kubeconfig(self, path: str | Path, namespace: str = "default") -> Path:
        return write_kubeconfig(path, server=self.url, namespace=namespace)

    def drop_watches(self) -> int:
        """Close all open watch streams now (clients see the streams end); return how many."""
        return self._call(lambda s: s.drop_watches())

    def _call(self, fn: Callable[[Store], T]) -> T:
        return fn(self.store)  # the caller is on the emulator's loop thread


class Emulator(AsyncEmulator):
    """The emulated API on its own event loop in a daemon thread; the helpers are thread-safe.

    Use ``with Emulator() as emulator:`` or ``start()``/``stop()``. ``async with`` is not
    supported here (use :class:`AsyncEmulator` inside an existing loop).
    """

    def __init__(self, *, timeout: float = 30.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.timeout = timeout
        self._thread: threading.Thread | None = None

    def start(self) -> None:  # type: ignore[override]
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        loop = asyncio.new_event_loop()
        self.loop = loop

        def run() -> None:
            asyncio.set_event_loop(loop)

            async def boot() -> None:
                try:
                    await AsyncEmulator.start(self)
                except BaseException as e:
                    ready.set_exception(e)
                    raise
                ready.set_result(None)

            try:
                loop.run_until_complete(boot())
            except BaseException:
                loop.close()
                return
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="punctual-sandbox-emulator", daemon=True)
        self._thread.start()
        ready.result(timeout=self.timeout)

    def stop(self) -> None:  # type: ignore[override]
        loop, thread = self.loop, self._thread
        if loop is None or thread is None:
            return
        if loop.is_running():
            future = asyncio.run_coroutine_threadsafe(AsyncEmulator.stop(self), loop)
            try:
                future.result(timeout=self.timeout)
            finally:
                loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=self.timeout)
        self._thread = None

    def add_controller(self, controller: Controller) -> None:  # type: ignore[override]
        loop = self.loop
        assert loop is not None, "The emulator is not started."
        coro = AsyncEmulator.add_controller(self, controller)
        asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=self.timeout)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _call(self, fn: Callable[[Store], T]) -> T:
        loop = self.loop
        if loop is None:
            raise RuntimeError("The emulator is not started.")
        with contextlib.suppress(RuntimeError):
            if asyncio.get_running_loop() is loop:
                return fn(self.store)  # already on the emulator's thread (e.g. a kmock reaction)

        async def run() -> T:
            return fn(self.store)

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout=self.timeout)

    @property
    def request_log(self) -> list[RequestRecord]:
        return self._call(lambda _: list(self.handler.request_log))

    @property
    def verb_counts(self) -> dict[str, int]:
        return self._call(lambda _: dict(self.handler.verb_counts))

    @property
    def api_writes(self) -> int:
        counts = self.verb_counts
        return sum(count for verb, count in counts.items() if verb in WRITE_VERBS)

    def reset_request_log(self) -> None:
        self._call(lambda _: AsyncEmulator.reset_request_log(self))


# --- The command line --------------------------------------------------------------------------


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m kube_emulator.emulator", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--kubeconfig-out", type=Path, default=None, help="write a kubeconfig here")
    parser.add_argument("--namespace", default="default", help="the kubeconfig context's namespace")
    parser.add_argument("--jobs", action="store_true", help="run the simulated Job controller")
    parser.add_argument("--job-duration", default="3s", help="the default Job duration, e.g. 3s, 2m")
    parser.add_argument("--job-exit-code", type=int, default=0, help="the default Job exit code")
    parser.add_argument("--seed", type=int, default=None, help="seed the names and uids")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    controllers: list[Controller] = []
    if args.jobs:
        duration = parse_duration(args.job_duration)
        controllers.append(JobController(default_duration=duration, default_exit_code=args.job_exit_code))
    emulator = AsyncEmulator(host=args.host, port=args.port, controllers=controllers, seed=args.seed)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    async with emulator:
        if args.kubeconfig_out is not None:
            emulator.write_kubeconfig(args.kubeconfig_out, namespace=args.namespace)
        print(f"READY {emulator.url}", flush=True)
        await stopping.wait()


def main(argv: Sequence[str] | None = None) -> int:
    asyncio.run(_serve(_parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
