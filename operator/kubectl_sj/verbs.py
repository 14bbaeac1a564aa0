"""The verbs of ``kubectl sj``: one method per verb, on the cluster the flags name (I/O shell).

:mod:`kubectl_sj.cli` parses the command line and imports this module only to run a verb, so that
``--help``, ``--version`` and ``completion`` never load the API client. A verb imports what only it
needs when it runs (the schedule code and the operator's models for ``next``, the run and log code
for ``run`` and ``logs``, YAML for ``convert``), so that ``list`` and ``history`` load neither
pydantic nor croniter; see docs/plugin.md for the start-up cost.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

from kubectl_sj import completion, format
from kubectl_sj.client import Cluster
from kubectl_sj.errors import PluginError
from kubectl_sj.objects import TYPE_NAME, ScheduledJob, status_model
from punctual.durations import DurationError, parse_duration

if TYPE_CHECKING:
    from punctual.core.run_request import RunOverrides

__all__ = ["run_verb"]


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
        from kubectl_sj.runs import dry_run_job, new_token, request_run

        a = self.args
        if a.dry_run not in ("none", "client"):
            raise PluginError(
                f'error: --dry-run must be "none" or "client", got "{a.dry_run}" '
                "(a server-side dry run of the request would create no Job to show)"
            )
        dry_run = a.dry_run == "client"
        if a.output and not dry_run:
            raise PluginError("error: --output needs --dry-run=client (a run request prints the Job it got)")
        if dry_run and (a.wait or a.follow):
            raise PluginError("error: --dry-run runs nothing to --wait for")
        timeout = _seconds(a.timeout, "--timeout") if a.timeout else None
        token = new_token()
        overrides = _run_overrides(a, token=token)  # checked before anything is sent
        if dry_run:
            manifest = dry_run_job(self.fetch(a.name), overrides, token=token, now=self.now)
            self.out.write(format.dump(manifest, a.output or "yaml"))
            return 0
        return request_run(
            self.cluster,
            self.namespace,
            a.name,
            out=self.out,
            err=self.err,
            wait=a.wait,
            follow=a.follow,
            timeout=timeout,
            token=token,
            overrides=overrides,
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
            # Only where the operator has not written nextScheduleTime yet: computing it loads the
            # schedule code and the operator's models, which a listing otherwise does without.
            computed = {
                sj.key: _computed_next(sj, self.now)
                for sj in items
                if not sj.suspended and sj.status.nextScheduleTime is None
            }
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
            # The records as the operator's model prints them (the one place the plugin dumps a model).
            models = status_model(sj.body.get("status")).history
            limited = models[: a.limit] if a.limit is not None else models
            self.out.write(format.dump([r.model_dump(mode="json", exclude_none=True) for r in limited], a.output))
        elif not records and not sj.status.retries:
            self.err.write(f"No runs recorded for {TYPE_NAME}/{sj.name} yet.\n")
        else:
            retry = sj.raw_spec.get("retry")
            limit = retry.get("limit", 3) if isinstance(retry, dict) else None
            self.out.write(
                format.history_table(
                    records,
                    zone=sj.time_zone,
                    now=self.now,
                    wide=a.output == "wide",
                    limit=a.limit,
                    retries=sj.status.retries,
                    attempts=limit + 1 if isinstance(limit, int) else None,
                )
            )
        return 0

    def next(self) -> int:
        from kubectl_sj.slots import SlotError, next_slots, parse_from

        a = self.args
        if a.count < 1:
            raise PluginError("error: the count must be at least 1")
        sj = self.fetch(a.name)
        try:
            after = parse_from(a.from_, zone=sj.time_zone) if a.from_ else self.now
            wide = a.output == "wide"
            uses = sj.spec is not None and bool(sj.spec.calendars)
            calendars = self.cluster.list_calendars(sj.namespace) if uses else None
            slots = next_slots(sj, after=after, count=a.count, calendars=calendars, excluded=wide)
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
            self.err.write(f"{TYPE_NAME}/{sj.name} {_no_slot(sj, self.now, calendars)}.\n")
        else:
            self.out.write(format.next_table(slots, now=self.now, wide=wide))
        return 0

    def tree(self) -> int:
        from kubectl_sj.tree import pipeline_tree

        name = self.args.name
        items = self.cluster.list_scheduled_jobs(self.namespace)
        if not any(sj.name == name for sj in items):
            self.fetch(name)  # the API's own not-found error, as every other verb reports it
        self.out.write(pipeline_tree(name, items))
        return 0

    def _suspend(self, value: bool) -> int:
        """``suspend``/``resume`` NAME..., ``-l SELECTOR`` or ``--all`` (with ``-n``/``-A``).

        One line per object; objects already in that state are not patched. A bulk request goes on
        past an object it cannot change (the error on stderr), prints a summary, and exits 1 if any
        failed.
        """
        a = self.args
        done = "suspended" if value else "resumed"
        bulk = bool(a.selector or a.all)
        if bulk and a.names:
            raise PluginError("error: name cannot be provided when a selector or --all is specified")
        if not bulk and not a.names:
            raise PluginError(f"error: give a NAME, -l SELECTOR or --all (see 'kubectl sj {a.verb} --help')")
        if self.all_namespaces and not bulk:
            raise PluginError("error: -A/--all-namespaces needs -l SELECTOR or --all")
        if bulk:
            items = self.cluster.list_scheduled_jobs(
                None if self.all_namespaces else self.namespace, label_selector=a.selector
            )
            if not items:
                where = "" if self.all_namespaces else f" in {self.namespace} namespace"
                self.err.write(f"No resources found{where}.\n")
                return 0
        else:
            items = [self.fetch(name) for name in dict.fromkeys(a.names)]  # a clear NotFound first
        changed = unchanged = failed = 0
        for sj in items:
            what = f"{TYPE_NAME}/{sj.name}"
            where = f" (namespace {sj.namespace})" if self.all_namespaces else ""
            paused = not value and sj.status.pause is not None
            if sj.suspended == value and not paused:
                unchanged += 1
                self.out.write(f"{TYPE_NAME}/{sj.name} already {done}{where}\n")
                continue
            patch: dict[str, Any] = {}
            if sj.suspended != value:
                patch["spec"] = {"suspend": value}
            if paused:
                # Paused after failures: the operator lifts it on a new resume token (it never
                # writes the spec, so there is nothing in the spec to undo).
                from kubectl_sj.runs import new_token
                from punctual.jobs import ANNOTATION_RESUME_REQUEST

                patch["metadata"] = {"annotations": {ANNOTATION_RESUME_REQUEST: new_token()}}
            try:
                self.cluster.patch_scheduled_job(sj.namespace, sj.name, patch)
            except PluginError as exc:
                if len(items) == 1:
                    raise
                failed += 1
                self.out.flush()
                self.err.write(f"{exc.message} [{what}{where}]\n")
                continue
            changed += 1
            note = f" (was paused after {sj.status.pause.failures} failed runs)" if paused and sj.status.pause else ""
            self.out.write(f"{what} {done}{note}{where}\n")
        if len(items) > 1:
            summary = f"{changed} {done}, {unchanged} already {done}"
            self.out.write(summary + (f", {failed} failed\n" if failed else "\n"))
        return 1 if failed else 0

    def suspend(self) -> int:
        return self._suspend(True)

    def resume(self) -> int:
        return self._suspend(False)

    def logs(self) -> int:
        from kubectl_sj.runs import job_pods, pick_container, runs_of, stream_logs
        from punctual.jobs import LABEL_SCHEDULED_JOB, label_value

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

    def backfill(self) -> int:
        from kubectl_sj import backfill

        a = self.args
        ranged = a.from_ is not None or a.to is not None
        if a.cancel is not None:
            if ranged or a.dry_run or a.wait:
                raise PluginError("error: --cancel takes no --from, --to, --dry-run or --wait")
            return backfill.cancel_backfill(self.cluster, self.fetch(a.name), token=a.cancel or None, out=self.out)
        if not ranged:
            if a.dry_run or a.wait:
                raise PluginError("error: give the range: --from TIME --to TIME")
            return backfill.show_backfills(self.fetch(a.name), out=self.out, err=self.err)
        if a.from_ is None or a.to is None:
            raise PluginError("error: give both --from and --to")
        timeout = _seconds(a.timeout, "--timeout") if a.timeout else None
        from kubectl_sj.slots import parse_time_flag  # croniter: only with a range

        sj = self.fetch(a.name)
        start = parse_time_flag(a.from_, flag="--from", zone=sj.time_zone)
        end = parse_time_flag(a.to, flag="--to", zone=sj.time_zone)
        return backfill.request_backfill(
            self.cluster,
            sj,
            start=start,
            end=end,
            parallel=a.parallel,
            dry_run=a.dry_run,
            wait=a.wait,
            timeout=timeout,
            now=self.now,
            out=self.out,
        )

    def convert(self) -> int:
        from kubectl_sj.convert import ConvertError, convert_cronjob

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

    def ui(self) -> int:
        from kubectl_sj.ui.server import UiSettings, in_cluster_connection, serve

        a = self.args
        if a.in_cluster:
            self._cluster = Cluster.from_connection(in_cluster_connection())
        # As kubectl: the context's namespace unless -n names one; -A shows all namespaces.
        namespace = None if self.all_namespaces else self.namespace
        context = "in-cluster" if a.in_cluster else (getattr(a, "context", None) or "current context")
        context = f"{context} · {self.cluster.host}"
        loopback = a.address in ("127.0.0.1", "localhost", "::1")
        settings = UiSettings(default_namespace=namespace, context=context, loopback_only=loopback)

        def announce(url: str) -> None:
            self.out.write(f"Punctual UI at {url} (Ctrl-C to stop)\n")
            self.out.flush()
            if a.open:
                import webbrowser

                webbrowser.open(url)

        serve(self.cluster, settings, address=a.address, port=a.port, announce=announce)
        return 0

    def completion(self) -> int:
        self.out.write(completion.script(self.args.shell))
        return 0


def _run_overrides(a: argparse.Namespace, *, token: str) -> RunOverrides | None:
    """The overrides of ``kubectl sj run``'s flags (None: none), or PluginError naming the bad flag."""
    from punctual.core.run_request import OverridesError, RunOverrides, check_arg, check_env_name, check_image

    env: dict[str, str] = {}
    for item in a.env:
        name, sep, value = item.partition("=")
        if not sep:
            raise PluginError(f"error: --env {item!r}: expected NAME=VALUE")
        try:
            check_env_name(name)
        except OverridesError as exc:
            raise PluginError(f"error: --env {item!r}: {exc}") from None
        env.pop(name, None)  # the last --env of a name wins, in its place
        env[name] = value
    for arg in a.arg or ():
        try:
            check_arg(arg)
        except OverridesError as exc:
            raise PluginError(f"error: --arg {arg!r}: {exc}") from None
    if a.image is not None:
        try:
            check_image(a.image)
        except OverridesError as exc:
            raise PluginError(f"error: --image: {exc}") from None
    if not env and a.arg is None and a.image is None:
        if a.container is not None:
            raise PluginError("error: --container needs --env, --arg or --image")
        return None
    if a.container is not None and not a.container:
        raise PluginError("error: --container must name a container")
    return RunOverrides(
        token=token,
        env=tuple(env.items()),
        args=tuple(a.arg) if a.arg is not None else None,
        image=a.image,
        container=a.container,
    )


