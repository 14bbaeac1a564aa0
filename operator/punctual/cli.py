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
from typing import TYPE_CHECKING, Any

import yaml

from punctual import __version__
from punctual.durations import DurationError, parse_duration

if TYPE_CHECKING:
    from punctual.core.run_request import RunOverrides

__all__ = ["UsageError", "main"]


class UsageError(Exception):
    """A problem with the command line or its input files; printed as one line."""


def _durations(text: str) -> list[timedelta]:
    try:
        return [parse_duration(p) for p in text.split(",") if p.strip()]
    except DurationError as exc:
        raise UsageError(str(exc)) from exc


def _run_overrides(args: argparse.Namespace) -> RunOverrides | None:
    """The --run-env/--run-arg/--run-image/--run-container overrides, checked as the operator checks
    the run-overrides annotation (punctual.core.run_request); None when none is given."""
    from punctual.core.run_request import OverridesError, RunOverrides, check_env_name, check_image, encode, parse

    if not (args.run_env or args.run_arg is not None or args.run_image is not None or args.run_container):
        return None
    if not args.run_now:
        raise UsageError("--run-env/--run-arg/--run-image/--run-container apply to --run-now runs: give --run-now too")
    env = []
    try:
        for item in args.run_env:
            name, sep, value = item.partition("=")
            if not sep:
                raise OverridesError(f"--run-env {item!r}: use NAME=VALUE")
            check_env_name(name)
            env.append((name, value))
        if args.run_image is not None:
            check_image(args.run_image)
        overrides = RunOverrides(
            token="simulated",
            env=tuple(env),
            args=tuple(args.run_arg) if args.run_arg is not None else None,
            image=args.run_image,
            container=args.run_container,
        )
        return parse(encode(overrides))  # every check the operator applies to the annotation
    except OverridesError as exc:
        raise UsageError(str(exc)) from exc


def _read(path: str) -> str:
    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc


def _scheduledjobs(path: str) -> list[tuple[str, dict[str, Any]]]:
    """The ScheduledJob and Calendar documents of a file (every document of a multi-document file)."""
    try:
        docs = [d for d in yaml.safe_load_all(_read(path)) if d]
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not YAML: {str(exc).splitlines()[0]}") from exc
    return [(path, dict(d)) for d in docs if isinstance(d, dict) and d.get("kind") in ("ScheduledJob", "Calendar")]


