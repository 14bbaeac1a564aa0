"""The kubeconfig, read as ``kubernetes.config`` reads it, for one API connection (I/O: files).

``kubernetes.config`` costs about a third of a ``kubectl sj`` call to import (its loader imports
requests, requests-oauthlib and oauthlib for auth providers; docs/plugin.md has the figures). Most
kubeconfigs need none of that: a server, a CA (file or data) or ``insecure-skip-tls-verify``, and a
bearer token or a client certificate. :func:`load` reads those itself, with ``kubernetes.config``'s
rules (several files merged, the first of a name wins and the last ``current-context``; relative
paths against the file that names them; ``*-data`` before the file; certificates only for https).
Anything else (exec credential plugins, auth providers, ``tokenFile``, basic auth, ``proxy-url``,
``tls-server-name``, a missing file, a malformed config) goes to ``kubernetes.config`` itself, so
it works, and fails, exactly as it did.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Connection", "load"]

_CLUSTER_KEYS = frozenset({"server", "certificate-authority", "certificate-authority-data", "insecure-skip-tls-verify"})
_USER_KEYS = frozenset({"token", "client-certificate", "client-certificate-data", "client-key", "client-key-data"})


@dataclass
class Connection:
    """What a request needs: where, how to verify the server, and who we are."""

    host: str
    namespace: str
    verify_ssl: bool = True
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    tls_server_name: str | None = None
    proxy: str | None = None
    no_proxy: str | None = None
    proxy_headers: Any = None
    authorization: Callable[[], str | None] = lambda: None
    """The Authorization header (``Bearer ...``), asked per request (exec plugins refresh it)."""
    temp_dir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    def close(self) -> None:
        if self.temp_dir is not None:
            self.temp_dir.cleanup()


class _Unusual(Exception):
    """Not the common case: let kubernetes.config read it."""


def _parse(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text.lstrip().startswith("{"):
        try:
            doc = json.loads(text)  # much cheaper to load than YAML, and a kubeconfig may be JSON
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            return doc
    import yaml

    doc = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    if not isinstance(doc, dict):
        raise _Unusual
    return doc


def _named(entries: list[tuple[dict[str, Any], str]], name: object) -> tuple[dict[str, Any], str]:
    """The entry called ``name`` and the folder of the file that defined it."""
    found = [(item, base) for item, base in entries if item.get("name") == name]
    if len(found) != 1:
        raise _Unusual
    return found[0]


def _fast(paths: list[str], context: str | None) -> Connection:
    merged: dict[str, list[tuple[dict[str, Any], str]]] = {"clusters": [], "contexts": [], "users": []}
    current: object = None
    for path in paths:
        doc = _parse(path)
        base = os.path.abspath(os.path.dirname(path))
        for kind, entries in merged.items():
            items = doc.get(kind) or []
            if not isinstance(items, list) or not all(isinstance(i, dict) and "name" in i for i in items):
                raise _Unusual
            for item in items:
                if all(e.get("name") != item["name"] for e, _ in entries):
                    entries.append((item, base))
        if "current-context" in doc:
            current = doc["current-context"]
    name = context if context is not None else current
    if not isinstance(name, str) or not name:
        raise _Unusual
    ctx_entry, _ = _named(merged["contexts"], name)
    ctx = ctx_entry.get("context")
    if not isinstance(ctx, dict) or not isinstance(ctx.get("cluster"), str):
        raise _Unusual
    cluster_entry, cluster_base = _named(merged["clusters"], ctx["cluster"])
    cluster = cluster_entry.get("cluster")
    user: dict[str, Any] = {}
    if ctx.get("user") is not None:
        user_entry, _ = _named(merged["users"], ctx["user"])
        user = user_entry.get("user") or {}
    if not isinstance(cluster, dict) or not isinstance(user, dict):
        raise _Unusual
    if set(cluster) - _CLUSTER_KEYS or set(user) - _USER_KEYS:
        raise _Unusual
    server = cluster.get("server")
    insecure = cluster.get("insecure-skip-tls-verify", False)
    token = user.get("token")
    if not isinstance(server, str) or not server or not isinstance(insecure, bool):
        raise _Unusual
    if token is not None and (not isinstance(token, str) or not token):
        raise _Unusual
    namespace = ctx.get("namespace")
    conn = Connection(
        host=server.rstrip("/"),
        namespace=str(namespace or "default"),
        verify_ssl=not insecure,
    )
    if token:
        header = f"Bearer {token}"
        conn.authorization = lambda: header
    if conn.host.startswith("https"):
        # kubernetes.config reads the client certificate against the cluster's file too.
        try:
            conn.ca_file = _file_or_data(conn, cluster, "certificate-authority", cluster_base)
            conn.cert_file = _file_or_data(conn, user, "client-certificate", cluster_base)
            conn.key_file = _file_or_data(conn, user, "client-key", cluster_base)
        except BaseException:
            conn.close()
            raise
    return conn


def _file_or_data(conn: Connection, section: dict[str, Any], key: str, base: str) -> str | None:
    data, path = section.get(f"{key}-data"), section.get(key)
    if data:
        if not isinstance(data, str):
            raise _Unusual
        try:
            content = base64.standard_b64decode(data)
        except ValueError:
            raise _Unusual from None
        if conn.temp_dir is None:
            conn.temp_dir = tempfile.TemporaryDirectory(prefix="kubectl-sj-")
        fd, name = tempfile.mkstemp(dir=conn.temp_dir.name)  # mode 0600
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        return name
    if path:
        if not isinstance(path, str):
            raise _Unusual
        full = os.path.normpath(os.path.join(base, path))
        if not os.path.isfile(full):
            raise _Unusual  # kubernetes.config's "File does not exist" error
        return full
    return None


def _with_kubernetes_config(path: str, context: str | None) -> Connection:
    from kubectl_sj.kube_import import k8s, k8s_config

    configuration = type.__call__(k8s.Configuration)
    k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=path, context=context, client_configuration=configuration, persist_config=False
    )
    contexts, current = k8s_config.list_kube_config_contexts(config_file=path)  # type: ignore[no-untyped-call]
    chosen = current if context is None else next((c for c in contexts if c.get("name") == context), None)
    if chosen is None:
        from kubectl_sj.errors import PluginError

        raise PluginError(f'error: context "{context}" does not exist in the kubeconfig')

    def authorization() -> str | None:
        # auth_settings() runs the refresh hook (exec plugins, expiring provider tokens) first.
        setting = configuration.auth_settings().get("BearerToken")
        return str(setting["value"]) if setting and setting.get("value") else None

    return Connection(
        host=str(configuration.host),
        namespace=str((chosen.get("context") or {}).get("namespace") or "default"),
        verify_ssl=bool(configuration.verify_ssl),
        ca_file=configuration.ssl_ca_cert,
        cert_file=configuration.cert_file,
        key_file=configuration.key_file,
        tls_server_name=configuration.tls_server_name,
        proxy=configuration.proxy,
        no_proxy=configuration.no_proxy,
        proxy_headers=configuration.proxy_headers,
        authorization=authorization,
    )


def load(path: str, context: str | None) -> Connection:
    """The connection of ``context`` (else the current one) in ``path`` (``os.pathsep``-separated files).

    Raises what ``kubernetes.config`` raises for a config it cannot use (ConfigException, OSError,
    ...); the caller words it.
    """
    paths = [p for p in path.split(os.pathsep) if p and os.path.exists(p)]
    try:
        return _fast(paths, context)
    except Exception:  # unusual, unreadable or invalid: kubernetes.config reads it, or says why not
        return _with_kubernetes_config(path, context)
