"""resourceVersions compared for equality only (punctual.runtime.versions), and the caches that use the rule.

Each row is a sequence of bodies reaching the cache of one object (from the watch, a listing, or the
answer to our own request) and, for each, whether it replaces the cached copy. Versions are chosen
so that neither numeric nor string order would give the right answers.
"""

from __future__ import annotations

from typing import Any

import pytest

from punctual.bodies import ObjectMeta
from punctual.runtime.app import Operator
from punctual.runtime.settings import Settings
from punctual.runtime.versions import MEMORY, Source, Versions

W, L, OWN = Source.WATCH, Source.LISTING, Source.OWN
TICKET_BEFORE = "before"  # our own answer, with the ticket taken before the step preceding it

# (name, steps: (source, version[, uid]) or a ticket marker) -> admitted, one per body
CASES: list[tuple[str, list[Any], list[bool]]] = [
    ("the watch's versions in order replace each other", [(W, "9"), (W, "10"), (W, "b7")], [True, True, True]),
    ("the same version again is the same copy", [(W, "9"), (W, "9")], [True, True]),
    (
        "an event older than our own write's answer is dropped until the watch shows our version",
        [(W, "c"), (OWN, "a"), (W, "b"), (W, "a"), (W, "d")],
        [True, True, False, True, True],
    ),
    (
        "our own answer after the watch moved on past it is stale",
        [(W, "c"), (W, "a"), (W, "d"), (OWN, "a")],
        [True, True, True, False],
    ),
    ("a replayed event of a version already replaced is stale", [(W, "x"), (W, "y"), (W, "x")], [True, True, False]),
    (
        "a listing is always taken and ends the wait for our own version",
        [(W, "c"), (OWN, "a"), (L, "e"), (W, "f")],
        [True, True, True, True],
    ),
    (
        "our own answer is not taken when a listing came while it was in flight (the watch goes on from the list)",
        [(W, "c"), TICKET_BEFORE, (L, "e"), (OWN, "a"), (W, "f")],
        [True, True, False, True],
    ),
    (
        "an object recreated under the same name (another uid) starts afresh",
        [(W, "5", "u1"), (OWN, "7", "u1"), (W, "6", "u2")],
        [True, True, True],
    ),
    ("a body without a version is taken", [(W, "5"), (W, ""), (W, "5")], [True, True, True]),
]