def _load_all(paths: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
    """Every ScheduledJob and Calendar document of the files (a folder: its *.yaml and *.yml files, sorted)."""
    found: list[tuple[str, dict[str, Any]]] = []
    for path in paths:
        if path != "-" and Path(path).is_dir():
            files = sorted(str(f) for f in Path(path).iterdir() if f.suffix in (".yaml", ".yml") and f.is_file())
            for file in files:
                found += _scheduledjobs(file)
            if not files:
                raise UsageError(f"{path}: no .yaml or .yml files in this folder")
        else:
            found += _scheduledjobs(path)
    if not any(doc.get("kind") == "ScheduledJob" for _, doc in found):
        where = paths[0] if len(paths) == 1 else ", ".join(paths)
        raise UsageError(f"{where}: expected exactly one ScheduledJob document, found 0")
    return found


def _calendars(documents: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, list[str] | None]:
    """The Calendar documents' rules by name (None: a spec.exclude that is not a list of strings)."""
    out: dict[str, list[str] | None] = {}
    for _, doc in documents:
        if doc.get("kind") != "Calendar":
            continue
        rules = (doc.get("spec") or {}).get("exclude", [])
        ok = isinstance(rules, list) and all(isinstance(r, str) for r in rules)
        out[str((doc.get("metadata") or {}).get("name") or "")] = list(rules) if ok else None
    return out


def _split_named(values: Sequence[str]) -> tuple[list[str], dict[str, list[str]]]:
    """``--fail 3`` / ``--fail extract=3``: values for the roots, and values by ScheduledJob name."""
    plain: list[str] = []
    named: dict[str, list[str]] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if sep and name and not name[0].isdigit():
            named.setdefault(name, []).append(rest)
        else:
            plain.append(value)
    return plain, named


def _cmd_simulate(args: argparse.Namespace) -> int:
    from punctual.core import SpecError, build_schedule, parse_spec
    from punctual.schedule import ScheduleError, load_zone
    from punctual.simulate import Pipeline, Simulation, format_backfill, format_json, format_table, parse_when

    documents = _load_all(args.file)
    calendars = _calendars(documents)
    documents = [(path, doc) for path, doc in documents if doc.get("kind") == "ScheduledJob"]
    pipeline = len(documents) > 1
    zone = None
    specs = []
    for path, doc in documents:
        try:
            spec = parse_spec(doc.get("spec") or {})
            member_zone = load_zone(spec.timeZone or args.default_time_zone)
        except (SpecError, ScheduleError) as exc:
            raise UsageError(f"{path}: {exc}") from exc
        zone = zone or member_zone  # a pipeline's table is in its first ScheduledJob's zone
        specs.append(spec)
    assert zone is not None
    names = [str((doc.get("metadata") or {}).get("name") or "simulated") for _, doc in documents]
    for (path, _), name, spec in zip(documents, names, specs, strict=True):
        absent = [d.name for d in spec.dependsOn or [] if d.name not in names]
        if absent:
            raise UsageError(
                f"{path}: {name} runs after {', '.join(absent)}: give their files too, "
                "e.g. punctual simulate extract.yaml report.yaml (or a folder)"
            )
        lacking = [c for c in spec.calendars or [] if c not in calendars]
        if lacking:
            raise UsageError(
                f"{path}: {name} uses Calendar {', '.join(lacking)}: give its file too, "
                "e.g. punctual simulate nightly.yaml holidays.yaml (or a folder)"
            )
    plain_runs, named_runs = _split_named(args.run_now)
    plain_fail, named_fail = _split_named(args.fail)
    for option, named in (("--run-now", named_runs), ("--fail", named_fail)):
        unknown = sorted(set(named) - set(names))
        if unknown:
            raise UsageError(f"{option} {unknown[0]}=...: no ScheduledJob {unknown[0]} given")
    try:
        start = parse_when(args.from_, zone=zone)
        until = parse_when(args.until, zone=zone)
        down = []
        for window in args.down:
            a, sep, b = window.partition("..")
            if not sep:
                raise UsageError(f"--down {window!r}: use START..END")
            down.append((parse_when(a, zone=zone), parse_when(b, zone=zone)))
        runs_of = {
            name: [parse_when(t, zone=zone) for t in named_runs.get(name, [])]
            + ([parse_when(t, zone=zone) for t in plain_runs] if not spec.dependsOn else [])
            for name, spec in zip(names, specs, strict=True)
        }
        backfill = None
        if args.backfill:
            if pipeline:
                raise UsageError("--backfill replays one ScheduledJob: give its file alone")
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
    run_overrides = _run_overrides(args)

    def numbers(texts: Sequence[str]) -> frozenset[int]:
        try:
            return frozenset(int(x) for text in texts for x in text.split(",") if x.strip())
        except ValueError as exc:
            raise UsageError(f"--fail {','.join(texts)!r}: give run numbers, e.g. --fail 3,5") from exc

    try:
        members = [
            Simulation(
                doc,
                start=start,
                until=until,
                durations=durations,
                failures=numbers(named_fail.get(name, []) + (plain_fail if not spec.dependsOn else [])),
                down=down,
                run_now=runs_of[name],
                run_overrides=run_overrides,
                backfill=backfill,
                backfill_at=backfill_at,
                backfill_parallel=args.parallel,
                default_time_zone=args.default_time_zone,
                calendars=calendars,
            )
            for (_, doc), name, spec in zip(documents, names, specs, strict=True)
        ]
        _ = build_schedule  # the same validation the operator applies runs in Simulation
        rows = Pipeline(members).run() if pipeline else members[0].run()
    except SpecError as exc:
        raise UsageError(f"{documents[0][0] if not pipeline else 'pipeline'}: {exc}") from exc
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if args.output == "json":
        print(format_json(rows))
    else:
        print(f"# {', '.join(names)}: times in {zone.key}")
        print(format_table(rows, zone=zone))
        if run_overrides is not None:
            shown = run_overrides.record().model_dump(mode="json", exclude_none=True)
            said = (f"{k} {' '.join(v) if isinstance(v, list) else v}" for k, v in shown.items())
            print(f"# the --run-now runs override {', '.join(said)}")
        for entry in members[0].status.backfills if not pipeline else ():
            print(f"# backfill {format_backfill(entry)}")
    return 0


def _cmd_crd(args: argparse.Namespace) -> int:
    from punctual.crd import calendar_crd_yaml, crd_yaml

    sys.stdout.write(calendar_crd_yaml() if args.calendar else crd_yaml())
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from punctual.runtime.command import run_operator

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

    sim = command(
        "simulate", "replay ScheduledJobs (one, or a pipeline) on a virtual clock, with the operator's own decisions"
    )
    sim.add_argument(
        "file",
        nargs="+",
        help="YAML files or folders with ScheduledJobs ('-' for stdin); several ScheduledJobs replay as one pipeline",
    )
    sim.add_argument(
        "--from", dest="from_", metavar="TIME", required=True, help="start (RFC 3339, or local time in the job's zone)"
    )
    sim.add_argument("--until", metavar="TIME", required=True, help="end of the replay")
    sim.add_argument("--durations", metavar="D,D,...", help="run durations, cycled: 20m,27m,34m")
    sim.add_argument("--duration", metavar="D", help="one duration for every run")
    sim.add_argument(
        "--fail",
        metavar="[NAME=]N,N,...",
        action="append",
        default=[],
        help="run numbers (1-based) that fail: 3,5 (repeatable; in a pipeline: those of each ScheduledJob "
        "without dependsOn, or NAME=3,5)",
    )
    sim.add_argument(
        "--down", metavar="START..END", action="append", default=[], help="operator down in this window (repeatable)"
    )
    sim.add_argument(
        "--run-now",
        metavar="[NAME=]TIME",
        action="append",
        default=[],
        help="a manual run request at this time (repeatable; in a pipeline: of each ScheduledJob without "
        "dependsOn, or NAME=TIME)",
    )
    sim.add_argument(
        "--run-env",
        metavar="K=V",
        action="append",
        default=[],
        help="an env var the --run-now runs override (kubectl sj run --env; repeatable)",
    )
    sim.add_argument(
        "--run-arg",
        metavar="A",
        action="append",
        default=None,
        help="the --run-now runs' args (kubectl sj run --arg; repeatable, in order; --run-arg=-v for one "
        "starting with -)",
    )
    sim.add_argument("--run-image", metavar="IMAGE", help="the --run-now runs' image (kubectl sj run --image)")
    sim.add_argument(
        "--run-container", metavar="C", help="the container the overrides apply to (kubectl sj run --container)"
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
    crd.add_argument("--calendar", action="store_true", help="print the Calendar CRD instead")
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
