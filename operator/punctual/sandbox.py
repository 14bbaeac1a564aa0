"""``punctual sandbox``: the API emulator, simulated Jobs and the real operator in one process.

A newcomer sees Punctual work with no cluster: the emulator (with the ScheduledJob CRD) serves on
127.0.0.1, the simulated Job controller runs Jobs (no containers: a Job "runs" for the duration in
its ``punctual.dev/sandbox-duration`` annotation and exits with ``punctual.dev/sandbox-exit-code``),
and the real operator schedules them. Ctrl-C stops everything and removes what it wrote, except a
kubeconfig it was asked to keep.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shlex
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from kube_emulator.emulator import Emulator
from kube_emulator.jobs import JobController
from punctual.crd import calendar_crd_manifest, crd_manifest
from punctual.durations import DurationError, parse_duration
from punctual.runtime.app import Operator
from punctual.runtime.command import configure_logging
from punctual.runtime.kube import Credentials
from punctual.runtime.settings import Settings

__all__ = ["banner_commands", "load_documents", "run_sandbox"]

_THREAD_SIGNALS = "OS signals are ignored: running not in the main thread"


class _NotInMainThread(logging.Filter):
    """Drops kopf's warning that it ignores OS signals because the operator runs in a thread.

    True but misleading here: the sandbox's main thread handles Ctrl-C and SIGTERM and stops the
    operator through its stop flag, so a newcomer must not read "Ctrl-C won't work" at start-up.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(_THREAD_SIGNALS)


def _files(paths: list[str]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
        elif path.exists():
            yield path
        else:
            raise FileNotFoundError(f"no such file or folder: {raw}")


def load_documents(paths: list[str]) -> list[dict[str, Any]]:
    """Every YAML document in the given files and folders."""
    docs: list[dict[str, Any]] = []
    for path in _files(paths):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    return docs


def _bin_dir() -> Path | None:
    """The folder holding this installation's ``kubectl-sj`` (and ``kubectl``): the venv's ``bin``."""
    folder = Path(sys.executable).parent
    return folder if (folder / "kubectl-sj").exists() else None


def banner_commands(kubeconfig: Path, names: list[str], metrics_port: int | None) -> list[str]:
    """What the banner suggests, each line complete: it works pasted into a new shell.

    A new shell has neither the venv's ``bin`` on PATH (so no ``kubectl-sj``, and maybe another
    kubectl or none) nor ``KUBECONFIG``: every kubectl line sets both for itself.
    """
    first = names[0] if names else "NAME"
    folder = _bin_dir()
    env = f"KUBECONFIG={shlex.quote(str(kubeconfig))}"
    if folder is not None:
        env += f" PATH={shlex.quote(str(folder))}:$PATH"
    commands = [
        f"{env} kubectl get sj",
        f"{env} kubectl sj list",
        f"{env} kubectl sj run {shlex.quote(first)} --wait",
        f"{env} kubectl sj history {shlex.quote(first)}",
        f"{env} kubectl get jobs",
        f"{env} kubectl sj ui",  # the web UI: prints its URL and serves until Ctrl-C
    ]
    if metrics_port:
        commands.append(f"curl http://127.0.0.1:{metrics_port}/metrics")
    return commands


def _banner(kubeconfig: Path, names: list[str], metrics_port: int | None, keep: bool) -> str:
    lines = [
        "",
        "Punctual sandbox is running: an emulated Kubernetes API on 127.0.0.1 with the real operator.",
        "Jobs are SIMULATED: no containers run; a Job finishes after its punctual.dev/sandbox-duration",
        "annotation (default 3s) with exit code punctual.dev/sandbox-exit-code (default 0).",
        "",
        f"kubeconfig: {kubeconfig}" + ("" if keep else " (removed on exit; keep one with --kubeconfig-out)"),
        f"applied: {', '.join(names) or 'nothing (use -f FILE)'}",
        "",
        "Try, in another terminal (each line works as is):",
        *(f"  {command}" for command in banner_commands(kubeconfig, names, metrics_port)),
        "",
        "Against a real cluster instead: helm install punctual charts/punctual (see README).",
        "Stop with Ctrl-C.",
        "",
    ]
    return "\n".join(lines)


def run_sandbox(args: argparse.Namespace) -> int:
    """Run until Ctrl-C / SIGTERM (or ``--for``); returns the exit code."""
    paths = list(args.filename) or (["examples"] if Path("examples").is_dir() else [])
    try:
        docs = load_documents(paths)
        stop_after = parse_duration(args.for_).total_seconds() if args.for_ else None
    except (OSError, yaml.YAMLError, DurationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    settings = Settings(metrics_host="127.0.0.1", metrics_port=args.metrics_port, watch_timeout=60)
    configure_logging(settings)
    for log_handler in logging.getLogger().handlers:
        log_handler.addFilter(_NotInMainThread())
    workdir = Path(tempfile.mkdtemp(prefix="punctual-sandbox-"))
    keep = bool(args.kubeconfig_out)
    kubeconfig = Path(args.kubeconfig_out) if keep else workdir / "kubeconfig"
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with Emulator(port=args.port, controllers=[JobController()]) as emulator:
            emulator.install_crd(crd_manifest())
            emulator.install_crd(calendar_crd_manifest())
            emulator.write_kubeconfig(kubeconfig)
            names = []
            # Calendars first (a ScheduledJob naming one would see it missing meanwhile); the banner
            # names the ScheduledJobs only.
            for doc in sorted(docs, key=lambda d: d.get("kind") != "Calendar"):
                doc.setdefault("metadata", {}).setdefault("namespace", "default")
                created = emulator.create(doc)
                if doc.get("kind") != "Calendar":
                    names.append(str(created["metadata"]["name"]))
            operator = Operator(settings, credentials=Credentials(server=emulator.url))
            failure: list[BaseException] = []

            def serve() -> None:
                try:
                    asyncio.run(operator.run(stop_flag=stop))
                except BaseException as exc:  # reported below; the main thread owns the exit code
                    failure.append(exc)
                    stop.set()

            thread = threading.Thread(target=serve, name="punctual-operator", daemon=True)
            thread.start()
            operator.ready.wait(30)
            if not failure:
                print(_banner(kubeconfig, names, operator.metrics_port, keep), flush=True)
            stop.wait(stop_after)
            stop.set()
            thread.join(30)
            if failure:
                print(f"error: the operator stopped: {failure[0]}", file=sys.stderr)
                return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        shutil.rmtree(workdir, ignore_errors=True)
    print("sandbox stopped", flush=True)
    return 0
