"""The web UI's view models (``kubectl_sj.ui.views``): ScheduledJob bodies in, page rows out. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubectl_sj.errors import CRD_MISSING, InputError, PluginError, Request, api_error_message, unreachable_message
from kubectl_sj.objects import ScheduledJob
from kubectl_sj.slots import next_slots
from kubectl_sj.ui import views
from punctual.jobs import manual_job_name

NOW = datetime(2026, 11, 23, 10, 0, 7, tzinfo=UTC)


def at(minutes: float) -> str:
    return (NOW + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record(job: str, result: str, *, start: float, seconds: float | None = 5.0, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "job": job,
        "scheduledTime": at(start),
        "trigger": "schedule",
        "result": result,
        "startTime": at(start),
    }
    if seconds is not None and result != "Running":
        body["completionTime"] = at(start + seconds / 60)
        body["durationSeconds"] = seconds
    return {**body, **extra}


def sj(
    name: str = "report",
    *,
    schedule: str = "*/15 * * * *",
    namespace: str = "default",
    status: dict[str, Any] | None = None,
    **spec: Any,
) -> ScheduledJob:
    return ScheduledJob.from_body(
        {
            "apiVersion": "punctual.dev/v1",
            "kind": "ScheduledJob",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": f"uid-{name}",
                "creationTimestamp": "2026-11-01T00:00:00Z",
                "labels": {"team": "data"},
            },
            "spec": {
                "schedule": schedule,
                "jobTemplate": {
                    "spec": {"template": {"spec": {"containers": [{"name": "main", "image": "registry/report:1.2"}]}}}
                },
                **spec,
            },
            "status": status or {},
        }
    )


def condition(type_: str, value: str) -> dict[str, Any]:
    return {"type": type_, "status": value, "reason": "R", "message": "m", "lastTransitionTime": at(-60)}


# -- state ---------------------------------------------------------------------------------------------

ACTIVE = {"active": [{"name": "report-1", "scheduledTime": at(-1), "trigger": "schedule", "startTime": at(-1)}]}
QUEUED = {"queued": [{"scheduledTime": at(-1), "trigger": "manual", "job": "report-m", "queuedAt": at(-1)}]}


@pytest.mark.parametrize(
    ("name", "item", "state"),
    [
        ("never ran", sj(), "idle"),
        ("suspended wins over active", sj(suspend=True, status=ACTIVE), "suspended"),
        ("a run in flight", sj(status=ACTIVE), "active"),
        ("a slot waiting for the active run", sj(status=QUEUED), "queued"),
        ("a spec the parser refuses", sj(concurrencyPolicy="Sometimes"), "invalid"),
        ("the operator says invalid", sj(status={"conditions": [condition("ScheduleValid", "False")]}), "invalid"),
        ("paused", sj(status={"conditions": [condition("Paused", "True")]}), "paused"),
        ("past notAfter", sj(status={"conditions": [{**condition("Ready", "True"), "reason": "Ended"}]}), "ended"),
        (
            "past notAfter, a manual run going",
            sj(status={**ACTIVE, "conditions": [{**condition("Ready", "True"), "reason": "Ended"}]}),
            "active",
        ),
    ],
)
def test_state(name: str, item: ScheduledJob, state: str) -> None:
    assert views.state_of(item) == state, name


# -- the fleet -----------------------------------------------------------------------------------------


def test_fleet_row_reads_the_status() -> None:
    history = [
        record("report-4", "Failed", start=-15, exitCode=2),
        record("report-3", "Succeeded", start=-30),
        record("report-2", "Succeeded", start=-45),
        record("report-1", "Succeeded", start=-60),
    ]
    item = sj(status={"history": history, "lastResult": "Failed", "nextScheduleTime": "2026-11-23T10:15:00Z"})
    [row] = views.fleet_rows([item], now=NOW)
    assert (row.namespace, row.name, row.schedule, row.zone, row.state) == (
        "default",
        "report",
        "*/15 * * * *",
        "UTC",
        "idle",
    )
    assert row.last_result == "Failed"
    assert row.last_time == "15m ago"  # the newest start, as kubectl sj list's LAST RUN
    assert row.next_time == "in 14m"  # kubectl's HumanDuration rounding
    assert row.next_at == "2026-11-23T10:15:00+00:00"
    assert row.spark == ("Succeeded", "Succeeded", "Succeeded", "Failed")  # oldest first
    assert row.success_rate == "75%"


def test_fleet_row_computes_the_next_run_before_the_operator_has() -> None:
    [row] = views.fleet_rows([sj(schedule="0 * * * *", timeZone="Europe/Paris")], now=NOW)
    assert row.next_at == "2026-11-23T12:00:00+01:00"  # the next full hour, shown in the job's zone
    assert row.last_time == "never"
    assert row.spark == () and row.success_rate == "-"


def test_a_suspended_job_has_no_next_run() -> None:
    [row] = views.fleet_rows([sj(suspend=True, status={"nextScheduleTime": "2026-11-23T10:15:00Z"})], now=NOW)
    assert (row.state, row.next_time, row.next_at) == ("suspended", "suspended", "")


def test_the_sparkline_covers_the_newest_runs_only() -> None:
    history = [record(f"r-{i}", "Succeeded" if i else "Failed", start=-i) for i in range(30)]
    [row] = views.fleet_rows([sj(status={"history": history})], now=NOW)
    assert len(row.spark) == views.SPARK_RUNS
    assert row.spark[-1] == "Failed" and row.success_rate == "95%"


def test_skipped_and_replaced_slots_do_not_count_in_the_success_rate_but_missed_ones_do() -> None:
    history = [
        record("r-4", "Skipped", start=-1),
        record("r-3", "Missed", start=-2),
        record("r-2", "Replaced", start=-3),
        record("r-1", "Succeeded", start=-20),
    ]
    [row] = views.fleet_rows([sj(status={"history": history})], now=NOW)
    assert row.spark == ("Succeeded", "Replaced", "Missed", "Skipped")
    assert row.success_rate == "50%"


def test_a_running_run_does_not_count_in_the_success_rate() -> None:
    history = [record("r-2", "Running", start=-1), record("r-1", "Succeeded", start=-20)]
    [row] = views.fleet_rows([sj(status={"history": history})], now=NOW)
    assert row.spark == ("Succeeded", "Running") and row.success_rate == "100%"


@pytest.mark.parametrize(
    ("text", "found"),
    [("", True), ("rep", True), ("default/report", True), ("REPORT 15", True), ("registry/report", True), ("x", False)],
)
def test_search(text: str, found: bool) -> None:
    assert views.matches_search(sj(), text) is found


# -- the timeline --------------------------------------------------------------------------------------


def test_timeline_marks_the_upcoming_starts_where_they_fall() -> None:
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    line = views.timeline([sj()], now=now, ahead=timedelta(hours=1), behind=timedelta(minutes=20))
    [lane] = line.lanes
    # The window is 10:00 - 20 min .. 11:00 (80 min); */15 starts at :15, :30, :45 and 11:00.
    assert lane.marks == pytest.approx([35 / 80, 50 / 80, 65 / 80, 1.0])
    assert line.now_x == pytest.approx(20 / 80)
    assert lane.next_labels == ("2026-11-23T10:15:00+00:00", "2026-11-23T10:30:00+00:00", "2026-11-23T10:45:00+00:00")
    assert sum(line.density) == 4
    assert line.busiest is not None and line.busiest[1] == 1


def test_timeline_upcoming_is_what_kubectl_sj_next_prints() -> None:
    """Jitter included: the marks are the starts next_slots computes (the code behind kubectl sj next)."""
    item = sj(schedule="H/10 * * * *", jitter="3m")
    line = views.timeline([item], now=NOW, ahead=timedelta(hours=2), behind=timedelta(0))
    expected = [s.start for s in next_slots(item, after=NOW, count=12) if s.slot <= NOW + timedelta(hours=2)]
    got = [NOW + timedelta(hours=2) * x for x in line.lanes[0].marks]
    assert [round(g.timestamp(), 3) for g in got] == [round(e.timestamp(), 3) for e in expected]
    assert any(e.second or e.microsecond for e in expected)  # the jitter really moved them off the minute


def test_timeline_shows_clusters_of_jobs_firing_at_once() -> None:
    items = [sj(f"job-{i}", schedule="0 * * * *") for i in range(5)] + [sj("spread", schedule="H * * * *")]
    line = views.timeline(
        items, now=datetime(2026, 11, 23, 10, 1, tzinfo=UTC), ahead=timedelta(hours=1), behind=timedelta(0)
    )
    assert line.busiest is not None
    assert line.busiest[1] == 5  # the five "0 * * * *" jobs at 11:00, in one bucket
    assert sum(line.density) == 6


def test_a_frequent_job_counts_once_per_bucket() -> None:
    now = datetime(2026, 11, 23, 10, 0, 30, tzinfo=UTC)
    items = [sj("every-10s", schedule="*/10 * * * * *"), sj("a", schedule="0 * * * *"), sj("b", schedule="0 * * * *")]
    line = views.timeline(items, now=now, ahead=timedelta(hours=1), behind=timedelta(0))
    assert len(line.lanes[0].marks) == 360
    assert line.density[-1] == 3  # 11:00's bucket: the frequent job, a and b
    assert line.busiest is not None and line.busiest[1] == 3
    assert max(line.density[:-1]) == 1


def test_timeline_bars_are_the_recorded_runs_in_the_window() -> None:
    history = [
        record("r-run", "Running", start=-2),
        record("r-ok", "Succeeded", start=-10, seconds=120),
        record("r-old", "Failed", start=-600),  # before the window
    ]
    line = views.timeline(
        [sj(status={"history": history})], now=NOW, ahead=timedelta(hours=1), behind=timedelta(minutes=30)
    )
    bars = {b.job: b for b in line.lanes[0].bars}
    assert set(bars) == {"r-run", "r-ok"}
    span = 90 * 60
    assert bars["r-ok"].x == pytest.approx(20 * 60 / span)
    assert bars["r-ok"].width == pytest.approx(120 / span)
    assert bars["r-ok"].result == "Succeeded"
    assert bars["r-run"].x + bars["r-run"].width == pytest.approx(line.now_x)  # a running run reaches now
    assert "(2m)" in bars["r-ok"].label


def test_timeline_lanes_say_why_they_have_no_marks() -> None:
    line = views.timeline(
        [sj(suspend=True), sj("bad", schedule="nope")], now=NOW, ahead=timedelta(hours=1), behind=timedelta(0)
    )
    suspended, bad = line.lanes
    assert suspended.marks == () and suspended.error == "suspended"
    assert bad.marks == () and bad.error is not None and "cron expression" in bad.error


def test_timeline_ticks_fit_the_window() -> None:
    line = views.timeline(
        [], now=datetime(2026, 11, 23, 10, 7, tzinfo=UTC), ahead=timedelta(hours=6), behind=timedelta(hours=1)
    )
    assert [label for _, label in line.ticks][:3] == ["10:00", "11:00", "12:00"]
    assert all(0 <= x <= 1 for x, _ in line.ticks)
    assert line.lanes == () and line.busiest is None


def test_timeline_draws_at_most_the_mark_limit() -> None:
    every_second = sj("busy", schedule="* * * * * *")
    line = views.timeline([every_second], now=NOW, ahead=timedelta(hours=2), behind=timedelta(0))
    [lane] = line.lanes
    assert len(lane.marks) == 2500 and lane.more is True


# -- history, durations ----------------------------------------------------------------------------------


def test_history_rows() -> None:
    history = [
        record(
            "report-2",
            "Failed",
            start=-5,
            seconds=65,
            exitCode=3,
            reason="BackoffLimitExceeded",
            message="Job has reached the specified backoff limit",
            image="registry/report:1.2",
            imageID="docker-pullable://registry/report@sha256:abc",
        ),
        record("report-1", "Running", start=-1, trigger="manual"),
        {"job": "report-0", "scheduledTime": at(-30), "trigger": "schedule", "result": "Missed", "reason": "Deadline"},
    ]
    rows = views.history_rows(sj(timeZone="Europe/Paris", status={"history": history}), now=NOW)
    failed, running, missed = rows
    assert failed.slot == "2026-11-23T10:55:07+01:00"
    assert (failed.duration, failed.duration_seconds, failed.exit_code) == ("65s", 65.0, "3")
    assert failed.digest == "sha256:abc" and failed.image == "registry/report:1.2"
    assert failed.reason == "BackoffLimitExceeded: Job has reached the specified backoff limit"
    assert (running.trigger, running.duration, running.duration_seconds) == ("manual", "60s", 60.0)
    assert (missed.start, missed.duration, missed.exit_code, missed.reason) == ("", "", "", "Deadline")


def test_duration_bars_scale_to_the_longest_oldest_first() -> None:
    history = [record("c", "Succeeded", start=-1, seconds=10), record("b", "Failed", start=-20, seconds=40)]
    history.append({"job": "a", "scheduledTime": at(-40), "trigger": "schedule", "result": "Missed"})
    bars, longest = views.duration_bars(views.history_rows(sj(status={"history": history}), now=NOW))
    assert longest == 40.0
    assert [(b.result, b.height) for b in bars] == [("Failed", 1.0), ("Succeeded", 0.25)]  # the miss has no duration


# -- Run now's outcome ---------------------------------------------------------------------------------

TOKEN = "2026-11-23T10:00:07.000000000Z"
JOB = manual_job_name("report", TOKEN)


@pytest.mark.parametrize(
    ("name", "status", "job_exists", "state", "final"),
    [
        ("not picked up yet", {}, False, "waiting", False),
        ("picked up, no Job yet", {"lastHandledRunRequest": TOKEN}, False, "waiting", False),
        ("the Job exists", {"lastHandledRunRequest": TOKEN}, True, "running", False),
        (
            "skipped by Forbid",
            {
                "lastHandledRunRequest": TOKEN,
                "history": [{**record(JOB, "Skipped", start=0, seconds=None), "message": "a run is active"}],
            },
            False,
            "not-run",
            True,
        ),
        (
            "queued",
            {
                "lastHandledRunRequest": TOKEN,
                "queued": [{"scheduledTime": at(0), "trigger": "manual", "job": JOB, "queuedAt": at(0)}],
            },
            False,
            "queued",
            False,
        ),
        (
            "finished",
            {"lastHandledRunRequest": TOKEN, "history": [record(JOB, "Succeeded", start=0, exitCode=0)]},
            False,
            "finished",
            True,
        ),
    ],
)
def test_run_outcome(name: str, status: dict[str, Any], job_exists: bool, state: str, final: bool) -> None:
    outcome = views.run_outcome(sj(status=status), TOKEN, job_exists=job_exists)
    assert (outcome.job, outcome.state, outcome.final) == (JOB, state, final), name


def test_run_outcome_texts() -> None:
    skipped = {
        "lastHandledRunRequest": TOKEN,
        "history": [{**record(JOB, "Skipped", start=0), "message": "a run is active"}],
    }
    assert views.run_outcome(sj(status=skipped), TOKEN, job_exists=False).text == "Run Skipped: a run is active"
    done = {"lastHandledRunRequest": TOKEN, "history": [record(JOB, "Failed", start=0, exitCode=4)]}
    assert views.run_outcome(sj(status=done), TOKEN, job_exists=True).text == f"Run {JOB} Failed (exit code 4)."
    queued = {"queued": [{"scheduledTime": at(0), "trigger": "manual", "job": JOB, "queuedAt": at(0)}]}
    text = views.run_outcome(sj(status=queued, concurrencyPolicy="Forbid"), TOKEN, job_exists=False).text
    assert "concurrencyPolicy Forbid" in text


# -- error pages -------------------------------------------------------------------------------------------


CONFLICT = b'{"kind": "Status", "reason": "Conflict", "message": "the object has been modified"}'


def test_forbidden_says_the_verb_and_resource() -> None:
    message = api_error_message(Request("patch", "scheduledjobs.punctual.dev", "team-a", "report"), code=403, body=None)
    page = views.error_page(PluginError(message))
    assert page.status == 403 and page.title == "Forbidden"
    assert (
        page.message
        == 'Your credentials may not do this: you need "patch" on scheduledjobs.punctual.dev in namespace "team-a".'
    )


@pytest.mark.parametrize(
    ("message", "status", "title"),
    [
        (
            api_error_message(Request("get", "scheduledjobs.punctual.dev", "a", "x"), code=404, body=None),
            404,
            "Not found",
        ),
        (CRD_MISSING, 404, "Not found"),
        (unreachable_message("https://127.0.0.1:6443", "connection refused"), 502, "API server unreachable"),
        (api_error_message(Request("list", "pods", "a"), code=401, body=None), 401, "Unauthorized"),
        (api_error_message(Request("patch", "pods", "a", "x"), code=409, body=CONFLICT), 500, "Error"),
    ],
)
def test_error_pages(message: str, status: int, title: str) -> None:
    page = views.error_page(message)
    assert (page.status, page.title) == (status, title)
    assert page.message and "None" not in page.message
    assert "error: " not in page.message


def test_describe_spec() -> None:
    pairs = dict(views.describe_spec(sj(concurrencyPolicy="Forbid", jitter="30s", startingDeadlineSeconds=60)))
    assert pairs["Concurrency"] == "Forbid" and pairs["Jitter"] == "30s" and pairs["Starting deadline"] == "60s"
    assert pairs["Images"] == "registry/report:1.2"
    assert pairs["Window"] == "always"
    window = dict(views.describe_spec(sj(notBefore="2026-12-01T00:00:00Z")))["Window"]
    assert window == "2026-12-01T00:00:00Z to no end"
    assert "Invalid spec" in dict(views.describe_spec(sj(concurrencyPolicy="Sometimes")))


# -- backfills ---------------------------------------------------------------------------------------------

BF = "2026-11-23T09:00:00.000000001Z"


def backfill(token: str = BF, state: str = "Running", **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "token": token,
        "state": state,
        "fromTime": "2026-11-20T00:00:00Z",
        "toTime": "2026-11-20T05:00:00Z",
        "parallel": 2,
        "total": 6,
        "done": 2,
        "failed": 1,
        "running": 2,
        "pending": 1,
        "skippedExisting": 1,
        "requestedAt": at(-60),
    }
    return {**entry, **fields}


def annotated(item: ScheduledJob, annotations: dict[str, str]) -> ScheduledJob:
    body = dict(item.body)
    return ScheduledJob.from_body({**body, "metadata": {**body["metadata"], "annotations": annotations}})


def test_backfill_rows_read_status_backfills_in_the_order_requested() -> None:
    done = backfill("old", "Completed", done=5, failed=0, running=0, pending=0, finishedAt=at(-30))
    rejected = {"token": "bad", "state": "Rejected", "message": "too many slots", "requestedAt": at(-20)}
    item = sj(status={"backfills": [done, rejected, backfill()]}, timeZone="Europe/Berlin")
    rows = views.backfill_rows(item)
    assert [(r.token, r.state, r.open) for r in rows] == [
        ("old", "Completed", False),
        ("bad", "Rejected", False),
        (BF, "Running", True),
    ]
    running = rows[2]
    assert (running.start, running.end) == ("2026-11-20T01:00:00+01:00", "2026-11-20T06:00:00+01:00")  # the job's zone
    assert (running.done, running.total, running.running, running.failed, running.pending, running.skipped) == (
        2,
        6,
        2,
        1,
        1,
        1,
    )
    assert running.parallel == 2 and not running.cancelling
    assert running.handled == pytest.approx(5 / 6)  # 2 done + 2 running + 1 skipped of 6
    assert rows[0].handled == 1.0 and rows[0].message == ""
    assert (rows[1].start, rows[1].message, rows[1].handled) == ("", "too many slots", 1.0)  # rejected: no range


def test_a_cancel_sent_and_not_acted_on_shows_on_the_open_backfill_only() -> None:
    done = backfill("old", "Cancelled", running=0, pending=0, message="cancelled: 1 pending slot dropped")
    item = annotated(sj(status={"backfills": [done, backfill()]}), {"punctual.dev/backfill-cancel": f"old,{BF}"})
    assert [(r.token, r.cancelling) for r in views.backfill_rows(item)] == [("old", False), (BF, True)]


@pytest.mark.parametrize(
    ("name", "status", "annotations", "state", "final", "text"),
    [
        (
            "not picked up yet",
            {},
            {},
            "waiting",
            False,
            f"Backfill {BF} requested; waiting for the operator to pick it up.",
        ),
        (
            "running",
            {"lastHandledBackfillRequest": BF, "backfills": [backfill()]},
            {},
            "running",
            False,
            f"Backfill {BF} Running: 2/6 done (1 failed), 2 running, 1 pending, 1 skipped (existing)",
        ),
        (
            "cancel sent",
            {"lastHandledBackfillRequest": BF, "backfills": [backfill()]},
            {"punctual.dev/backfill-cancel": BF},
            "cancelling",
            False,
            f"Cancel requested. Backfill {BF} Running: 2/6 done (1 failed), 2 running, 1 pending, 1 skipped (existing)",
        ),
        (
            "completed",
            {"backfills": [backfill(state="Completed", done=5, running=0, pending=0)]},
            {},
            "completed",
            True,
            f"Backfill {BF} Completed: 5 run (1 failed), 1 skipped (existing) of 6",
        ),
        (
            "cancelled",
            {"backfills": [backfill(state="Cancelled", pending=0, message="cancelled: 1 pending slot dropped")]},
            {"punctual.dev/backfill-cancel": BF},
            "cancelled",
            True,
            f"Backfill {BF} Cancelled: 2 run (1 failed), 2 still running, 1 skipped (existing) of 6; "
            "cancelled: 1 pending slot dropped",
        ),
        (
            "rejected",
            {"backfills": [{"token": BF, "state": "Rejected", "message": "the range has more than 10000 slots"}]},
            {},
            "rejected",
            True,
            f"Backfill {BF} Rejected: the range has more than 10000 slots",
        ),
        (
            "handled, pruned from the status",
            {"lastHandledBackfillRequest": BF},
            {},
            "gone",
            True,
            f"Backfill {BF} was handled; it is no longer in the status.",
        ),
    ],
)
def test_backfill_outcome(
    name: str, status: dict[str, Any], annotations: dict[str, str], state: str, final: bool, text: str
) -> None:
    outcome = views.backfill_outcome(annotated(sj(status=status), annotations), BF)
    assert (outcome.token, outcome.state, outcome.final, outcome.text) == (BF, state, final, text), name


def test_the_backfill_form_reads_as_the_flags() -> None:
    form = views.backfill_form(
        {"from": "2026-11-20T00:00:00Z", "to": "2026-11-20T05:00", "parallel": "3"}, zone="Europe/Berlin"
    )
    assert form.start == datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
    assert form.end == datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # a local time is the job's zone's
    assert form.parallel == 3
    assert (
        views.backfill_form(
            {"from": "2026-11-20T00:00:00Z", "to": "2026-11-20T01:00:00Z", "parallel": ""}, zone="UTC"
        ).parallel
        == 1
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"from": "2026-11-20T00:00:00Z"}, "error: give both --from and --to"),
        ({"from": " ", "to": "2026-11-20T00:00:00Z"}, "error: give both --from and --to"),
        (
            {"from": "yesterday", "to": "2026-11-20T00:00:00Z"},
            "error: invalid --from 'yesterday'; use RFC 3339, e.g. 2026-11-23T10:00:00Z",
        ),
        (
            {"from": "2026-11-20T00:00:00Z", "to": "2026-13-01"},
            "error: invalid --to '2026-13-01'; use RFC 3339, e.g. 2026-11-23T10:00:00Z",
        ),
        (
            {"from": "2026-11-20T00:00:00Z", "to": "2026-11-20T01:00:00Z", "parallel": "two"},
            "error: --parallel must be a whole number, got 'two'",
        ),
    ],
)
def test_a_bad_backfill_form_is_refused_with_the_flags_words(fields: dict[str, str], message: str) -> None:
    with pytest.raises(InputError) as refused:
        views.backfill_form(fields, zone="UTC")
    assert refused.value.message == message
    page = views.error_page(refused.value)
    assert (page.status, page.title, page.message) == (400, "Bad request", message.removeprefix("error: "))