@pytest.mark.parametrize(("steps", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_equality_only_rule(steps: list[Any], expected: list[bool]) -> None:
    versions = Versions()
    admitted: list[bool] = []
    ticket: int | None = None
    for step in steps:
        if step == TICKET_BEFORE:
            ticket = versions.ticket()
            continue
        source, version, *uid = step
        meta: ObjectMeta = {"uid": uid[0] if uid else "u1", "resourceVersion": version}
        admitted.append(versions.admit("k", meta, source, ticket=ticket if source is OWN else None))
        if source is OWN:
            ticket = None
    assert admitted == expected


# Should the watch skip our own version (older kopf batched events): (source, version, content) -> admitted.
CONTENT_CASES: list[tuple[str, list[tuple[Source, str, str]], list[bool]]] = [
    (
        "the watch skipped our version: the next event carries what we wrote, so it is newer",
        [(W, "c", "s0"), (OWN, "a", "s1"), (W, "b", "s0"), (W, "d", "s1"), (W, "e", "s1")],
        [True, True, False, True, True],
    ),
    (
        "an event that does not carry our write is older, whatever its version",
        [(W, "c", "s0"), (OWN, "a", "s1"), (W, "z", "s0"), (W, "a", "s1")],
        [True, True, False, True],
    ),
]


@pytest.mark.parametrize(("steps", "expected"), [c[1:] for c in CONTENT_CASES], ids=[c[0] for c in CONTENT_CASES])
def test_the_rule_where_the_watch_may_skip_versions(steps: list[tuple[Source, str, str]], expected: list[bool]) -> None:
    versions = Versions()
    admitted = [
        versions.admit("k", {"uid": "u1", "resourceVersion": version}, source, content=content)
        for source, version, content in steps
    ]
    assert admitted == expected


def test_release_ends_every_wait() -> None:
    versions = Versions()
    versions.admit("k", {"uid": "u1", "resourceVersion": "c"}, W, content="s0")
    versions.admit("k", {"uid": "u1", "resourceVersion": "a"}, OWN, content="s1")
    assert versions.waiting("k")
    assert not versions.admit("k", {"uid": "u1", "resourceVersion": "q"}, W, content="s2")
    versions.release()  # another replica writes now: its status is not ours, and the watch is the truth
    assert not versions.waiting("k")
    assert versions.admit("k", {"uid": "u1", "resourceVersion": "r"}, W, content="s3")


@pytest.mark.parametrize(
    "ending",
    [(W, "a"), (L, "e"), (W, "d", "s1"), "release"],
    ids=["the watch shows our version", "a listing", "an event carrying our write", "release"],
)
def test_a_wait_that_ends_lets_go_of_what_our_write_said(ending: Any) -> None:
    # Held after the wait, the content would keep a whole old status (its history) per ScheduledJob.
    class Written:
        alive = 0

        def __init__(self) -> None:
            Written.alive += 1

        def __del__(self) -> None:
            Written.alive -= 1

        def __eq__(self, other: object) -> bool:
            return other == "s1" or isinstance(other, Written)

        __hash__ = None  # type: ignore[assignment]

    versions = Versions()
    versions.admit("k", {"uid": "u1", "resourceVersion": "c"}, W, content="s0")
    versions.admit("k", {"uid": "u1", "resourceVersion": "a"}, OWN, content=Written())
    assert Written.alive == 1 and versions.waiting("k")
    if ending == "release":
        versions.release()
    else:
        source, version, *content = ending
        assert versions.admit("k", {"uid": "u1", "resourceVersion": version}, source, content=(content or [None])[0])
    assert not versions.waiting("k")
    assert Written.alive == 0


def test_only_the_last_few_replaced_versions_are_remembered() -> None:
    versions = Versions()
    for n in range(MEMORY + 3):
        assert versions.admit("k", {"uid": "u1", "resourceVersion": f"v{n}"}, W)
    newest = MEMORY + 2
    # The last MEMORY replaced versions are stale; older ones are forgotten (taken again, as new).
    replaced = range(newest - MEMORY, newest)
    stale = [versions.admit("k", {"uid": "u1", "resourceVersion": f"v{n}"}, OWN) for n in replaced]
    assert stale == [False] * MEMORY
    assert versions.admit("k", {"uid": "u1", "resourceVersion": "v1"}, OWN)


def sj(rv: str, *, written: str | None = None, generation: int = 1) -> dict[str, Any]:
    status = {"lastScheduleTime": written} if written else {}
    meta = {"namespace": "default", "name": "report", "uid": "u-report", "resourceVersion": rv}
    return {"metadata": {**meta, "generation": generation}, "spec": {}, "status": status}


def test_an_old_watch_event_after_our_status_write_does_not_put_the_old_status_back() -> None:
    op = Operator(Settings())
    key = ("default", "report")
    op.on_scheduledjob(None, sj("300"))  # listed
    ticket = op.cache.scheduledjob_ticket()
    # Our status write's answer (the writer hands it over with the ticket taken before the write) ...
    op.on_scheduledjob("MODIFIED", sj("1200", written="2026-01-05T10:30:00Z"), written=ticket)
    # ... then the watch's event of someone else's change made before ours (its version would compare
    # *greater* than ours as a string, and smaller as a number: neither is consulted).
    op.on_scheduledjob("MODIFIED", sj("900", generation=2))
    assert op.cache.raw_status(key) == {"lastScheduleTime": "2026-01-05T10:30:00Z"}
    # Should the watch skip our own version, an event that carries our status is newer.
    op.on_scheduledjob("MODIFIED", sj("1250", written="2026-01-05T10:30:00Z", generation=2))
    assert op.sjs[key]["metadata"]["resourceVersion"] == "1250"
    # Whatever comes after it is taken as usual.
    op.on_scheduledjob("MODIFIED", sj("1300", written="2026-01-05T11:00:00Z", generation=2))
    assert op.cache.raw_status(key) == {"lastScheduleTime": "2026-01-05T11:00:00Z"}
    assert op.sjs[key]["metadata"]["resourceVersion"] == "1300"


def test_a_replica_that_stops_leading_takes_the_watchs_copies_again() -> None:
    op = Operator(Settings())
    key = ("default", "report")
    op.on_scheduledjob(None, sj("300"))
    op.on_scheduledjob("MODIFIED", sj("1200", written="2026-01-05T10:30:00Z"), written=op.cache.scheduledjob_ticket())
    op._on_leadership(False)
    # The new leader's status write: not what this replica wrote, but the watch's copy is the truth now.
    op.on_scheduledjob("MODIFIED", sj("1400", written="2026-01-05T11:00:00Z"))
    assert op.cache.raw_status(key) == {"lastScheduleTime": "2026-01-05T11:00:00Z"}


def test_watch_events_without_our_own_writes_are_taken_in_the_order_they_come() -> None:
    op = Operator(Settings())
    key = ("default", "report")
    for rv in ("9", "10", "11"):  # "10" < "9" as strings: no order is assumed
        op.on_scheduledjob("MODIFIED", sj(rv, written=f"2026-01-05T10:{rv}:00Z"))
        assert op.sjs[key]["metadata"]["resourceVersion"] == rv


def job(rv: str, *, active: int) -> dict[str, Any]:
    owner = {"apiVersion": "punctual.dev/v1", "kind": "ScheduledJob", "name": "sj", "uid": "u-sj", "controller": True}
    meta = {
        "name": "sj-1",
        "namespace": "default",
        "uid": "u-sj-1",
        "resourceVersion": rv,
        "annotations": {"punctual.dev/scheduled-time": "2026-01-01T00:00:00Z"},
        "ownerReferences": [owner],
    }
    return {"metadata": meta, "spec": {}, "status": {"active": active}}


def test_a_job_read_back_is_not_overwritten_by_the_watch_catching_up() -> None:
    op = Operator(Settings())
    owner = ("default", "sj")
    op.on_job("ADDED", job("5", active=1))
    ticket = op.cache.job_ticket()
    op.cache.remember_job(owner, job("8", active=0), source=Source.OWN, ticket=ticket)  # a GET (adopting it)
    op.on_job("MODIFIED", job("6", active=1))  # the watch, behind the GET
    # (the cache keeps what observe_job reads, not the counters: the version says which copy it is)
    assert op.cache.job(owner, "sj-1")["metadata"]["resourceVersion"] == "8"
    op.on_job("MODIFIED", job("8", active=0))
    op.on_job("MODIFIED", job("9", active=2))
    assert op.cache.job(owner, "sj-1")["metadata"]["resourceVersion"] == "9"
