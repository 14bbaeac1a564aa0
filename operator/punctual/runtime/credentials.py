"""How to reach the API server: the official ``kubernetes`` client's config loaders (kubeconfig or in-cluster).

So the operator, kopf's login handler and the kubectl plugin agree on how to reach a cluster.
Reading configuration only: the calls are :mod:`punctual.runtime.kube`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ClusterUnreachable", "Credentials", "load_credentials"]


class ClusterUnreachable(Exception):
    """No API server answered at the configured address (or none is configured)."""


@dataclass(frozen=True)
class Credentials:
    """How to reach and authenticate to one API server."""

    server: str
    ca_path: str | None = None
    insecure: bool = False
    token: str | None = None
    cert_path: str | None = None
    key_path: str | None = None
    default_namespace: str = "default"


def load_credentials(kubeconfig: str | None = None, context: str | None = None) -> Credentials:
    """From a kubeconfig (explicit, $KUBECONFIG or ~/.kube/config), else the in-cluster service account."""
    from kubernetes import client, config

    cfg = client.Configuration()
    namespace = "default"
    try:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, context=context, client_configuration=cfg
        )
        try:
            contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
            chosen = next((c for c in contexts if c["name"] == context), active) if context else active
            namespace = (chosen or {}).get("context", {}).get("namespace") or "default"
        except Exception:  # the namespace is a convenience; the loader above already validated the file
            namespace = "default"
    except Exception as kube_error:
        if kubeconfig:
            raise ClusterUnreachable(f"cannot load kubeconfig {kubeconfig}: {kube_error}") from kube_error
        try:
            config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        except Exception as exc:
            raise ClusterUnreachable(
                "no Kubernetes configuration: set KUBECONFIG or PUNCTUAL_KUBECONFIG, or run in a cluster "
                f"({kube_error}; {exc})"
            ) from exc
    auth = (cfg.api_key or {}).get("authorization") or (cfg.api_key or {}).get("BearerToken")
    token = auth.split(" ", 1)[1] if auth and auth.lower().startswith("bearer ") else auth
    return Credentials(
        server=str(cfg.host).rstrip("/"),
        ca_path=cfg.ssl_ca_cert or None,
        insecure=not cfg.verify_ssl,
        token=token or None,
        cert_path=cfg.cert_file or None,
        key_path=cfg.key_file or None,
        default_namespace=namespace,
    )


