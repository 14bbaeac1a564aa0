"""kubectl_sj.kubeconfig reads the common kubeconfigs as kubernetes.config does, and hands it the rest.

Each case is read both ways (the plugin's reader and kubernetes.config through the fallback) and the
connections compared: server, namespace, TLS verification, Authorization header, and the contents of
the CA, client certificate and key files.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubectl_sj import kubeconfig


def b64(text: str) -> str:
    return base64.standard_b64encode(text.encode()).decode()


def config(
    clusters: dict[str, Any], users: dict[str, Any], contexts: dict[str, Any], current: str | None
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": c} for n, c in clusters.items()],
        "users": [{"name": n, "user": u} for n, u in users.items()],
        "contexts": [{"name": n, "context": c} for n, c in contexts.items()],
    }
    if current is not None:
        doc["current-context"] = current
    return doc


def content(path: str | None) -> str | None:
    return None if path is None else Path(path).read_text()


def view(conn: kubeconfig.Connection) -> dict[str, Any]:
    return {
        "host": conn.host,
        "namespace": conn.namespace,
        "verify_ssl": conn.verify_ssl,
        "authorization": conn.authorization(),
        "ca": content(conn.ca_file),
        "cert": content(conn.cert_file),
        "key": content(conn.key_file),
    }


def both(path: str, context: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    paths = [p for p in path.split(os.pathsep) if p]
    fast = kubeconfig._fast(paths, context)  # raises if it is not the common case
    try:
        return view(fast), view(kubeconfig._with_kubernetes_config(path, context))
    finally:
        fast.close()


def test_token_ca_data_and_client_certificate_data(tmp_path: Path) -> None:
    doc = config(
        {"prod": {"server": "https://10.0.0.1:6443/", "certificate-authority-data": b64("CA")}},
        {"admin": {"token": "s3cret", "client-certificate-data": b64("CERT"), "client-key-data": b64("KEY")}},
        {"prod": {"cluster": "prod", "user": "admin", "namespace": "team-a"}},
        "prod",
    )
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(doc))
    fast, reference = both(str(path), None)
    assert fast == reference
    assert fast["host"] == "https://10.0.0.1:6443" and fast["authorization"] == "Bearer s3cret"
    conn = kubeconfig.load(str(path), None)
    assert conn.key_file is not None and stat.S_IMODE(os.stat(conn.key_file).st_mode) == 0o600
    conn.close()
    assert not Path(conn.key_file).exists()


def test_merged_files_relative_paths_contexts_and_insecure(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "ca.crt").write_text("CA-A")
    (tmp_path / "b" / "client.crt").write_text("CERT-B")
    (tmp_path / "b" / "client.key").write_text("KEY-B")
    first = config(
        {"a": {"server": "https://a.example:443", "certificate-authority": "ca.crt"}},
        {"u": {"client-certificate": "../b/client.crt", "client-key": "../b/client.key"}},
        {"a": {"cluster": "a", "user": "u"}, "dup": {"cluster": "a", "user": "u", "namespace": "first"}},
        "a",
    )
    second = config(
        {"b": {"server": "https://b.example", "insecure-skip-tls-verify": True}, "a": {"server": "https://ignored"}},
        {"v": {"token": "t"}},
        {"b": {"cluster": "b", "user": "v", "namespace": "ns-b"}, "dup": {"cluster": "b", "user": "v"}},
        "b",  # the last current-context wins, as in kubernetes.config
    )
    (tmp_path / "a" / "config").write_text(yaml.safe_dump(first))
    (tmp_path / "b" / "config.json").write_text(json.dumps(second))
    path = os.pathsep.join([str(tmp_path / "a" / "config"), str(tmp_path / "b" / "config.json")])
    for context in (None, "a", "b", "dup"):
        fast, reference = both(path, context)
        assert fast == reference, context
    assert both(path, None)[0]["namespace"] == "ns-b"
    assert both(path, "dup")[0]["namespace"] == "first"
    assert both(path, "a")[0]["ca"] == "CA-A"


def test_exec_plugins_and_other_cases_go_to_kubernetes_config(tmp_path: Path) -> None:
    plugin = tmp_path / "credential.py"
    plugin.write_text(
        "import json\nprint(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1beta1', "
        "'kind': 'ExecCredential', 'status': {'token': 'from-exec'}}))\n"
    )
    exec_user = {
        "exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": sys.executable, "args": [str(plugin)]}
    }
    doc = config({"c": {"server": "http://127.0.0.1:1"}}, {"u": exec_user}, {"x": {"cluster": "c", "user": "u"}}, "x")
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(kubeconfig._Unusual):
        kubeconfig._fast([str(path)], None)
    assert kubeconfig.load(str(path), None).authorization() == "Bearer from-exec"


@pytest.mark.parametrize(
    "user",
    [{"tokenFile": "token"}, {"username": "u", "password": "p"}, {"client-certificate": "missing.crt"}],
    ids=["tokenFile", "basic", "missing-file"],
)
def test_unusual_users_are_read_by_kubernetes_config(tmp_path: Path, user: dict[str, Any]) -> None:
    (tmp_path / "token").write_text("from-file")
    doc = config({"c": {"server": "https://127.0.0.1:1"}}, {"u": user}, {"x": {"cluster": "c", "user": "u"}}, "x")
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(kubeconfig._Unusual):
        kubeconfig._fast([str(path)], None)
    if "missing.crt" in str(user):
        with pytest.raises(Exception, match="File does not exist"):
            kubeconfig.load(str(path), None)
    else:
        assert kubeconfig.load(str(path), None).authorization() in ("Bearer from-file", "Basic dTpw")
