"""What the real-server tests share: installing the CRD and the chart's RBAC, running the operator
as a process with the chart's ServiceAccount, and reading ScheduledJobs, Jobs and Pods back."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from punctual_realserver import RealServer, free_port
from punctual_testing import CALENDAR_CRD_PATH, CRD_PATH, REPO_ROOT, wait_for

__all__ = [
    "OPERATOR_NAMESPACE",
    "RELEASE",
    "Installation",
    "OperatorFactory",
    "OperatorProcess",
    "apply_in",
    "bad_cases",
    "condition",
    "events_of",
    "history",
    "install",
    "jobs_of",
    "kubectl_sj",
    "parse_time",
    "pods_of",
    "render_chart",
    "scheduled_job",
    "sj",
    "slots_of",
]

Body = dict[str, Any]
RELEASE = "punctual"
OPERATOR_NAMESPACE = "punctual-system"
CHART = REPO_ROOT / "charts" / "punctual"
# A 403 status, not the milliseconds of a log line's timestamp ("19:38:19,403 WARNING ...").
_FORBIDDEN = re.compile(r"(?<![,.:])\b403\b|[Ff]orbidden")
# The operator's line for a Job create a just-started API server refused (RBAC, or the owner-reference
# admission plugin before discovery found the ScheduledJob kind) and retried (reconcile.RBAC_GRACE).
_RBAC_WARMUP = "until its RBAC and discovery caches are filled"
# kopf's line for its ScheduledJob watch refused meanwhile and tried again (KOPF_ERROR_BACKOFFS).
_KOPF_RETRY = re.compile(r"Request attempt #\d+/\d+ failed; will retry: .* APIForbiddenError")
# The operator's own watches (Jobs, Pods, Calendars) refused meanwhile and retried.
_WATCH_RETRY = re.compile(r"^\S+ \S+ WARNING punctual\.kube: watching \S+: 403 Forbidden: .*; retrying in \d+ s$")


_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def log_line_time(line: str) -> float | None:
    """The wall time of an operator log line (text format, local time), None for a line without one."""
    found = _LOG_TIME.match(line)
    return datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp() if found else None


def warmup_refusals(log: str) -> list[float]:
    """When the operator logged a Job create refused by a just-started API server (and retried)."""
    return [at for line in log.splitlines() if _RBAC_WARMUP in line and (at := log_line_time(line)) is not None]


def _retried_watch_at(line: str) -> float | None:
    """The wall time of an operator log line saying a watch was refused and will be retried."""
    return log_line_time(line) if _WATCH_RETRY.match(line) else None


def helm_binary() -> str:
    found = shutil.which("helm") or str(REPO_ROOT / ".tools" / "bin" / "helm")
    return found


def render_chart(*args: str) -> list[Body]:
    """``helm template`` of the chart (release RELEASE in OPERATOR_NAMESPACE) as parsed objects."""
    done = subprocess.run(
        [helm_binary(), "template", RELEASE, str(CHART), "--namespace", OPERATOR_NAMESPACE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"helm template: {done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@dataclass
class Installation:
    server: RealServer
    operator_kubeconfig: Path
    service_account: str
    rbac: list[Body]


def install(server: RealServer) -> Installation:
    """The CRD (``kubectl apply``, then Established) and the chart's ServiceAccount, ClusterRole and
    ClusterRoleBinding as helm renders them; the operator's kubeconfig is its ServiceAccount's."""
    server.kubectl("apply", "-f", str(CRD_PATH), "-f", str(CALENDAR_CRD_PATH))
    for crd in ("crd/scheduledjobs.punctual.dev", "crd/calendars.punctual.dev"):
        server.kubectl("wait", "--for=condition=Established", crd, "--timeout=60s")
    server.kubectl("create", "namespace", OPERATOR_NAMESPACE)
    kinds = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
    # The tests' operators watch their own namespace (PUNCTUAL_NAMESPACES), as a release with
    # watchNamespaces does: render it so (kopf then lists and watches namespaces).
    objects = [doc for doc in render_chart("--set", "watchNamespaces={rs-tests}") if doc.get("kind") in kinds]
    server.apply(objects)
    account = next(doc for doc in objects if doc["kind"] == "ServiceAccount")["metadata"]["name"]
    kubeconfig = server.service_account_kubeconfig(OPERATOR_NAMESPACE, account)
    return Installation(server=server, operator_kubeconfig=kubeconfig, service_account=account, rbac=objects)


@dataclass
class OperatorProcess:
    """``punctual run`` as its own process (so it can be SIGKILLed), logging in text to a file."""

    argv: list[str]
    env: dict[str, str]
    log_path: Path
    metrics_port: int
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self, *, ready_timeout: float = 60.0) -> OperatorProcess:
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts + 1} at {datetime.now(UTC).isoformat()}\n".encode())
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1
        self.wait_ready(ready_timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"the operator exited {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/readyz", timeout=2) as reply:
                    return bool(reply.status == 200)
            except OSError:
                return False

        wait_for(ready, timeout, interval=0.2, what="the operator's /readyz")

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as reply:
            text: str = reply.read().decode()
            return text

    def kill(self, sig: int = signal.SIGKILL) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> int | None:
        """SIGTERM (a clean shutdown) and its exit code, or None if it was not running."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            self.proc = None
            return None if proc is None else proc.returncode
        self.kill(signal.SIGTERM)
        return proc.returncode

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


