"""kubectl_sj.format: kubectl's duration rules, relative times, tables and -o json|yaml|name (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from plugin_helpers import scheduled_job

from kubectl_sj import format, status
from kubectl_sj.objects import ScheduledJob
from kubectl_sj.slots import next_slots
from punctual.api import HistoryRecord

NOW = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)


def sj_body(name: str = "backup", *, status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    body = scheduled_job(name, **spec)
    body["metadata"].update({"uid": "u-1", "creationTimestamp": "2026-11-01T00:00:00Z"})
    body["status"] = status or {}
    return body


# The cases of apimachinery's duration_test.go (HumanDuration).
@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (1, "1s"),
        (70, "70s"),
        (119, "119s"),
        (120, "2m"),
        (121, "2m1s"),
        (599, "9m59s"),
        (600, "10m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 60, "3h1m"),
        (8 * 3600 - 1, "7h59m"),
        (8 * 3600, "8h"),
        (48 * 3600 - 1, "47h"),
        (48 * 3600, "2d"),
        (8 * 86400 - 1, "7d23h"),
        (8 * 86400, "8d"),
        (2 * 365 * 86400 - 1, "729d"),
        (2 * 365 * 86400, "2y"),
        (8 * 365 * 86400 - 1, "7y364d"),
        (8 * 365 * 86400, "8y"),
    ],
)
def test_human_duration_matches_kubectl(seconds: int, text: str) -> None:
    assert format.human_duration(timedelta(seconds=seconds)) == text


@pytest.mark.parametrize(
    ("offset", "text"),
    [
        (timedelta(minutes=-5), "5m ago"),
        (timedelta(minutes=3), "in 3m"),
        (timedelta(milliseconds=400), "now"),
        (timedelta(milliseconds=-400), "now"),
        (timedelta(hours=-30), "30h ago"),
        (timedelta(days=3, hours=2), "in 3d2h"),
    ],
)
def test_relative_times(offset: timedelta, text: str) -> None:
    assert format.relative(NOW + offset, now=NOW) == text


def test_relative_none_is_kubectl_none() -> None:
    assert format.relative(None, now=NOW) == "<none>"


def test_format_local_uses_the_zone_and_its_offset() -> None:
    assert format.format_local(NOW, "Europe/Berlin") == "2026-11-23T11:00:00+01:00"
    assert format.format_local(NOW + timedelta(milliseconds=250), "UTC") == "2026-11-23T10:00:00.250+00:00"
    assert format.format_local(None, "UTC") == "<none>"


def test_render_table_pads_like_kubectl() -> None:
    text = format.render_table(["NAME", "AGE"], [["a", "5m"], ["longer-name", ""]])
    assert text == "NAME          AGE\na             5m\nlonger-name   <none>\n"


def test_list_table_columns_and_relative_times() -> None:
    status = {
        "lastScheduleTime": "2026-11-23T09:55:00Z",
        "nextScheduleTime": "2026-11-23T10:03:00Z",
        "lastResult": "Succeeded",
        "active": [{"name": "backup-1", "scheduledTime": "2026-11-23T09:55:00Z", "trigger": "schedule"}],
    }
    item = ScheduledJob.from_body(sj_body(status=status, timeZone="Europe/Berlin"))
    text = format.scheduled_jobs_table([item], now=NOW)
    header, row = text.splitlines()
    assert header.split() == [
        "NAME", "SCHEDULE", "TIMEZONE", "SUSPENDED", "ACTIVE", "QUEUED", "LAST", "RESULT", "LAST", "RUN", "NEXT", "RUN",
    ]  # fmt: skip
    assert row.split("   ") and "backup" in row
    cells = [c.strip() for c in row.split("  ") if c.strip()]
    assert cells == ["backup", "*/15 * * * *", "Europe/Berlin", "False", "1", "0", "Succeeded", "5m ago", "in 3m"]


def test_list_table_all_namespaces_and_wide() -> None:
    item = ScheduledJob.from_body(
        sj_body(status={"nextScheduleTime": "2026-11-23T10:03:00Z"}, timeZone="Europe/Berlin", jitter="30s")
    )
    text = format.scheduled_jobs_table([item], now=NOW, wide=True, all_namespaces=True)
    header, row = text.splitlines()
    assert header.startswith("NAMESPACE   NAME")
    assert header.endswith("NEXT RUN AT                 CONCURRENCY   JITTER   LAST SUCCESS   READY")
    assert row.startswith("default     backup")
    assert "in 3m      2026-11-23T11:03:00+01:00   Allow         30s      <none>" in row


@pytest.mark.parametrize(
    ("spec", "cell"),
    [
        ({}, "Allow"),
        ({"concurrencyPolicy": "Forbid"}, "Forbid"),
        ({"maxActive": 2}, "Allow (maxActive 2, Queue)"),
        ({"maxActive": 3, "overflow": "Skip"}, "Allow (maxActive 3, Skip)"),
    ],
    ids=["Allow", "Forbid", "maxActive, overflow unset: Queue", "maxActive, overflow Skip"],
)
def test_list_wide_shows_max_active_and_overflow_in_concurrency(spec: dict[str, object], cell: str) -> None:
    item = ScheduledJob.from_body(sj_body(status={"nextScheduleTime": "2026-11-23T10:03:00Z"}, **spec))
    header, row = format.scheduled_jobs_table([item], now=NOW, wide=True).splitlines()
    start = header.index("CONCURRENCY")
    assert row[start:].startswith(cell + "   ")


def test_list_table_falls_back_to_the_computed_next_run_and_shows_suspension() -> None:
    running = ScheduledJob.from_body(sj_body("a"))
    paused = ScheduledJob.from_body(sj_body("b", suspend=True))
    computed = {running.key: NOW + timedelta(minutes=15), paused.key: NOW + timedelta(minutes=15)}
    rows = format.scheduled_jobs_table([running, paused], now=NOW, computed_next=computed).splitlines()[1:]
    assert rows[0].endswith("<none>     in 15m")
    assert rows[1].endswith("<none>     <suspended>")


def test_several_schedules_are_joined() -> None:
    item = ScheduledJob.from_body(sj_body(schedule=None, schedules=["0 9 * * 1-5", "0 12 * * 6"]))
    assert item.schedule_text == "0 9 * * 1-5; 0 12 * * 6"


def test_an_invalid_spec_is_still_listed() -> None:
    item = ScheduledJob.from_body(sj_body(schedule="not cron", concurrencyPolicy="Sometimes"))
    assert item.spec is None and item.spec_error and "concurrencyPolicy" in item.spec_error
    assert "not cron" in format.scheduled_jobs_table([item], now=NOW)


def record(job: str, minutes_ago: int, **fields: Any) -> HistoryRecord:
    slot = NOW - timedelta(minutes=minutes_ago)
    return HistoryRecord.model_validate({"job": job, "scheduledTime": slot, "trigger": "schedule", **fields})


def test_history_table_newest_first_with_limit() -> None:
    records = [
        record("b-1", 30, result="Succeeded", startTime=NOW - timedelta(minutes=30), durationSeconds=12, exitCode=0),
        record(
            "b-2",
            15,
            result="Failed",
            startTime=NOW - timedelta(minutes=15),
            durationSeconds=200,
            exitCode=3,
            reason="BackoffLimitExceeded",
        ),
        record("b-3", 1, result="Skipped", reason="ConcurrencyForbid"),
    ]
    text = format.history_table(records, zone="UTC", now=NOW)
    assert text.splitlines() == [
        "SLOT                        TRIGGER    STARTED   DURATION   RESULT      EXIT CODE   REASON",
        "2026-11-23T09:59:00+00:00   schedule   <none>    <none>     Skipped     <none>      ConcurrencyForbid",
        "2026-11-23T09:45:00+00:00   schedule   15m ago   3m20s      Failed      3           BackoffLimitExceeded",
        "2026-11-23T09:30:00+00:00   schedule   30m ago   12s        Succeeded   0           <none>",
    ]
    assert len(format.history_table(records, zone="UTC", now=NOW, limit=1).splitlines()) == 2


def test_history_wide_names_the_job_and_a_running_run_shows_its_age() -> None:
    running = record("b-4", 2, result="Running", startTime=NOW - timedelta(seconds=90), image="busybox:1.36")
    header, row = format.history_table([running], zone="UTC", now=NOW, wide=True).splitlines()
    assert header.endswith("JOB   IMAGE          OVERRIDES   MESSAGE")
    assert "90s" in row and "b-4   busybox:1.36   <none>      <none>" in row


def test_history_wide_shows_a_runs_overrides_as_the_flags_that_asked_for_them() -> None:
    overrides = {"env": ["DAY=2026-11-23", "NOTE=a b"], "args": ["--full"], "image": "busybox:1.37"}
    manual = record("b-m1", 0, result="Running", trigger="manual", image="busybox:1.37", overrides=overrides)
    header, row = format.history_table([manual], zone="UTC", now=NOW, wide=True).splitlines()
    assert header.split()[-2:] == ["OVERRIDES", "MESSAGE"]
    assert row.endswith("--env DAY=2026-11-23 --env 'NOTE=a b' --arg --full --image busybox:1.37   <none>")


@pytest.mark.parametrize(
    ("overrides", "text"),
    [
        (None, "<none>"),
        (status.Overrides(image="x:1", container="main"), "--image x:1 --container main"),
        (status.Overrides(args=()), "(no args)"),
    ],
    ids=["none", "image in one container", "args emptied"],
)
def test_overrides_text(overrides: status.Overrides | None, text: str) -> None:
    assert format.overrides_text(overrides) == text


def test_aggregated_missed_record_says_how_many_slots() -> None:
    missed = record("b-5", 60, result="Missed", slotCount=12, reason="OperatorDown")
    assert "(+11 older)" in format.history_table([missed], zone="UTC", now=NOW)


def test_next_table_in_the_jobs_zone_with_jitter() -> None:
    item = ScheduledJob.from_body(sj_body(schedule="0 3 * * *", timeZone="Europe/Berlin", jitter="10m"))
    slots = next_slots(item, after=NOW, count=2)
    lines = format.next_table(slots, now=NOW).splitlines()
    assert lines[0].split() == ["SLOT", "START", "IN"]
    assert lines[1].startswith("2026-11-24T03:00:00+01:00   2026-11-24T03:0")
    assert lines[1].endswith("in 16h") or "in 16h" in lines[1]


def test_dump_json_and_yaml_like_kubectl() -> None:
    body = sj_body()
    as_json = format.dump(body, "json")
    assert as_json.startswith('{\n    "apiVersion": "punctual.dev/v1",')
    assert json.loads(as_json) == body
    assert yaml.safe_load(format.dump(body, "yaml")) == body


def test_list_document_and_names() -> None:
    items = [ScheduledJob.from_body(sj_body("a")), ScheduledJob.from_body(sj_body("b"))]
    doc = format.list_document([i.body for i in items])
    assert doc["kind"] == "List" and [i["metadata"]["name"] for i in doc["items"]] == ["a", "b"]
    assert format.name_lines(items) == "scheduledjob.punctual.dev/a\nscheduledjob.punctual.dev/b\n"


def test_history_shows_a_retrys_attempt_and_a_pending_retry_with_its_due_time() -> None:
    from kubectl_sj.status import RetryPending

    records = [
        record("b-1", 30, result="Failed", reason="BackoffLimitExceeded", startTime=NOW - timedelta(minutes=30)),
        record(
            "b-1-r2",
            30,
            trigger="retry",
            result="Failed",
            attempt=2,
            retryOf="b-1",
            startTime=NOW - timedelta(minutes=20),
        ),
    ]
    pending = RetryPending(
        job="b-1-r3",
        retryOf="b-1",
        scheduledTime=NOW - timedelta(minutes=30),
        attempt=3,
        dueTime=NOW + timedelta(minutes=4),
    )
    lines = format.history_table(records, zone="UTC", now=NOW, retries=[pending], attempts=4).splitlines()
    assert lines[1].split() == [
        "2026-11-23T09:30:00+00:00",
        "retry",
        "3/4",
        "<none>",
        "<none>",
        "Pending",
        "<none>",
        "due",
        "in",
        "4m",
    ]
    assert lines[2].split()[1:3] == ["retry", "2/4"] and "Failed" in lines[2]
    assert lines[3].split()[1] == "schedule"
    waiting = RetryPending(
        job="b-1-r3",
        retryOf="b-1",
        scheduledTime=NOW - timedelta(minutes=30),
        attempt=3,
        dueTime=NOW - timedelta(minutes=1),
        reason="WaitingForActiveRun",
    )
    assert (
        format.history_table([], zone="UTC", now=NOW, retries=[waiting])
        .splitlines()[1]
        .endswith("retry 3   <none>    <none>     Pending   <none>      WaitingForActiveRun")
    )
