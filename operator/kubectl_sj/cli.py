"""``kubectl sj``: the command line (argparse), one function per verb (I/O shell).

kubectl runs ``kubectl-sj`` from PATH for ``kubectl sj ...`` and passes the arguments through
untouched, so the global flags are kubectl's (``-n``, ``-A``, ``--context``, ``--kubeconfig``) and
may appear before or after the verb. Exit codes are kubectl's: 0 on success, 1 on any error, with
one line on stderr and no traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TextIO, cast

import yaml

from kubectl_sj import completion, format
from kubectl_sj.client import Cluster
from kubectl_sj.convert import ConvertError, convert_cronjob
from kubectl_sj.errors import PluginError
from kubectl_sj.objects import TYPE_NAME, ScheduledJob
from kubectl_sj.runs import job_pods, pick_container, request_run, runs_of, stream_logs
from kubectl_sj.slots import SlotError, next_slots, parse_from
from punctual import __version__
from punctual.durations import DurationError, parse_duration
from punctual.jobs import LABEL_SCHEDULED_JOB, label_value

__all__ = ["VERBS", "build_parser", "main"]

VERBS = ("run", "list", "get", "history", "next", "suspend", "resume", "logs", "convert", "completion")


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
        description="Punctual ScheduledJobs from kubectl: run now, list, history, next slots, suspend, logs.",
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
    p.add_argument("-o", "--output", choices=["json", "yaml"], help="output format")

    for name, what in (("suspend", "Suspend"), ("resume", "Resume")):
        p = verb(name, f"{what} a ScheduledJob (sets spec.suspend).")
        p.add_argument("name")

    p = verb("logs", "Print the logs of a run (the newest, unless --run names one).")
    p.add_argument("name")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--run", metavar="JOB", help="the run's Job name (see history -o wide)")
    which.add_argument("--last", action="store_true", help="the newest run (the default)")
    p.add_argument("-f", "--follow", action="store_true", help="stream the log")
    p.add_argument("-c", "--container", help="the container (default: the pod's default or first)")

    p = verb("convert", "Print the ScheduledJob equivalent to a CronJob (pipe it to kubectl apply -f -).")
    p.add_argument("cronjob", nargs="?", metavar="cronjob/NAME")
    p.add_argument("-f", "--filename", help="a CronJob manifest file (- for stdin)")
    p.add_argument("-o", "--output", choices=["yaml", "json"], default="yaml", help="output format")

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


class _App:
    """One invocation: the parsed flags, the streams, the clock and (lazily) the cluster."""

    def __init__(self, args: argparse.Namespace, *, out: TextIO, err: TextIO, now: datetime) -> None:
        self.args = args
        self.out = out
        self.err = err
        self.now = now
        self._cluster: Cluster | None = None

    @property
    def cluster(self) -> Cluster:
        if self._cluster is None:
            self._cluster = Cluster.connect(
                kubeconfig=getattr(self.args, "kubeconfig", None), context=getattr(self.args, "context", None)
            )
        return self._cluster

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.close()

    @property
    def namespace(self) -> str:
        return str(getattr(self.args, "namespace", None) or self.cluster.namespace)

    @property
    def all_namespaces(self) -> bool:
        return bool(getattr(self.args, "all_namespaces", False))

    def fetch(self, name: str) -> ScheduledJob:
        return self.cluster.get_scheduled_job(self.namespace, name)

    # -- verbs --------------------------------------------------------------------------------------

    def run(self) -> int:
        a = self.args
        timeout = _seconds(a.timeout, "--timeout") if a.timeout else None
        return request_run(
            self.cluster,
            self.namespace,
            a.name,
            out=self.out,
            err=self.err,
            wait=a.wait,
            follow=a.follow,
            timeout=timeout,
        )

    def list(self) -> int:
        a = self.args
        name = getattr(a, "name", None)
        if name:
            items = [self.fetch(name)]
        else:
            items = self.cluster.list_scheduled_jobs(None if self.all_namespaces else self.namespace)
        if a.output in ("json", "yaml"):
            document = items[0].body if name else format.list_document([sj.body for sj in items])
            self.out.write(format.dump(document, a.output))
        elif a.output == "name":
            self.out.write(format.name_lines(items))
        elif not items:
            where = "" if self.all_namespaces else f" in {self.namespace} namespace"
            self.err.write(f"No resources found{where}.\n")
        else:
            computed = {sj.key: _computed_next(sj, self.now) for sj in items}
            self.out.write(
                format.scheduled_jobs_table(
                    items,
                    now=self.now,
                    wide=a.output == "wide",
                    all_namespaces=self.all_namespaces and not name,
                    computed_next=computed,
                )
            )
        return 0

    get = list

    def history(self) -> int:
        a = self.args
        sj = self.fetch(a.name)
        records = sj.status.history
        if a.output in ("json", "yaml"):
            limited = records[: a.limit] if a.limit is not None else records
            self.out.write(format.dump([r.model_dump(mode="json", exclude_none=True) for r in limited], a.output))
        elif not records:
            self.err.write(f"No runs recorded for {TYPE_NAME}/{sj.name} yet.\n")
        else:
            self.out.write(
                format.history_table(records, zone=sj.time_zone, now=self.now, wide=a.output == "wide", limit=a.limit)
            )
        return 0

    def next(self) -> int:
        a = self.args
        if a.count < 1:
            raise PluginError("error: the count must be at least 1")
        sj = self.fetch(a.name)
        try:
            after = parse_from(a.from_, zone=sj.time_zone) if a.from_ else self.now
            slots = next_slots(sj, after=after, count=a.count)
        except SlotError as exc:
            raise PluginError(f"error: {TYPE_NAME}/{sj.name}: {exc}") from None
        if a.output in ("json", "yaml"):
            rows = [
                {
                    "slot": s.slot.astimezone(s.zone).isoformat(),
                    "start": s.start.astimezone(s.zone).isoformat(),
                    "jitterSeconds": s.jitter.total_seconds(),
                }
                for s in slots
            ]
            self.out.write(format.dump(rows, a.output))
        elif not slots:
            self.err.write(f"{TYPE_NAME}/{sj.name} has no slot in the next 5 years.\n")
        else:
            self.out.write(format.next_table(slots, now=self.now))
        return 0

    def _suspend(self, value: bool) -> int:
        name = self.args.name
        self.fetch(name)  # a clear NotFound rather than a patch error
        self.cluster.patch_scheduled_job(self.namespace, name, {"spec": {"suspend": value}})
        self.out.write(f"{TYPE_NAME}/{name} {'suspended' if value else 'resumed'}\n")
        return 0

    def suspend(self) -> int:
        return self._suspend(True)

    def resume(self) -> int:
        return self._suspend(False)

    def logs(self) -> int:
        a = self.args
        sj = self.fetch(a.name)
        if a.run:
            job = self.cluster.get_job(sj.namespace, a.run)
            labels = ((job or {}).get("metadata") or {}).get("labels") or {}
            if job is None:
                raise PluginError(f'Error from server (NotFound): jobs.batch "{a.run}" not found')
            if labels.get(LABEL_SCHEDULED_JOB) != label_value(sj.name):
                raise PluginError(f"error: job.batch/{a.run} is not a run of {TYPE_NAME}/{sj.name}")
            job_name = a.run
        else:
            jobs = runs_of(self.cluster, sj)
            if not jobs:
                raise PluginError(f"error: {TYPE_NAME}/{sj.name} has no runs with a Job (see kubectl sj history)")
            job_name = str(jobs[0]["metadata"]["name"])
        pods = job_pods(self.cluster, sj.namespace, job_name)
        if not pods:
            raise PluginError(f"error: job.batch/{job_name} has no pods (yet, or any more)")
        pod = pods[-1]
        pod_name = str(pod["metadata"]["name"])
        if len(pods) > 1:
            self.err.write(f"Found {len(pods)} pods, using pod/{pod_name}\n")
        container = pick_container(pod, a.container, self.err)
        stream_logs(self.cluster, sj.namespace, pod_name, container=container, follow=a.follow, out=self.out)
        return 0

    def convert(self) -> int:
        a = self.args
        if bool(a.cronjob) == bool(a.filename):
            raise PluginError("error: give either cronjob/NAME or -f FILE")
        if a.cronjob:
            kind, _, name = a.cronjob.partition("/")
            if kind.lower() not in ("cronjob", "cronjobs", "cj", "cronjob.batch", "cronjobs.batch") or not name:
                raise PluginError(f"error: expected cronjob/NAME, got {a.cronjob!r}")
            sources = [self.cluster.get_cronjob(self.namespace, name)]
        else:
            sources = _read_manifests(a.filename)
        try:
            converted = [convert_cronjob(doc) for doc in sources]
        except ConvertError as exc:
            raise PluginError(f"error: {exc}") from None
        if a.output == "json":
            document = converted[0] if len(converted) == 1 else format.list_document(converted)
            self.out.write(format.dump(document, "json"))
        else:
            self.out.write("---\n".join(format.dump(doc, "yaml") for doc in converted))
        return 0

    def completion(self) -> int:
        self.out.write(completion.script(self.args.shell))
        return 0


def _seconds(text: str, flag: str) -> float:
    try:
        value = parse_duration(text).total_seconds()
    except DurationError as exc:
        raise PluginError(f"error: {flag}: {exc}") from None
    if value <= 0:
        raise PluginError(f"error: {flag} must be positive")
    return value


def _computed_next(sj: ScheduledJob, now: datetime) -> datetime | None:
    try:
        slots = next_slots(sj, after=now, count=1)
    except SlotError:
        return None
    return slots[0].slot if slots else None


def _read_manifests(filename: str) -> list[dict[str, Any]]:
    try:
        text = sys.stdin.read() if filename == "-" else Path(filename).read_text()
        docs = [d for d in yaml.safe_load_all(text) if d]
    except OSError as exc:
        raise PluginError(f"error: cannot read {filename}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise PluginError(f"error: {filename} is not valid YAML: {exc}") from None
    out: list[dict[str, Any]] = []
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == "List":
            out += [i for i in doc.get("items") or [] if isinstance(i, dict)]
        elif isinstance(doc, dict):
            out.append(doc)
    cronjobs = [d for d in out if d.get("kind") == "CronJob"]
    if not cronjobs:
        raise PluginError(f"error: no CronJob found in {filename}")
    return cronjobs


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
        args = build_parser().parse_args(_count_flag(raw))
    except SystemExit as exc:  # --help (0) or a usage error (1), already printed
        return int(exc.code or 0)
    app = _App(args, out=out, err=err, now=now or datetime.now(UTC))
    verb = cast(Callable[[], int], getattr(app, args.verb))
    try:
        return verb()
    except PluginError as exc:
        out.flush()
        err.write(exc.message + "\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `kubectl sj history x | head`
        return 0
    finally:
        app.close()


if __name__ == "__main__":
    sys.exit(main())
