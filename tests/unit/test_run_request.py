"""The run-overrides codec (punctual.core.run_request): parse, encode, check, apply. Pure."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from punctual.api import Overrides, Trigger
from punctual.core import parse_spec
from punctual.core.run_request import (
    OverridesError,
    RunOverrides,
    apply_overrides,
    check_env_name,
    check_image,
    encode,
    parse,
    requested,
)
from punctual.jobs import ANNOTATION_RUN_OVERRIDES, Owner, build_job

TOKEN = "2026-11-23T10:00:00.000000001Z"
SLOT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def template(*containers: dict[str, Any], init: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    pod: dict[str, Any] = {"restartPolicy": "Never", "containers": list(containers)}
    if init:
        pod["initContainers"] = list(init)
    return {"spec": {"template": {"spec": pod}}}


MAIN = {
    "name": "main",
    "image": "busybox:1.36",
    "args": ["--quick"],
    "env": [{"name": "MODE", "value": "nightly"}, {"name": "DB", "valueFrom": {"secretKeyRef": {"name": "s"}}}],
}
SIDE = {"name": "side", "image": "envoy:1", "args": ["serve"]}
SETUP = {"name": "setup", "image": "alpine:3", "args": ["prepare"]}


def job_of(tpl: dict[str, Any]) -> Any:
    spec = parse_spec({"schedule": "0 0 * * *", "jobTemplate": tpl})
    owner = Owner(namespace="default", name="report", uid="u1")
    return build_job(owner, spec, job_name="report-m1", slot=SLOT, trigger=Trigger.MANUAL)


def containers(job: Any, key: str = "containers") -> dict[str, Any]:
    return {c["name"]: c for c in job["spec"]["template"]["spec"].get(key) or []}


def env_of(container: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(e["name"], e.get("value", e.get("valueFrom"))) for e in container.get("env") or []]


# -- encode and parse ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        RunOverrides(token=TOKEN),
        RunOverrides(token=TOKEN, env=(("B", "2"), ("A", "1"), ("EMPTY", ""))),
        RunOverrides(token=TOKEN, args=("--full", "a b", " ")),
        RunOverrides(token=TOKEN, args=()),
        RunOverrides(token=TOKEN, image="registry.example/app@sha256:" + "0" * 64, container="main"),
        RunOverrides(token=TOKEN, env=(("DAY", "2026-11-23"),), args=("x",), image="busybox:1.37", container="c"),
        RunOverrides(token=TOKEN, env=(("NOTE", 'grüße "quoted"'),)),
    ],
    ids=["token only", "env in order", "args", "args emptied", "image in one container", "everything", "unicode"],
)
def test_encode_then_parse_gives_the_same_overrides(overrides: RunOverrides) -> None:
    text = encode(overrides)
    assert parse(text) == overrides
    assert "\n" not in text and ": " not in text  # compact
    assert json.loads(text)["token"] == TOKEN


def test_encode_leaves_out_what_is_not_overridden() -> None:
    assert encode(RunOverrides(token="t", image="x:1")) == '{"token":"t","image":"x:1"}'
    assert encode(RunOverrides(token="t", env=(("K", "V"),), args=("a",))) == (
        '{"token":"t","env":{"K":"V"},"args":["a"]}'
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "the run overrides are not a JSON object"),
        ('["a"]', "the run overrides are not a JSON object"),
        ("", "the run overrides are not a JSON object"),
        ('{"env":{"K":"V"}}', "the run overrides have no token"),
        ('{"token":"","env":{}}', "the run overrides have no token"),
        ('{"token":"t","envs":{"K":"V"}}', "the run overrides have unknown fields: envs"),
        ('{"token":"t","env":["K=V"]}', "the run overrides' env must be an object of names to string values"),
        ('{"token":"t","env":{"K":1}}', "the run overrides' env must be an object of names to string values"),
        ('{"token":"t","env":{"1K":"v"}}', "env name '1K' must be a C identifier"),
        ('{"token":"t","env":{"MY-VAR":"v"}}', "env name 'MY-VAR' must be a C identifier"),
        ('{"token":"t","env":{"PUNCTUAL_RUN":"x"}}', "env PUNCTUAL_RUN is set by Punctual for every run"),
        ('{"token":"t","args":"a b"}', "the run overrides' args must be a list of strings"),
        ('{"token":"t","args":[1]}', "the run overrides' args must be a list of strings"),
        ('{"token":"t","args":["a",""]}', "an argument must not be empty"),
        ('{"token":"t","image":""}', "image '' must be a non-empty image reference without spaces"),
        ('{"token":"t","image":"busy box"}', "image 'busy box' must be a non-empty image reference"),
        ('{"token":"t","image":3}', "the run overrides' image must be a string"),
        ('{"token":"t","container":""}', "the run overrides' container must be a non-empty string"),
    ],
    ids=[
        "bad JSON",
        "not an object",
        "empty",
        "no token",
        "empty token",
        "unknown field",
        "env as a list",
        "env value not a string",
        "env name starts with a digit",
        "env name with a dash",
        "env a Punctual variable",
        "args a string",
        "args not strings",
        "an empty arg",
        "empty image",
        "image with a space",
        "image not a string",
        "empty container",
    ],
)
def test_parse_refuses_what_cannot_be_applied(text: str, message: str) -> None:
    with pytest.raises(OverridesError) as info:
        parse(text)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("name", ["K", "_private", "PATH", "a1_B2", "PUNCTUAL_OTHER"])
def test_env_names_a_c_identifier_allows(name: str) -> None:
    check_env_name(name)


@pytest.mark.parametrize("image", ["busybox", "busybox:1.37", "r.io:5000/a/b:c", "a@sha256:" + "f" * 64])
def test_image_references(image: str) -> None:
    check_image(image)


# -- the request's token -----------------------------------------------------------------------------------

SPEC = template(MAIN)["spec"]


def test_overrides_of_the_request_apply() -> None:
    overrides = RunOverrides(token=TOKEN, env=(("K", "V"),), image="x:1")
    assert requested(overrides, None, token=TOKEN, job_spec=SPEC) == Overrides(env=["K=V"], image="x:1")


def test_overrides_of_another_request_refuse_it() -> None:
    stale = RunOverrides(token="2026-11-22T09:00:00Z", env=(("K", "V"),))
    with pytest.raises(OverridesError) as info:
        requested(stale, None, token=TOKEN, job_spec=SPEC)
    assert str(info.value) == (
        f"the run overrides are for run request 2026-11-22T09:00:00Z, not for this one ({TOKEN})"
    )


def test_undecodable_overrides_refuse_the_request() -> None:
    with pytest.raises(OverridesError, match=r"^the run overrides are not a JSON object"):
        requested(None, "the run overrides are not a JSON object {...}", token=TOKEN, job_spec=SPEC)


def test_no_overrides_or_nothing_overridden_is_a_plain_run() -> None:
    assert requested(None, None, token=TOKEN, job_spec=SPEC) is None
    assert requested(RunOverrides(token=TOKEN), None, token=TOKEN, job_spec=SPEC) is None


def test_a_container_the_template_does_not_have_refuses_the_request() -> None:
    overrides = RunOverrides(token=TOKEN, image="x:1", container="sidecar")
    with pytest.raises(OverridesError) as info:
        requested(overrides, None, token=TOKEN, job_spec=template(MAIN, SIDE)["spec"])
    assert str(info.value) == "container 'sidecar' is not in the jobTemplate (its containers: main, side)"


def test_an_init_container_is_not_a_container_to_override() -> None:
    overrides = RunOverrides(token=TOKEN, image="x:1", container="setup")
    with pytest.raises(OverridesError, match="container 'setup' is not in the jobTemplate"):
        requested(overrides, None, token=TOKEN, job_spec=template(MAIN, init=(SETUP,))["spec"])


# -- apply ----------------------------------------------------------------------------------------------


def test_apply_to_every_container_leaves_init_containers_untouched() -> None:
    job = job_of(template(MAIN, SIDE, init=(SETUP,)))
    before = copy.deepcopy(job)
    out = apply_overrides(job, Overrides(env=["MODE=full", "EXTRA=1"], args=["--all"], image="busybox:1.37"))
    assert job == before  # a copy: the manifest given is not changed
    got = containers(out)
    assert got["main"]["image"] == got["side"]["image"] == "busybox:1.37"
    assert got["main"]["args"] == got["side"]["args"] == ["--all"]
    # Replaced where it stands, added at the end (after the PUNCTUAL_* variables build_job sets).
    assert env_of(got["main"])[0] == ("MODE", "full")
    assert env_of(got["main"])[-1] == ("EXTRA", "1")
    assert ("DB", {"secretKeyRef": {"name": "s"}}) in env_of(got["main"])
    assert ("PUNCTUAL_RUN", "report-m1") in env_of(got["side"])
    assert containers(out, "initContainers") == containers(before, "initContainers")


def test_apply_to_one_container_leaves_the_others_untouched() -> None:
    job = job_of(template(MAIN, SIDE))
    out = apply_overrides(job, Overrides(env=["MODE=full"], image="busybox:1.37", container="main"))
    got, was = containers(out), containers(job)
    assert got["main"]["image"] == "busybox:1.37" and ("MODE", "full") in env_of(got["main"])
    assert got["main"]["args"] == ["--quick"]  # args not overridden: kept
    assert got["side"] == was["side"]


def test_an_env_var_from_a_secret_is_replaced_by_the_value() -> None:
    out = apply_overrides(job_of(template(MAIN)), Overrides(env=["DB=sqlite://"]))
    db = next(e for e in containers(out)["main"]["env"] if e["name"] == "DB")
    assert db == {"name": "DB", "value": "sqlite://"}


def test_empty_args_replace_the_args_and_an_empty_value_is_kept() -> None:
    out = apply_overrides(job_of(template(MAIN)), Overrides(env=["EMPTY="], args=[]))
    main = containers(out)["main"]
    assert main["args"] == [] and ("EMPTY", "") in env_of(main)


def test_the_job_records_what_it_ran_with() -> None:
    overrides = Overrides(env=["K=V"], args=["a"], image="x:1", container="main")
    out = apply_overrides(job_of(template(MAIN)), overrides)
    annotations = out["metadata"]["annotations"]
    assert Overrides.model_validate_json(annotations[ANNOTATION_RUN_OVERRIDES]) == overrides
    assert "punctual.dev/scheduled-time" in annotations  # build_job's stay


def test_apply_to_a_container_it_does_not_have_is_an_error() -> None:
    with pytest.raises(OverridesError, match="container 'nope' is not in the jobTemplate"):
        apply_overrides(job_of(template(MAIN)), Overrides(image="x:1", container="nope"))


def test_the_record_of_a_request() -> None:
    overrides = RunOverrides(token=TOKEN, env=(("K", "V"), ("E", "")), args=("a",), image="x:1", container="main")
    assert overrides.record() == Overrides(env=["K=V", "E="], args=["a"], image="x:1", container="main")
    assert RunOverrides(token=TOKEN, args=()).record() == Overrides(args=[])
