"""``kubectl sj``: the command line (argparse), one function per verb (I/O shell).

kubectl runs ``kubectl-sj`` from PATH for ``kubectl sj ...`` and passes the arguments through
untouched, so the global flags are kubectl's (``-n``, ``-A``, ``--context``, ``--kubeconfig``) and
may appear before or after the verb. Exit codes are kubectl's: 0 on success, 1 on any error, with
one line on stderr and no traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import NoReturn, TextIO

from punctual import __version__

# Only the parser is loaded here: a verb's module (the API client, pydantic, the schedule code) is
# imported when a verb runs, so `--help` and `--version` start in a few tens of milliseconds.

__all__ = ["VERBS", "build_parser", "main"]

VERBS = (
    "run",
    "list",
    "get",
    "history",
    "next",
    "tree",
    "suspend",
    "resume",
    "logs",
    "backfill",
    "convert",
    "completion",
    "ui",
)


class _Parser(argparse.ArgumentParser):
    """Usage errors as kubectl reports them: one line, exit code 1."""

    def error(self, message: str) -> NoReturn:
        self.exit(1, f"error: {message}\nSee '{self.prog} --help' for usage.\n")


def _globals(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: given before or after the verb, a flag lands in the namespace once, unshadowed.
    group = parser.add_argument_group("global flags (as kubectl's)")
    group.add_argument("-n", "--namespace", default=argparse.SUPPRESS, help="the namespace (default: the context's)")
    group.add_argument(
        "-A", "--all-namespaces", action="store_true", default=argparse.SUPPRESS, help="list in all namespaces"
    )
    group.add_argument("--context", default=argparse.SUPPRESS, help="the kubeconfig context to use")
    group.add_argument("--kubeconfig", default=argparse.SUPPRESS, help="path to the kubeconfig (default: $KUBECONFIG)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kubectl sj",
        description="Punctual ScheduledJobs from kubectl: run now, list, history, next slots, suspend, logs, a web UI.",
    )
    parser.add_argument("--version", action="version", version=f"kubectl-sj {__version__}")
    _globals(parser)
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    verbs.required = True

    def verb(name: str, help_: str, *, aliases: Sequence[str] = ()) -> argparse.ArgumentParser:
        sub = verbs.add_parser(name, help=help_, description=help_, aliases=list(aliases))
        _globals(sub)
        return sub

    p = verb("run", "Run a ScheduledJob now (through its concurrency policy) and print the Job it got.")
    p.add_argument("name")
    p.add_argument("--wait", action="store_true", help="wait for the run's result; exit 1 if it failed")
    p.add_argument("-f", "--follow", action="store_true", help="stream the run's log while waiting (implies --wait)")
    p.add_argument("--timeout", help="how long to wait: 10m with --wait, else 30s for the operator to answer")
    overrides = p.add_argument_group(
        "overrides for this run only (need the same RBAC verb as editing the spec: patch on scheduledjobs)"
    )
    overrides.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set an env var (added, or replacing one of that name); repeatable",
    )
    overrides.add_argument(
        "--arg",
        action="append",
        default=None,
        metavar="ARG",
        help="replace the container's args with these, in order; repeatable (--arg -v passes -v)",
    )
    overrides.add_argument("--image", help="replace the container's image")
    overrides.add_argument(
        "-c", "--container", help="apply them to this container only (default: every container but init containers)"
    )
    p.add_argument(
        "--dry-run",
        nargs="?",
        const="client",
        default="none",
        metavar="none|client",
        help="--dry-run or --dry-run=client: print the Job it would create (with the overrides) and request nothing",
    )
    p.add_argument("-o", "--output", choices=["yaml", "json"], help="with --dry-run: the format (default yaml)")

    for name in ("list", "get"):
        p = verb(name, "List ScheduledJobs, or show one." if name == "get" else "List ScheduledJobs.")
        if name == "get":
            p.add_argument("name", nargs="?", default=None)
        p.add_argument("-o", "--output", choices=["wide", "json", "yaml", "name"], help="output format")

    p = verb("history", "Show a ScheduledJob's recorded runs and slots, newest first (from status.history).")
    p.add_argument("name")
    p.add_argument("--limit", type=int, default=None, help="show at most this many records")
    p.add_argument("-o", "--output", choices=["wide", "json", "yaml"], help="output format")

    p = verb("next", "Show the next slots, computed with the operator's own schedule code.")
    p.add_argument("name")
    p.add_argument("--count", type=int, default=10, help="how many slots (also -n N with a number)")
    p.add_argument("--from", dest="from_", metavar="TIME", help="start after this time (RFC 3339 or local)")
    p.add_argument(
        "-o", "--output", choices=["json", "yaml", "wide"], help="output format (wide: also excluded slots, and why)"
    )

    p = verb("tree", "Show a ScheduledJob's pipeline (spec.dependsOn): upstreams and downstreams, with last results.")
    p.add_argument("name")

    for name, what in (("suspend", "Suspend"), ("resume", "Resume")):
        p = verb(name, f"{what} ScheduledJobs by name, by label selector or all of them (sets spec.suspend).")
        p.add_argument("names", nargs="*", metavar="NAME")
        p.add_argument("-l", "--selector", help="only ScheduledJobs matching this label selector (as kubectl's -l)")
        p.add_argument("--all", action="store_true", help="every ScheduledJob in the namespace (or with -A in all)")

    p = verb("logs", "Print the logs of a run (the newest, unless --run names one).")
    p.add_argument("name")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--run", metavar="JOB", help="the run's Job name (see history -o wide)")
    which.add_argument("--last", action="store_true", help="the newest run (the default)")
    p.add_argument("-f", "--follow", action="store_true", help="stream the log")
    p.add_argument("-c", "--container", help="the container (default: the pod's default or first)")

    p = verb(
        "backfill",
        "Run every slot of the schedule in [--from, --to] (each once, skipping slots that ran); "
        "without a range, show the backfills; --cancel stops them.",
    )
    p.add_argument("name")
    p.add_argument(
        "--from", dest="from_", metavar="TIME", help="first instant of the range, inclusive (RFC 3339 or local)"
    )
    p.add_argument("--to", metavar="TIME", help="last instant of the range, inclusive (not in the future)")
    p.add_argument("--parallel", type=int, default=1, help="most runs of the backfill at once (default 1: one by one)")
    p.add_argument("--dry-run", action="store_true", help="print the slots it would run and skip; request nothing")
    p.add_argument("--wait", action="store_true", help="follow the progress until it ends; exit 1 if a run failed")
    p.add_argument("--timeout", help="with --wait: how long to follow (default: until it ends)")
    p.add_argument(
        "--cancel",
        nargs="?",
        const="",
        metavar="TOKEN",
        help="cancel the backfills in progress (or the one with TOKEN): pending slots dropped, running ones finish",
    )

    p = verb("convert", "Print the ScheduledJob equivalent to a CronJob (pipe it to kubectl apply -f -).")
    p.add_argument("cronjob", nargs="?", metavar="cronjob/NAME")
    p.add_argument("-f", "--filename", help="a CronJob manifest file (- for stdin)")
    p.add_argument("-o", "--output", choices=["yaml", "json"], default="yaml", help="output format")

    p = verb("ui", "Serve a web UI (fleet, timeline, history, logs, run now) with your kubeconfig's credentials.")
    p.add_argument("--port", type=int, default=0, help="the port to listen on (default 0: a free one)")
    p.add_argument("--address", default="127.0.0.1", help="the address to bind (0.0.0.0 in a pod; default 127.0.0.1)")
    p.add_argument("--open", action="store_true", help="open the UI in a web browser")
    p.add_argument("--in-cluster", action="store_true", help="use the pod's ServiceAccount instead of a kubeconfig")

    p = verb("completion", "Print a shell completion script (bash or zsh).")
    p.add_argument("shell", choices=["bash", "zsh"])
    return parser


def _count_flag(argv: list[str]) -> list[str]:
    """``next NAME -n 5``: in ``next``, ``-n`` with a number is the count, not a namespace."""
    if "next" not in argv:
        return argv
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "-n" and i + 1 < len(argv) and argv[i + 1].isdigit():
            out += ["--count", argv[i + 1]]
            i += 2
            continue
        if arg.startswith("-n") and arg[2:].isdigit():
            out += ["--count", arg[2:]]
        else:
            out.append(arg)
        i += 1
    return out


def _arg_values(argv: list[str]) -> list[str]:
    """``run NAME --arg --full``: the word after ``--arg`` is its value, even one starting with ``-``;
    a bare ``--dry-run`` is ``--dry-run=client`` and takes no word (as kubectl's: ``--dry-run NAME``)."""
    if "run" not in argv:
        return argv
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] == "--arg" and i + 1 < len(argv):
            out.append(f"--arg={argv[i + 1]}")
            i += 2
            continue
        out.append("--dry-run=client" if argv[i] == "--dry-run" else argv[i])
        i += 1
    return out


def main(
    argv: Sequence[str] | None = None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    now: datetime | None = None,
) -> int:
    """The console script ``kubectl-sj``; returns the exit code (0 ok, 1 error)."""
    out = out or sys.stdout
    err = err or sys.stderr
    raw = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(_arg_values(_count_flag(raw)))
    except SystemExit as exc:  # --help (0) or a usage error (1), already printed
        return int(exc.code or 0)
    if args.verb == "completion":
        from kubectl_sj.completion import script

        out.write(script(args.shell))
        return 0
    from kubectl_sj.verbs import run_verb

    return run_verb(args, out=out, err=err, now=now or datetime.now(UTC))


if __name__ == "__main__":
    sys.exit(main())
