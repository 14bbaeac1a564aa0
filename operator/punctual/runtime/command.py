"""``punctual run``: settings from the environment, logging, the operator, and one clear line on a bad start."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Mapping

from punctual.runtime.app import MetricsPortUnavailable, Operator
from punctual.runtime.kube import ClusterUnreachable, CrdMissing
from punctual.runtime.settings import Settings, SettingsError

__all__ = ["configure_logging", "run_operator"]

log = logging.getLogger("punctual")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload)


def configure_logging(settings: Settings) -> None:
    """Root logging in the chosen format; kopf's own chatter kept at WARNING."""
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    logging.getLogger("kopf").setLevel(max(logging.WARNING, logging.getLevelName(settings.log_level)))
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def run_operator(env: Mapping[str, str] | None = None) -> int:
    """``punctual run``: settings from the environment, clear errors on a bad start."""
    try:
        settings = Settings.from_env(env)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings)
    operator = Operator(settings)
    try:
        creds = operator._credentials()
    except ClusterUnreachable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    log.info(
        "Punctual starting against %s (namespaces: %s%s)",
        creds.server,
        ", ".join(settings.namespaces) or "all",
        f"; shard {settings.shard} of {settings.shards}" if settings.shards > 1 else "",
    )
    try:
        asyncio.run(operator.run())
    except ClusterUnreachable as exc:
        print(f"error: cannot reach the Kubernetes API at {creds.server}: {exc}", file=sys.stderr)
        return 1
    except (CrdMissing, MetricsPortUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0