@dataclass
class OperatorFactory:
    """Makes operator processes for one test's namespace, all with the chart's ServiceAccount."""

    installation: Installation
    namespace: str
    workdir: Path
    made: list[OperatorProcess] = field(default_factory=list)
    rbac_warmup: bool = False
    """The test restarts kube-apiserver: RBAC refusals the operator retried (RBAC_GRACE) are expected."""
    rbac_warmup_until: float = 0.0
    """With ``rbac_warmup``: the wall time until which a watch the restarted API server refused (and
    the operator retried) is expected; one later is an RBAC gap."""

    def __call__(self, *, start: bool = True, **settings: str) -> OperatorProcess:
        punctual = shutil.which("punctual") or str(REPO_ROOT / ".venv" / "bin" / "punctual")
        port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PUNCTUAL_", "KUBECONFIG"))},
            "PUNCTUAL_KUBECONFIG": str(self.installation.operator_kubeconfig),
            "PUNCTUAL_NAMESPACES": self.namespace,
            "PUNCTUAL_METRICS_HOST": "127.0.0.1",
            "PUNCTUAL_METRICS_PORT": str(port),
            "PUNCTUAL_LOG_FORMAT": "text",
            "PUNCTUAL_WATCH_TIMEOUT": "30",
            "PUNCTUAL_STATUS_DELAY": "0.2",
            **{f"PUNCTUAL_{k.upper()}": v for k, v in settings.items()},
        }
        process = OperatorProcess(
            argv=[punctual, "run"],
            env=env,
            log_path=self.workdir / f"operator-{len(self.made)}.log",
            metrics_port=port,
        )
        self.made.append(process)
        return process.start() if start else process

    def stop_all(self) -> None:
        for process in self.made:
            process.stop()

    def _warming_up(self, line: str) -> bool:
        if not self.rbac_warmup:
            return False
        if _RBAC_WARMUP in line or _KOPF_RETRY.search(line):
            return True
        at = _retried_watch_at(line)
        return at is not None and at <= self.rbac_warmup_until

    def check_logs(self) -> None:
        for process in self.made:
            lines = process.log().splitlines()
            bad = [line for line in lines if _FORBIDDEN.search(line) and not self._warming_up(line)]
            assert not bad, "the operator was refused by RBAC:\n" + "\n".join(bad[:10])


# -- reading the world back --------------------------------------------------------------------------


def scheduled_job(name: str, schedule: str | None, *, duration: str = "1s", exit_code: int = 0, **spec: Any) -> Body:
    """A ScheduledJob whose Jobs the stand-in kubelet runs for ``duration`` with ``exit_code``."""
    body: Body = {
        "apiVersion": "punctual.dev/v1",
        "kind": "ScheduledJob",
        "metadata": {"name": name},
        "spec": {
            "jobTemplate": {
                "spec": {
                    "backoffLimit": 0,
                    "template": {
                        "metadata": {
                            "annotations": {
                                "punctual.dev/sandbox-duration": duration,
                                "punctual.dev/sandbox-exit-code": str(exit_code),
                            }
                        },
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "main", "image": "busybox:1.36", "command": ["true"]}],
                        },
                    },
                }
            },
            **spec,
        },
    }
    if schedule is not None:
        body["spec"]["schedule"] = schedule
    return body


def sj(server: RealServer, namespace: str, name: str) -> Body:
    found: Body = server.get_json("scheduledjob", name, "-n", namespace)
    return found


def history(server: RealServer, namespace: str, name: str) -> list[Body]:
    return list((sj(server, namespace, name).get("status") or {}).get("history") or [])


def condition(server: RealServer, namespace: str, name: str, type_: str) -> Body | None:
    for cond in (sj(server, namespace, name).get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            found: Body = cond
            return found
    return None


def jobs_of(server: RealServer, namespace: str, name: str) -> list[Body]:
    listed = server.get_json("jobs", "-n", namespace, "-l", f"punctual.dev/scheduledjob={name}")
    items: list[Body] = listed["items"]
    return items


def pods_of(server: RealServer, namespace: str) -> list[Body]:
    items: list[Body] = server.get_json("pods", "-n", namespace)["items"]
    return items


def events_of(server: RealServer, namespace: str, name: str) -> list[Body]:
    listed = server.get_json("events", "-n", namespace, "--field-selector", f"involvedObject.name={name}")
    items: list[Body] = listed["items"]
    return items


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def slots_of(jobs: list[Body]) -> list[str]:
    """The scheduled-time annotation of each Job (what makes a run a slot's)."""
    return [j["metadata"]["annotations"]["punctual.dev/scheduled-time"] for j in jobs]


def apply_in(server: RealServer, namespace: str, body: Body) -> None:
    """``kubectl apply`` of ``body`` (a manifest without a namespace, as scheduled_job makes) into
    ``namespace``."""
    server.apply(body | {"metadata": {**body["metadata"], "namespace": namespace}})


def kubectl_sj(
    server: RealServer, *args: str, kubeconfig: Path | None = None, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """``kubectl sj ARGS`` as a user runs it: the real kubectl finds the venv's ``kubectl-sj`` on PATH,
    and both read the admin kubeconfig from ``KUBECONFIG`` (or ``--kubeconfig`` when given)."""
    kubectl = shutil.which("kubectl") or "kubectl"
    venv_bin = str(Path(sys.executable).parent)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PUNCTUAL_", "KUBECONFIG"))},
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "KUBECONFIG": str(server.admin_kubeconfig),
    }
    flags = ["--kubeconfig", str(kubeconfig)] if kubeconfig is not None else []
    return subprocess.run(
        [kubectl, "sj", *args, *flags], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def bad_cases() -> ModuleType:
    """tests/badinput/bad_cases.py (the bad-spec case lists), importable from this folder too: pytest
    puts only the folder of a collected test on sys.path, and the two tiers share the one list."""
    if "bad_cases" in sys.modules:
        return sys.modules["bad_cases"]
    spec = importlib.util.spec_from_file_location("bad_cases", REPO_ROOT / "tests" / "badinput" / "bad_cases.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bad_cases"] = module
    spec.loader.exec_module(module)
    return module
