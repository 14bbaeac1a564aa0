"""Bad ScheduledJob specs stop at the first gate that can see them, with a message that says what to fix.

The CRD schema (the API server's gate) rejects wrong types, enums, bounds and a missing jobTemplate;
the operator's parsing rejects those too (an older CRD may let them through) and everything the schema
cannot express: cron syntax, zones, H ranges, durations, impossible dates. Hypothesis throws random
text at the schedule, timeZone and jitter: the answer is always a SpecError or a working Schedule,
never another exception, never a hang.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest
from bad_cases import OPERATOR, SCHEMA, openapi_schema, spec_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from punctual.api import ScheduledJobStatus
from punctual.core import SpecError, Subject, build_schedule, decide, parse_spec

VALIDATOR = jsonschema.Draft7Validator(openapi_schema())
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def as_object(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "punctual.dev/v1", "kind": "ScheduledJob", "metadata": {"name": "bad"}, "spec": spec}


def operator_verdict(spec: dict[str, Any]) -> SpecError | None:
    """What the operator makes of a spec: its SpecError, or None when it schedules it (one decision)."""
    try:
        subject = Subject(
            namespace="default", name="bad", uid="u", creation=NOW - timedelta(hours=1), spec=parse_spec(spec)
        )
        build_schedule(subject)
        decide(subject, status=ScheduledJobStatus(), jobs=[], now=NOW)
    except SpecError as exc:
        return exc
    return None


def test_the_schema_accepts_a_good_spec() -> None:
    assert list(VALIDATOR.iter_errors(as_object(spec_of()))) == []
    assert list(VALIDATOR.iter_errors(as_object(spec_of(schedule=None, schedules=["@daily", "H * * * *"])))) == []


@pytest.mark.parametrize(("spec", "words"), [pytest.param(s, w, id=i) for i, s, w in SCHEMA])
def test_the_schema_rejects_it_and_so_does_the_operator(spec: dict[str, Any], words: list[str]) -> None:
    assert list(VALIDATOR.iter_errors(as_object(spec))) != [], "the CRD schema let it through"
    error = operator_verdict(spec)
    assert error is not None, "the operator accepted it"
    for word in words:
        assert word in str(error)


@pytest.mark.parametrize(("spec", "words"), [pytest.param(s, w, id=i) for i, s, w in OPERATOR])
def test_the_schema_cannot_see_it_the_operator_says_what_to_fix(spec: dict[str, Any], words: list[str]) -> None:
    # Pruning, not rejection, is how the API server treats an unknown field; the schema passes the rest.
    assert list(VALIDATOR.iter_errors(as_object(spec))) == []
    error = operator_verdict(spec)
    assert error is not None, "the operator accepted it"
    message = str(error)
    for word in words:
        assert word in message
    assert "Traceback" not in message and "\n" not in message


@pytest.mark.parametrize("value", [2**31, 2**63, 10**30])
def test_a_huge_starting_deadline_means_no_deadline(value: int) -> None:
    spec = spec_of(startingDeadlineSeconds=value)
    assert list(VALIDATOR.iter_errors(as_object(spec))) == []  # the schema sets no maximum
    assert operator_verdict(spec) is None


def test_an_oversize_name_still_gives_short_job_names() -> None:
    subject = Subject(
        namespace="default", name="n" * 253, uid="u", creation=NOW - timedelta(minutes=6), spec=parse_spec(spec_of())
    )
    decision = decide(subject, status=ScheduledJobStatus(), jobs=[], now=NOW)
    assert decision.creates
    for create in decision.creates:
        assert len(create.name) <= 63
        assert len(create.manifest["metadata"]["labels"]["punctual.dev/scheduledjob"]) <= 63


# -- hypothesis: random text never crashes and never hangs -----------------------------------------

CRON_TOKENS = st.sampled_from(
    ["*", "?", "H", "L", "W", "#", "/", "-", ",", "0", "1", "5", "7", "12", "23", "29", "30", "31", "59", "60",
     "99", "MON", "FRI", "JAN", "DEC", "H(0-29)", "H(5-1)", "*/0", "*/15", "1-5", "5-1", "@every", "@daily", "d", "s"]
)  # fmt: skip
CRONISH = st.lists(st.lists(CRON_TOKENS, min_size=1, max_size=4).map("".join), min_size=1, max_size=7).map(" ".join)
TEXT = st.text(max_size=40)
DURATIONS = st.one_of(
    TEXT,
    st.builds(lambda n, u: f"{n}{u}", st.integers(-(10**20), 10**20), st.sampled_from(["ms", "s", "m", "h", "d", ""])),
    st.sampled_from(["inf", "nan", "-0", "1e308", "1e400", "0.0000001s", "1h-5m", "5m5m"]),
)
ZONES = st.one_of(TEXT, st.sampled_from(["UTC", "Europe/Berlin", "America/St_Johns", "Etc/GMT+14", "posix/UTC"]))


@settings(
    max_examples=300,
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(
    schedule=st.one_of(CRONISH, TEXT, DURATIONS.map(lambda d: f"@every {d}")),
    zone=st.one_of(st.none(), ZONES),
    jitter=st.one_of(st.none(), DURATIONS),
)
def test_random_schedule_zone_and_jitter_give_a_spec_error_or_a_schedule(
    schedule: str, zone: str | None, jitter: str | None
) -> None:
    spec = spec_of(schedule=schedule, timeZone=zone, jitter=jitter)
    try:
        subject = Subject(
            namespace="default", name="fuzz", uid="u", creation=NOW - timedelta(days=2), spec=parse_spec(spec)
        )
        schedule_ = build_schedule(subject)
    except SpecError as exc:
        assert str(exc)
        return
    nxt = schedule_.next_after(NOW)
    assert nxt is None or nxt > NOW
    decision = decide(subject, status=ScheduledJobStatus(), jobs=[], now=NOW)
    assert decision.wake_at is None or decision.wake_at > NOW - timedelta(seconds=1)
