"""`insecure-skip-tls-verify: true`: the plugin talks TLS without verifying and, like kubectl, says
nothing about it (urllib3 printed InsecureRequestWarning twice per request). Against the emulator
behind a TLS forwarder with a self-signed certificate made by openssl.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import ssl
import subprocess
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3
from plugin_helpers import Sj, scheduled_job

from kube_emulator import Emulator


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def tls_url(emulator: Emulator, tmp_path: Path) -> Iterator[str]:
    """https://127.0.0.1:PORT, forwarding each TLS connection to the emulator's plain HTTP port."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is missing")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=punctual-test",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    upstream = urllib3.util.parse_url(emulator.url)
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except OSError:
                return
            try:
                client = context.wrap_socket(raw, server_side=True)
            except (OSError, ssl.SSLError):
                raw.close()
                continue
            backend = socket.create_connection((upstream.host, upstream.port))
            for a, b in ((client, backend), (backend, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    listener.close()


def insecure_kubeconfig(path: Path, server: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u", "namespace": "default"}}],
        "current-context": "x",
    }
    path.write_text(json.dumps(config))
    return path


def test_insecure_kubeconfig_prints_no_tls_warning(
    emulator: Emulator, kubectl: str, tls_url: str, tmp_path: Path
) -> None:
    emulator.create(scheduled_job("heartbeat", schedule="*/5 * * * *"))
    sj = Sj(kubectl, insecure_kubeconfig(tmp_path / "insecure", tls_url))

    result = sj("list")

    assert result.returncode == 0, result.stderr
    assert "heartbeat" in result.stdout
    assert result.stderr == ""  # before: two InsecureRequestWarning lines per request


def test_only_that_warning_and_only_for_an_insecure_kubeconfig(tls_url: str, tmp_path: Path) -> None:
    from kubectl_sj.client import Cluster

    with warnings.catch_warnings():
        warnings.resetwarnings()
        Cluster.connect(kubeconfig=str(insecure_kubeconfig(tmp_path / "insecure", tls_url))).close()
        ignored = [f for f in warnings.filters if f[0] == "ignore"]
        assert [f[2] for f in ignored] == [urllib3.exceptions.InsecureRequestWarning]
    with warnings.catch_warnings():
        warnings.resetwarnings()
        secure = tmp_path / "secure"
        secure.write_text(
            insecure_kubeconfig(tmp_path / "x", tls_url).read_text().replace(', "insecure-skip-tls-verify": true', "")
        )
        Cluster.connect(kubeconfig=str(secure)).close()
        assert [f for f in warnings.filters if f[0] == "ignore"] == []
