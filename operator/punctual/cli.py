"""The ``punctual`` command: ``run``, ``simulate``, ``crd``, ``sandbox``. A thin shell.

Each subcommand parses its arguments and hands over to the module that does the work; errors a
user can fix are printed as one line and exit 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from punctual import __version__
from punctual.durations import DurationError, parse_duration

__all__ = ["UsageError", "main"]


class UsageError(Exception):
    """A problem with the command line or its input files; printed as one line."""


def _durations(text: str) -> list[timedelta]:
    try:
        return [parse_duration(p) for p in text.split(",") if p.strip()]
    except DurationError as exc:
        raise UsageError(str(exc)) from exc


def _load_one(path: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    docs = [d for d in yaml.safe_load_all(text) if d]
    docs = [d for d in docs if isinstance(d, dict) and d.get("kind") == "ScheduledJob"]
    if len(docs) != 1:
        raise UsageError(f"{path}: expected exactly one ScheduledJob document, found {len(docs)}")
    return dict(docs[0])


def _cmd_simulate(args: argparse.Namespace) -> int:
    from punctual.core import SpecError, build_schedule, parse_spec
    from punctual.schedule import ScheduleError, load_zone
    from punctual.simulate import Simulation, format_backfill, format_json, format_table, parse_when

    doc = _load_one(args.file)
    try:
        spec = parse_spec(doc.get("spec") or {})
    except SpecError as exc:
        raise UsageError(f"{args.file}: {exc}") from exc
    try:
        zone = load_zone(spec.timeZone or args.default_time_zone)
    except ScheduleError as exc:
        raise UsageError(f"{args.file}: {exc}") from exc
    try:
        start = parse_when(args.from_, zone=zone)
        until = parse_when(args.until, zone=zone)
        down = []
        for window in args.down:
            a, sep, b = window.partition("..")
            if not sep:
                raise UsageError(f"--down {window!r}: use START..END")
            down.append((parse_when(a, zone=zone), parse_when(b, zone=zone)))
        run_now = [parse_when(t, zone=zone) for t in args.run_now]
        backfill = None
        if args.backfill:
            a, sep, b = args.backfill.partition("..")
            if not sep:
                raise UsageError(f"--backfill {args.backfill!r}: use FROM..TO")
            backfill = (parse_when(a, zone=zone), parse_when(b, zone=zone))
        backfill_at = parse_when(args.backfill_at, zone=zone) if args.backfill_at else None
    except ValueError as exc:
        raise UsageError(f"bad time: {exc}") from exc
    if until < start:
        raise UsageError("--until is before --from")
    durations = _durations(args.durations or args.duration or "1m")
    try:
        failures = frozenset(int(x) for x in args.fail.split(",") if x.strip()) if args.fail else frozenset()
    except ValueError as exc:
        raise UsageError(f"--fail {args.fail!r}: give run numbers, e.g. --fail 3,5") from exc
    try:
        sim = Simulation(
            doc,
            start=start,
            until=until,
            durations=durations,
            failures=failures,
            down=down,
            run_now=run_now,
            backfill=backfill,
            backfill_at=backfill_at,
            backfill_parallel=args.parallel,
            default_time_zone=args.default_time_zone,
        )
        _ = build_schedule  # the same validation the operator applies runs in Simulation
        rows = sim.run()
    except SpecError as exc:
        raise UsageError(f"{args.file}: {exc}") from exc
    if args.output == "json":
        print(format_json(rows))
    else:
        print(f"# {doc.get('metadata', {}).get('name', '?')}: times in {zone.key}")
        print(format_table(rows, zone=zone))
        for entry in sim.status.backfills:
            print(f"# backfill {format_backfill(entry)}")
    return 0


def _cmd_crd(args: argparse.Namespace) -> int:
    from punctual.crd import crd_yaml

    sys.stdout.write(crd_yaml())
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from punctual.runtime import run_operator

    return run_operator()


def _cmd_sandbox(args: argparse.Namespace) -> int:
    try:
        from punctual.sandbox import run_sandbox
    except ImportError as exc:
        raise UsageError(f"the sandbox needs its extra: pip install 'punctual[sandbox]' ({exc})") from exc
    code: int = run_sandbox(args)
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="punctual", description="Cron for Kubernetes that never silently skips a run."
    )
    parser.add_argument("--version", action="version", version=f"punctual {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_, description=help_[0].upper() + help_[1:] + ".")

    run = command("run", "run the operator (settings from PUNCTUAL_* environment variables)")
    run.set_defaults(func=_cmd_run)

    sim = command("simulate", "replay a ScheduledJob on a virtual clock, with the operator's own decisions")
    sim.add_argument("file", help="a YAML file with one ScheduledJob ('-' for stdin)")
    sim.add_argument(
        "--from", dest="from_", metavar="TIME", required=True, help="start (RFC 3339, or local time in the job's zone)"
    )
    sim.add_argument("--until", metavar="TIME", required=True, help="end of the replay")
    sim.add_argument("--durations", metavar="D,D,...", help="run durations, cycled: 20m,27m,34m")
    sim.add_argument("--duration", metavar="D", help="one duration for every run")
    sim.add_argument("--fail", metavar="N,N,...", help="run numbers (1-based) that fail: 3,5")
    sim.add_argument(
        "--down", metavar="START..END", action="append", default=[], help="operator down in this window (repeatable)"
    )
    sim.add_argument(
        "--run-now", metavar="TIME", action="append", default=[], help="a manual run request at this time (repeatable)"
    )
    sim.add_argument(
        "--backfill", metavar="FROM..TO", help="a backfill of this range (as kubectl sj backfill), requested at --from"
    )
    sim.add_argument("--backfill-at", metavar="TIME", help="when the backfill is requested (default: --from)")
    sim.add_argument("--parallel", type=int, default=1, help="the backfill's --parallel (default 1)")
    sim.add_argument("--default-time-zone", metavar="ZONE", default="UTC", help="zone for a spec without timeZone")
    sim.add_argument(
        "-o", "--output", choices=("table", "json"), default="table", help="output format (default: table)"
    )
    sim.set_defaults(func=_cmd_simulate)

    crd = command("crd", "print the ScheduledJob CustomResourceDefinition")
    crd.set_defaults(func=_cmd_crd)

    sandbox = sub.add_parser(
        "sandbox",
        help="emulated cluster + simulated Jobs + the real operator, on 127.0.0.1",
        description=(
            "Try Punctual with no cluster: an emulated Kubernetes API on 127.0.0.1 with the ScheduledJob CRD, "
            "a simulated Job controller (no containers run: a Job lasts its punctual.dev/sandbox-duration "
            "annotation and exits with punctual.dev/sandbox-exit-code) and the real operator, in one process. "
            "It applies the given files (default: examples/), prints a kubeconfig and commands to try, "
            "and on Ctrl-C removes everything it wrote except a --kubeconfig-out."
        ),
    )
    sandbox.add_argument(
        "-f",
        "--filename",
        metavar="FILE|DIR",
        action="append",
        default=[],
        help="ScheduledJob files or folders to apply",
    )
    sandbox.add_argument("--kubeconfig-out", metavar="PATH", help="write the kubeconfig here and keep it")
    sandbox.add_argument("--port", type=int, default=0, help="API emulator port (default: any free port)")
    sandbox.add_argument(
        "--metrics-port", metavar="PORT", type=int, default=0, help="operator metrics port (default: any free)"
    )
    sandbox.add_argument("--for", dest="for_", metavar="DURATION", help="stop by itself after this long (e.g. 30s)")
    sandbox.set_defaults(func=_cmd_sandbox)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``punctual`` console script."""
    args = _parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