def _seconds(text: str, flag: str) -> float:
    try:
        value = parse_duration(text).total_seconds()
    except DurationError as exc:
        raise PluginError(f"error: {flag}: {exc}") from None
    if value <= 0:
        raise PluginError(f"error: {flag} must be positive")
    return value


def _computed_next(sj: ScheduledJob, now: datetime) -> datetime | None:
    from kubectl_sj.slots import SlotError, next_slots

    try:
        slots = next_slots(sj, after=now, count=1)
    except SlotError:
        return None
    return slots[0].slot if slots else None


def _read_manifests(filename: str) -> list[dict[str, Any]]:
    import yaml

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


def _no_slot(sj: ScheduledJob, now: datetime, calendars: Mapping[str, Sequence[str] | None] | None = None) -> str:
    """Why ``next`` lists nothing: a missing Calendar, the window (spec.notAfter) or nothing within five years."""
    from punctual.api import format_time, parse_time
    from punctual.core.exclusions import exclusions_of

    if sj.spec is not None and sj.spec.calendars:
        problem = exclusions_of(sj.spec.model_copy(update={"exclude": None}), calendars).problem
        if problem is not None:
            return f"runs no slot: {problem[1].replace(': no scheduled slot runs', ' (no scheduled slot runs')})"

    not_after = sj.raw_spec.get("notAfter")
    try:
        end = parse_time(str(not_after)) if not_after else None
    except ValueError:
        end = None
    if end is None:
        return "has no slot in the next 5 years"
    if end < now:
        return f"has ended: spec.notAfter {format_time(end)} has passed"
    return f"has no slot left before spec.notAfter {format_time(end)}"


def run_verb(args: argparse.Namespace, *, out: TextIO, err: TextIO, now: datetime) -> int:
    """Run the parsed verb; errors become one line on ``err`` and exit code 1."""
    app = _App(args, out=out, err=err, now=now)
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
