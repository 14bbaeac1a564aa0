"""A run on demand's overrides: the ``punctual.dev/run-overrides`` annotation's JSON, and applying it. Pure.

``kubectl sj run NAME --env K=V --arg A --image I [--container C]`` writes, in one merge patch, the
run request ``punctual.dev/run-requested-at: <token>`` and ``punctual.dev/run-overrides``: compact
JSON with the same token, ``{"token":"…","env":{"K":"V"},"args":["A"],"image":"I","container":"C"}``
(:func:`encode`). The operator's core reads it with :func:`parse` and applies the overrides only to
the run of that token; a value that does not parse, or another request's, refuses the request
(reason ``InvalidRunOverrides``), so a run never starts with overrides the user did not ask for, nor
without those they did. From then on the overrides travel as the :class:`punctual.api.Overrides`
record (the history record, a queued slot, the Job's own annotation): :func:`apply_overrides`
changes a Job manifest by it, the same code for the operator and ``kubectl sj run --dry-run``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from punctual.api import Overrides
from punctual.bodies import Container, EnvVar, Job, JobSpec, copy_json
from punctual.jobs import ANNOTATION_RUN_OVERRIDES, RESERVED_ENV

__all__ = [
    "INVALID_RUN_OVERRIDES",
    "OverridesError",
    "RunOverrides",
    "apply_overrides",
    "check_arg",
    "check_env_name",
    "check_image",
    "encode",
    "parse",
    "requested",
]

INVALID_RUN_OVERRIDES = "InvalidRunOverrides"
"""The reason (Event, history record) of a run request refused for its overrides."""

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEYS = ("token", "env", "args", "image", "container")


class OverridesError(ValueError):
    """Overrides that cannot be applied; the message says what is wrong, for the user."""


@dataclass(frozen=True)
class RunOverrides:
    """What one run request overrides: env vars added or replaced, the args, the image; in one container or all."""

    token: str
    env: tuple[tuple[str, str], ...] = ()
    args: tuple[str, ...] | None = None
    image: str | None = None
    container: str | None = None

    def record(self) -> Overrides:
        """The overrides as the status and the Job record them (env as NAME=value)."""
        return Overrides(
            env=[f"{k}={v}" for k, v in self.env] or None,
            args=list(self.args) if self.args is not None else None,
            image=self.image,
            container=self.container,
        )


def check_env_name(name: str) -> None:
    """An env var name --env may set: a C identifier, and not one of the variables Punctual sets."""
    if not _ENV_NAME.fullmatch(name):
        raise OverridesError(f"env name {name!r} must be a C identifier (letters, digits and _, not first a digit)")
    if name in RESERVED_ENV:
        raise OverridesError(f"env {name} is set by Punctual for every run; choose another name")


def check_arg(arg: str) -> None:
    """An argument --arg may set: not empty.

    The history record keeps the args in the ScheduledJob's status, and kube-apiserver 1.20 built
    with Go >= 1.16 reads an empty string there as null and refuses the whole status write
    (kubernetes#99804): one empty arg would stop every later status write of the ScheduledJob.
    """
    if arg == "":
        raise OverridesError("an argument must not be empty (the run's record could not be written to its status)")


def check_image(image: str) -> None:
    """A non-empty image reference without whitespace."""
    if not image or image != image.strip() or any(c.isspace() for c in image):
        raise OverridesError(f"image {image!r} must be a non-empty image reference without spaces")


def encode(overrides: RunOverrides) -> str:
    """The annotation value (what the plugin writes and :func:`parse` reads): compact JSON, absent fields left out."""
    raw: dict[str, Any] = {"token": overrides.token}
    if overrides.env:
        raw["env"] = dict(overrides.env)
    if overrides.args is not None:
        raw["args"] = list(overrides.args)
    if overrides.image is not None:
        raw["image"] = overrides.image
    if overrides.container is not None:
        raw["container"] = overrides.container
    return json.dumps(raw, separators=(",", ":"), ensure_ascii=False)


def parse(text: str) -> RunOverrides:
    """The overrides of an annotation value, or OverridesError saying what is wrong with it."""
    try:
        raw = json.loads(text)
    except ValueError:
        raw = None
    if not isinstance(raw, dict):
        raise OverridesError('the run overrides are not a JSON object {"token", "env", "args", "image", "container"}')
    unknown = sorted(k for k in raw if k not in _KEYS)
    if unknown:
        raise OverridesError(f"the run overrides have unknown fields: {', '.join(unknown)}")
    token = raw.get("token")
    if not isinstance(token, str) or not token:
        raise OverridesError("the run overrides have no token")
    env_raw = raw.get("env", {})
    if not isinstance(env_raw, dict) or not all(isinstance(v, str) for v in env_raw.values()):
        raise OverridesError("the run overrides' env must be an object of names to string values")
    for name in env_raw:
        check_env_name(name)
    args = raw.get("args")
    if args is not None and (not isinstance(args, list) or not all(isinstance(a, str) for a in args)):
        raise OverridesError("the run overrides' args must be a list of strings")
    for arg in args or ():
        check_arg(arg)
    image = raw.get("image")
    if image is not None:
        if not isinstance(image, str):
            raise OverridesError("the run overrides' image must be a string")
        check_image(image)
    container = raw.get("container")
    if container is not None and (not isinstance(container, str) or not container):
        raise OverridesError("the run overrides' container must be a non-empty string")
    return RunOverrides(
        token=token,
        env=tuple(env_raw.items()),
        args=tuple(args) if args is not None else None,
        image=image,
        container=container,
    )


def _targets(job: Job, container: str | None) -> list[Container]:
    pod_spec = ((job.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = pod_spec.get("containers") or []
    if container is None:
        return list(containers)
    chosen = [c for c in containers if c.get("name") == container]
    if not chosen:
        names = ", ".join(str(c.get("name")) for c in containers) or "none"
        raise OverridesError(f"container {container!r} is not in the jobTemplate (its containers: {names})")
    return chosen


def apply_overrides(job: Job, overrides: Overrides) -> Job:
    """A copy of a Job manifest with the overrides applied, and recorded in its run-overrides annotation.

    They change every container of the pod template, or only ``overrides.container`` (OverridesError if
    there is none of that name); init containers never: an image or args meant for the job's own
    work would break a setup step. An env var already there is replaced where it stands (its
    ``valueFrom`` too), a new one is added at the end; ``args`` replaces the container's args.
    """
    out = cast(Job, copy_json(job))
    env = [tuple(item.split("=", 1)) for item in overrides.env or []]
    for container in _targets(out, overrides.container):
        current: list[EnvVar] = list(container.get("env") or [])
        for name, value in env:
            entry: EnvVar = {"name": name, "value": value}
            at = next((i for i, e in enumerate(current) if e.get("name") == name), None)
            if at is None:
                current.append(entry)
            else:
                current[at] = entry
        if env:
            container["env"] = current
        if overrides.args is not None:
            container["args"] = list(overrides.args)
        if overrides.image is not None:
            container["image"] = overrides.image
    meta = out.setdefault("metadata", {})
    meta["annotations"] = {
        **(meta.get("annotations") or {}),
        ANNOTATION_RUN_OVERRIDES: overrides.model_dump_json(exclude_none=True),
    }
    return out


def requested(
    subject_overrides: RunOverrides | None, error: str | None, *, token: str, job_spec: Mapping[str, Any]
) -> Overrides | None:
    """The overrides of the run request ``token`` (None: it has none), or OverridesError: refuse it.

    ``subject_overrides`` and ``error`` are the run-overrides annotation as parsed; overrides of
    another token are a stale or mismatched pair of annotations: running without them, or with
    them, is not what this request asked for. ``job_spec`` is the jobTemplate's spec they must
    apply to (a named container must be in it).
    """
    if error is not None:
        raise OverridesError(error)
    if subject_overrides is None:
        return None
    if subject_overrides.token != token:
        raise OverridesError(
            f"the run overrides are for run request {subject_overrides.token}, not for this one ({token})"
        )
    record = subject_overrides.record()
    if record.env is None and record.args is None and record.image is None:
        return None
    _targets({"spec": cast(JobSpec, job_spec)}, record.container)
    return record
