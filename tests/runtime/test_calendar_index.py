"""The operator's Calendar index (punctual.runtime.calendars): what the core gets as ``calendars``,
and which ScheduledJobs a Calendar's change wakes (only those of this shard, in its namespace, that
name it; only when its rules changed)."""

from __future__ import annotations

from typing import Any

from punctual.bodies import ScheduledJobBody
from punctual.runtime.calendars import CalendarIndex

Key = tuple[str, str]


def sj(namespace: str, name: str, *calendars: str) -> ScheduledJobBody:
    return {"metadata": {"namespace": namespace, "name": name}, "spec": {"calendars": list(calendars)}}


def cal(namespace: str, name: str, *rules: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": namespace, "name": name}, "spec": {"exclude": list(rules)}}


def index(*bodies: ScheduledJobBody, mine: Any = lambda key: True) -> tuple[CalendarIndex, list[Key]]:
    woken: list[Key] = []
    sjs = {(str(b["metadata"]["namespace"]), str(b["metadata"]["name"])): b for b in bodies}
    return CalendarIndex(sjs=sjs, mine=mine, wake=woken.append), woken


def test_a_new_calendar_wakes_the_scheduledjobs_that_name_it_in_its_namespace() -> None:
    calendars, woken = index(sj("a", "x", "hol"), sj("a", "y"), sj("b", "z", "hol"), sj("a", "w", "other", "hol"))
    calendars.on_event("ADDED", cal("a", "hol", "2026-12-25"))
    assert woken == [("a", "w"), ("a", "x")]
    assert calendars.namespace("a") == {"hol": ("2026-12-25",)}
    assert calendars.namespace("b") == {}


def test_an_unchanged_calendar_wakes_nobody_a_changed_or_deleted_one_does() -> None:
    calendars, woken = index(sj("a", "x", "hol"))
    calendars.on_event("ADDED", cal("a", "hol", "2026-12-25"))
    calendars.on_event("MODIFIED", cal("a", "hol", "2026-12-25"))
    assert woken == [("a", "x")]
    calendars.on_event("MODIFIED", cal("a", "hol", "2026-12-26"))
    calendars.on_event("DELETED", cal("a", "hol"))
    assert woken == [("a", "x")] * 3
    assert calendars.namespace("a") == {}


def test_another_shards_scheduledjobs_are_not_woken() -> None:
    calendars, woken = index(sj("a", "x", "hol"), sj("a", "y", "hol"), mine=lambda key: key[1] == "y")
    calendars.on_event("ADDED", cal("a", "hol"))
    assert woken == [("a", "y")]


def test_a_relist_drops_the_calendars_that_went_meanwhile_in_its_namespace_only() -> None:
    calendars, woken = index(sj("a", "x", "gone"))
    calendars.on_listed(None, [cal("a", "gone", "2026-01-01"), cal("b", "kept")])
    woken.clear()
    calendars.on_listed("a", [])
    assert woken == [("a", "x")]
    assert calendars.namespace("a") == {} and calendars.namespace("b") == {"kept": ()}


def test_an_unreadable_spec_is_kept_as_none_for_the_core_to_report() -> None:
    calendars, _ = index()
    calendars.on_event("ADDED", cal("a", "bad", 5))
    calendars.on_event("ADDED", {"metadata": {"namespace": "a", "name": "odd"}, "spec": {"exclude": "2026-12-25"}})
    assert calendars.namespace("a") == {"bad": None, "odd": None}
