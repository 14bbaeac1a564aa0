"""Leader election on a Lease: the pure rule table-driven, and the Elector loop under looptime
against an in-memory Lease store (no server)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from punctual.runtime.kube import ApiError, ClusterUnreachable
from punctual.runtime.leadership import (
    Election,
    Elector,
    LeaseRecord,
    Observed,
    decide,
    is_leader,
    lease_body,
    next_record,
    next_try,
    observe,
    released,
)
from punctual.runtime.scheduler import LoopClock

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)


def lease(
    holder: str, *, version: str = "1", duration: int = 15, renew: str = "2026-03-01T12:00:00.000000Z"
) -> dict[str, Any]:
    return {
        "metadata": {"name": "punctual-leader", "namespace": "ops", "resourceVersion": version},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": duration, "renewTime": renew, "leaseTransitions": 3},
    }


# (name, lease seen first at T0 (or None), then read again at T0 + later with version, expected action)
DECIDE_CASES = [
    ("no lease: create it", None, 0, "1", "create"),
    ("held by another, fresh: wait", lease("other"), 5, "1", "wait"),
    ("held by another, unchanged for 14.9 s of 15: wait", lease("other"), 14.9, "1", "wait"),
    ("held by another, unchanged for the lease duration: take", lease("other"), 15, "1", "take"),
    (
        "held by another, renewed at 14 s (new resourceVersion): the clock restarts, wait",
        lease("other"),
        14,
        "2",
        "wait",
    ),
    ("released (empty holder): take at once", lease(""), 0, "1", "take"),
    (
        "our own stale record (renewed an hour ago, before a restart): renew it",
        lease("me", renew="2026-03-01T11:00:00.000000Z"),
        0,
        "1",
        "renew",
    ),
    (
        "clock skew, holder's clock an hour behind: its renewTime looks expired, but it just changed here: wait",
        lease("other", renew="2026-03-01T11:00:00.000000Z"),
        1,
        "1",
        "wait",
    ),
    (
        "clock skew, holder's clock an hour ahead: its renewTime looks fresh, but unchanged for 20 s here: take",
        lease("other", renew="2026-03-01T13:00:00.000000Z"),
        20,
        "1",
        "take",
    ),
    (
        "a short lease (the holder's leaseDurationSeconds, not ours): take after 3 s",
        lease("other", duration=3),
        3,
        "1",
        "take",
    ),
]


@pytest.mark.parametrize(
    ("body", "later", "version", "expected"), [c[1:] for c in DECIDE_CASES], ids=[c[0] for c in DECIDE_CASES]
)
def test_decide(body: dict[str, Any] | None, later: float, version: str, expected: str) -> None:
    first = observe(None, body, now=T0)
    again = None if body is None else {**body, "metadata": {**body["metadata"], "resourceVersion": version}}
    observed = observe(first, again, now=T0 + later * S)
    assert decide(observed, me="me", now=T0 + later * S) == expected


def test_observe_keeps_the_first_sighting_of_a_version_and_restarts_on_a_new_one() -> None:
    first = observe(None, lease("other", version="7"), now=T0)
    assert first is not None and first.at == T0 and not first.written
    assert observe(first, lease("other", version="7"), now=T0 + 9 * S) is first
    moved = observe(first, lease("other", version="8"), now=T0 + 9 * S)
    assert moved is not None and moved.at == T0 + 9 * S and moved.version == "8"
    assert observe(first, None, now=T0 + S) is None, "the Lease was deleted: create it again"


def written(holder: str, at: datetime) -> Observed:
    return Observed(record=LeaseRecord(holder=holder, duration=15), version="5", at=at, written=True)


IS_LEADER_CASES = [
    ("no lease", None, 0, False),
    ("our write, just now", written("me", T0), 0, True),
    ("our write, 9.9 s ago (deadline 10 s)", written("me", T0), 9.9, True),
    ("our write, 10 s ago: past the renew deadline, stepped down", written("me", T0), 10, False),
    ("another's record", written("other", T0), 0, False),
    (
        "a record naming us that we only read (stale, from before a restart)",
        Observed(LeaseRecord("me", 15), "5", T0),
        0,
        False,
    ),
]


@pytest.mark.parametrize(
    ("observed", "later", "expected"), [c[1:] for c in IS_LEADER_CASES], ids=[c[0] for c in IS_LEADER_CASES]
)
def test_is_leader(observed: Observed | None, later: float, expected: bool) -> None:
    assert is_leader(observed, me="me", now=T0 + later * S, renew_deadline=10) is expected


NEXT_TRY_CASES = [
    ("no lease yet: the retry period", None, 0, 2.0),
    ("another's lease, 10 s left: the retry period", lease("other"), 5, 2.0),
    ("another's lease, 0.5 s left: wake at its expiry", lease("other"), 14.5, 0.5),
    ("another's lease expired (a take failed): the retry period, no busy loop", lease("other"), 20, 2.0),
    ("our own lease: renew every retry period", lease("me"), 14.5, 2.0),
    ("released: the retry period", lease(""), 0, 2.0),
]


@pytest.mark.parametrize(
    ("body", "later", "expected"), [c[1:] for c in NEXT_TRY_CASES], ids=[c[0] for c in NEXT_TRY_CASES]
)
def test_next_try(body: dict[str, Any] | None, later: float, expected: float) -> None:
    observed = observe(None, body, now=T0)
    assert next_try(observed, me="me", now=T0 + later * S, election=Election()) == pytest.approx(expected)


def test_records_written_as_client_go_writes_them() -> None:
    election = Election()
    held = observe(
        None, {**lease("me"), "spec": {**lease("me")["spec"], "acquireTime": "2026-03-01T11:00:00.000000Z"}}, now=T0
    )
    renewed = next_record("renew", held, me="me", now=T0, election=election)
    assert renewed == LeaseRecord("me", 15, "2026-03-01T11:00:00.000000Z", "2026-03-01T12:00:00.000000Z", 3)
    taken = next_record("take", observe(None, lease("other"), now=T0), me="me", now=T0 + S, election=election)
    assert (taken.holder, taken.transitions, taken.acquire_time) == ("me", 4, "2026-03-01T12:00:01.000000Z")
    assert next_record("create", None, me="me", now=T0, election=election).transitions == 0
    assert held is not None
    gone = released(held, now=T0)
    assert (gone.holder, gone.duration, gone.transitions) == ("", 1, 3), "client-go's ReleaseOnCancel"
    body = lease_body("l", "ops", gone, version="9")
    assert body["metadata"] == {"name": "l", "namespace": "ops", "resourceVersion": "9"}
    assert body["spec"]["holderIdentity"] == ""


def test_election_timings_are_checked() -> None:
    with pytest.raises(ValueError, match="lease duration > renew deadline > retry period"):
        Election(lease_duration=10, renew_deadline=10, retry_period=2)


class FakeLeases:
    """One Lease with resourceVersions and 409 on a stale write, as the API server keeps it."""

    def __init__(self) -> None:
        self.body: dict[str, Any] | None = None
        self.version = 0
        self.down = False
        self.writes: list[str] = []

    async def _check(self) -> None:
        await asyncio.sleep(0)  # a request yields: two replicas can both read before either writes
        if self.down:
            raise ClusterUnreachable("down")

    def _store(self, body: Mapping[str, Any]) -> dict[str, Any]:
        self.version += 1
        self.body = {"metadata": {**body["metadata"], "resourceVersion": str(self.version)}, "spec": dict(body["spec"])}
        self.writes.append(str(body["spec"]["holderIdentity"]))
        return self.body

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        await self._check()
        return self.body

    async def create_lease(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        await self._check()
        if self.body is not None:
            raise ApiError(409, "AlreadyExists", "exists")
        return self._store(body)

    async def replace_lease(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        await self._check()
        if self.body is None or body["metadata"].get("resourceVersion") != self.body["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", "the object has been modified")
        return self._store(body)


def elector(me: str, changes: list[tuple[float, str, bool]], start: float) -> Elector:
    loop = asyncio.get_running_loop()
    return Elector(
        name="punctual-leader",
        namespace="ops",
        me=me,
        clock=LoopClock(T0, loop),
        election=Election(),
        on_change=lambda leader: changes.append((loop.time() - start, me, leader)),
    )


@pytest.mark.asyncio
@pytest.mark.looptime
async def test_a_standby_takes_over_within_the_lease_duration_and_a_release_hands_over_at_once() -> None:
    api = FakeLeases()
    start = asyncio.get_running_loop().time()
    changes: list[tuple[float, str, bool]] = []
    a, b = elector("a", changes, start), elector("b", changes, start)
    task_a = asyncio.create_task(a.run(api))
    await asyncio.sleep(1)
    task_b = asyncio.create_task(b.run(api))
    await asyncio.sleep(30)
    assert changes == [(0, "a", True)], "b stands by while a renews"
    assert api.writes.count("a") == 16 and "b" not in api.writes  # one write per 2 s retry

    task_a.cancel()  # a dies silently at 31 s (SIGKILL: no release); its last renewal was at 30 s
    await asyncio.gather(task_a, return_exceptions=True)
    await asyncio.sleep(20)
    took = [t for t, who, leader in changes if who == "b" and leader]
    # b saw a's last renewal (30 s) at its try at 31 s, and takes exactly 15 s later by its clock.
    assert len(took) == 1 and took[0] == 31 + 15, changes

    # b shuts down cleanly: released, a new replica c takes it at its next retry.
    task_b.cancel()
    await asyncio.gather(task_b, return_exceptions=True)
    await b.release(api)
    released_at = asyncio.get_running_loop().time() - start
    assert api.body is not None and api.body["spec"]["holderIdentity"] == ""
    c = elector("c", changes, start)
    c.observed = observe(None, lease("b", version="0"), now=c.clock.now() - 60 * S)  # c watched b renew
    task_c = asyncio.create_task(c.run(api))
    await asyncio.sleep(3)
    assert [(who, leader) for t, who, leader in changes if t >= released_at] == [("c", True)]
    task_c.cancel()
    await asyncio.gather(task_c, return_exceptions=True)


@pytest.mark.asyncio
@pytest.mark.looptime
async def test_a_leader_that_cannot_renew_steps_down_at_the_renew_deadline() -> None:
    api = FakeLeases()
    start = asyncio.get_running_loop().time()
    changes: list[tuple[float, str, bool]] = []
    a = elector("a", changes, start)
    task = asyncio.create_task(a.run(api))
    await asyncio.sleep(5)  # renewed at 0, 2, 4
    api.down = True
    await asyncio.sleep(0.5)
    assert a.leading(a.clock.now())
    await asyncio.sleep(8.4)  # 13.9 s: 9.9 s since the renewal at 4 s
    assert a.leading(a.clock.now()) and changes == [(0, "a", True)]
    await asyncio.sleep(0.2)  # 14.1 s: leading() is false at once, before the loop's next try
    assert not a.leading(a.clock.now())
    await asyncio.sleep(2)
    assert changes == [(0, "a", True), (14, "a", False)]
    api.down = False  # nobody took it meanwhile: a renews its own record and leads again
    await asyncio.sleep(2)  # 18.1 s: the try at 18 s succeeds
    assert changes[-1] == (18, "a", True)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@pytest.mark.asyncio
@pytest.mark.looptime
async def test_release_after_a_renewal_it_did_not_see_land_still_releases() -> None:
    api = FakeLeases()
    changes: list[tuple[float, str, bool]] = []
    a = elector("a", changes, asyncio.get_running_loop().time())
    await a.attempt(api)
    assert a.observed is not None
    api._store(
        lease_body("punctual-leader", "ops", next_record("renew", a.observed, me="a", now=T0, election=Election()))
    )
    await a.release(api)  # its version is stale: 409, read again, still ours, released
    assert api.body is not None and api.body["spec"]["holderIdentity"] == "" and api.writes == ["a", "a", ""]
    api._store(lease_body("punctual-leader", "ops", LeaseRecord("c", 15)))
    a.observed = Observed(LeaseRecord("a", 15), "1", T0, written=True)
    await a.release(api)  # stale, and the Lease is c's now: left alone
    assert api.body["spec"]["holderIdentity"] == "c"


@pytest.mark.asyncio
@pytest.mark.looptime
async def test_two_standbys_racing_for_a_free_lease_elect_one() -> None:
    api = FakeLeases()
    start = asyncio.get_running_loop().time()
    changes: list[tuple[float, str, bool]] = []
    tasks = [asyncio.create_task(elector(me, changes, start).run(api)) for me in ("a", "b")]
    await asyncio.sleep(11)
    assert [(who, leader) for _, who, leader in changes] == [("a", True)], "one create wins, the other gets 409"
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
