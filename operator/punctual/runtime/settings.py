"""Operator settings from ``PUNCTUAL_*`` environment variables: one model, validated at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from punctual.jobs import BUCKETS
from punctual.schedule import ScheduleError, load_zone

__all__ = ["Settings", "SettingsError"]


class SettingsError(ValueError):
    """A bad ``PUNCTUAL_*`` variable; the message names it."""


class Settings(BaseModel):
    """Everything ``punctual run`` can be told. Field ``x`` comes from ``PUNCTUAL_X``."""

    model_config = ConfigDict(frozen=True)

    namespaces: tuple[str, ...] = Field(default=(), description="Namespaces to watch; empty: all.")
    metrics_host: str = "0.0.0.0"
    metrics_port: int = Field(default=8080, ge=0, le=65535, description="Metrics, /healthz, /readyz; 0: any.")
    log_format: Literal["json", "text"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    default_time_zone: str = "UTC"
    lease_name: str = Field(
        default="",
        description="Leader election Lease (coordination.k8s.io/v1); empty: no election, this process leads.",
    )
    lease_namespace: str | None = Field(default=None, description="The Lease's namespace; default: the credentials'.")
    lease_duration: int = Field(default=15, ge=1, le=3600, description="Seconds a standby waits on a silent leader.")
    renew_deadline: float = Field(
        default=10, gt=0, description="Seconds of failed renewals before the leader steps down."
    )
    retry_period: float = Field(default=2, gt=0, description="Seconds between tries to acquire or renew the Lease.")
    pod_name: str | None = None
    kubeconfig: str | None = Field(default=None, description="Path; default: in-cluster or ~/.kube/config.")
    context: str | None = None
    workers: int = Field(default=32, ge=1, le=1024, description="Concurrent reconciles.")
    watch_timeout: int = Field(default=300, ge=1, description="Seconds per watch request.")
    status_delay: float = Field(
        default=1.0,
        ge=0,
        le=30,
        description="Seconds to gather status changes into one write (a quick run's start and end); 0: write at once.",
    )

    shards: int = Field(
        default=1,
        ge=1,
        le=BUCKETS,
        description="Operator processes splitting the ScheduledJobs by the bucket of namespace/name (at most 256).",
    )
    shard: int = Field(default=0, ge=0, description="This process's shard, 0 to shards-1.")

    metrics_max_objects: int | None = Field(
        default=None,
        ge=0,
        description="Most ScheduledJobs with per-object metric series (about 10 KB each); none: no cap.",
    )

    event_burst: int = Field(
        default=25,
        ge=0,
        description="Normal Events a ScheduledJob may post at once (client-go's spam filter); no budget for Warnings.",
    )
    event_refill_seconds: float = Field(
        default=300, gt=0, description="Seconds for one more Normal Event of a ScheduledJob after the burst."
    )

    @field_validator("default_time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            load_zone(value)
        except ScheduleError as exc:
            raise ValueError(str(exc)) from exc
        return value

    @field_validator("shard")
    @classmethod
    def _shard_in_range(cls, value: int, info: ValidationInfo) -> int:
        shards = info.data.get("shards")
        if isinstance(shards, int) and value >= shards:
            raise ValueError(f"shard {value} is not below PUNCTUAL_SHARDS ({shards}); shards are numbered from 0")
        return value

    @model_validator(mode="after")
    def _election_timings(self) -> Settings:
        if not self.lease_duration > self.renew_deadline > self.retry_period:
            raise ValueError(
                f"leader election needs PUNCTUAL_LEASE_DURATION ({self.lease_duration}) > PUNCTUAL_RENEW_DEADLINE "
                f"({self.renew_deadline:g}) > PUNCTUAL_RETRY_PERIOD ({self.retry_period:g})"
            )
        return self

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the ``PUNCTUAL_*`` variables (empty values count as unset)."""
        source = os.environ if env is None else env
        values: dict[str, object] = {}
        for name in cls.model_fields:
            raw = source.get(f"PUNCTUAL_{name.upper()}", "").strip()
            if not raw:
                continue
            if name == "namespaces":
                values[name] = tuple(n.strip() for n in raw.split(",") if n.strip())
            elif name in ("log_format",):
                values[name] = raw.lower()
            elif name in ("log_level",):
                values[name] = raw.upper()
            else:
                values[name] = raw
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(
                f"PUNCTUAL_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" if e["loc"] else e["msg"]
                for e in exc.errors()
            )
            raise SettingsError(problems) from exc
