"""Leader election on a ``coordination.k8s.io/v1`` Lease, as client-go's ``leaderelection`` does it.

The rule is pure (:func:`observe`, :func:`decide`, :func:`next_record`, :func:`released`,
:func:`is_leader`: functions of the Lease and ``now``); :class:`Elector` is the loop that reads and
writes the Lease through :mod:`punctual.runtime.kube` every retry period.

As in client-go, expiry is judged by the *local* time at which this replica saw the Lease's
resourceVersion change (client-go's ``observedTime``), never by the holder's ``renewTime``: the two
clocks need not agree, only tick at the same rate. A holder that stops renewing is replaced once its
record has stood unchanged for ``leaseDurationSeconds`` here; the holder itself stops leading
``renew_deadline`` after its last successful write (shorter than the lease duration, so the old
leader has stopped before a standby may take over). A clean shutdown releases the Lease the way
client-go's ``ReleaseOnCancel`` does (holder emptied, ``leaseDurationSeconds: 1``), and a standby
takes it at its next retry.

Unlike client-go, a standby retries every ``retry_period`` without jitter, so that a released Lease
is taken within one retry period; two standbys racing are resolved by the resourceVersion (one
update wins, the other gets 409 Conflict).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from punctual.runtime.kube import ApiError, ClusterUnreachable
from punctual.runtime.scheduler import Clock

__all__ = [
    "Action",
    "Election",
    "Elector",
    "LeaseApi",
    "LeaseRecord",
    "Observed",
    "decide",
    "is_leader",
    "lease_body",
    "next_record",
    "next_try",
    "observe",
    "released",
]

log = logging.getLogger("punctual")

Action = Literal["create", "take", "renew", "wait"]


@dataclass(frozen=True)
class Election:
    """client-go's timings: lease duration 15 s, renew deadline 10 s, retry period 2 s."""

    lease_duration: int = 15  # whole seconds: a Lease stores leaseDurationSeconds as an integer
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not self.lease_duration > self.renew_deadline > self.retry_period > 0:
            raise ValueError(
                "leader election needs lease duration > renew deadline > retry period > 0, got "
                f"{self.lease_duration} s, {self.renew_deadline} s, {self.retry_period} s"
            )


@dataclass(frozen=True)
class LeaseRecord:
    """A Lease's spec: who holds it and for how long. Times are the holder's, kept as written."""

    holder: str = ""
    duration: int = 0
    acquire_time: str | None = None
    renew_time: str | None = None
    transitions: int = 0

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> LeaseRecord:
        spec = body.get("spec") or {}
        try:
            duration = int(spec.get("leaseDurationSeconds") or 0)
            transitions = int(spec.get("leaseTransitions") or 0)
        except (TypeError, ValueError):
            duration, transitions = 0, 0
        return cls(
            holder=str(spec.get("holderIdentity") or ""),
            duration=duration,
            acquire_time=spec.get("acquireTime"),
            renew_time=spec.get("renewTime"),
            transitions=transitions,
        )


@dataclass(frozen=True)
class Observed:
    """The Lease as this replica last saw it.

    ``at`` is the local time its resourceVersion was first seen (or, ``written``, the time this
    replica's own write of it succeeded). Only a record this replica wrote makes it the leader: a
    record naming it that it merely read (its own, from before a restart) is renewed first.
    """

    record: LeaseRecord
    version: str
    at: datetime
    written: bool = False


def observe(previous: Observed | None, body: Mapping[str, Any] | None, *, now: datetime) -> Observed | None:
    """Fold a read of the Lease into what was observed before. Pure.

    A new resourceVersion restarts the clock at ``now``; the same one keeps the earlier time (and
    whether it was our write). No Lease: ``None``.
    """
    if body is None:
        return None
    version = str((body.get("metadata") or {}).get("resourceVersion") or "")
    if previous is not None and version and previous.version == version:
        return previous
    return Observed(record=LeaseRecord.from_body(body), version=version, at=now)


def decide(observed: Observed | None, *, me: str, now: datetime) -> Action:
    """What to do with the Lease at ``now``: client-go's ``tryAcquireOrRenew``. Pure.

    No Lease: create it. Ours (even a stale record of ours): renew it. Held by another whose record
    changed less than its lease duration ago by our clock: wait. Otherwise (expired, or released
    with an empty holder): take it.
    """
    if observed is None:
        return "create"
    record = observed.record
    if record.holder == me:
        return "renew"
    if record.holder and now < observed.at + timedelta(seconds=record.duration):
        return "wait"
    return "take"


def _micro_time(now: datetime) -> str:
    # A Lease's times are MicroTime: the API server parses exactly six fractional digits.
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def next_record(
    action: Action, observed: Observed | None, *, me: str, now: datetime, election: Election
) -> LeaseRecord:
    """The record to write for ``action`` (not ``wait``): a renewal keeps the acquire time, a take
    counts one more transition. Pure."""
    stamp = _micro_time(now)
    fresh = LeaseRecord(holder=me, duration=election.lease_duration, acquire_time=stamp, renew_time=stamp)
    if observed is None or action == "create":
        return fresh
    old = observed.record
    if action == "renew":
        return replace(fresh, acquire_time=old.acquire_time or stamp, transitions=old.transitions)
    return replace(fresh, transitions=old.transitions + 1)


def released(observed: Observed, *, now: datetime) -> LeaseRecord:
    """client-go's ``release``: no holder, a one-second lease, the transitions kept. Pure."""
    stamp = _micro_time(now)
    return LeaseRecord(
        holder="", duration=1, acquire_time=stamp, renew_time=stamp, transitions=observed.record.transitions
    )


def is_leader(observed: Observed | None, *, me: str, now: datetime, renew_deadline: float = 10.0) -> bool:
    """Whether this replica may start runs at ``now``. Pure.

    Only while the last record it *wrote* names it and that write is less than ``renew_deadline``
    old: a leader whose renewals fail steps down at the deadline, before its lease (longer) expires
    for the standbys.
    """
    if observed is None or not observed.written or observed.record.holder != me:
        return False
    return now - observed.at < timedelta(seconds=renew_deadline)


def next_try(observed: Observed | None, *, me: str, now: datetime, election: Election) -> float:
    """Seconds until the next try: the retry period, or less when another's lease expires sooner. Pure.

    A standby retrying on its 2 s grid would take an expired lease up to a retry period late; it
    wakes at the expiry instead (client-go does not, which costs it up to one retry period).
    """
    if observed is None or not observed.record.holder or observed.record.holder == me:
        return election.retry_period
    remaining = (observed.at + timedelta(seconds=observed.record.duration) - now).total_seconds()
    return remaining if 0 < remaining < election.retry_period else election.retry_period


def lease_body(name: str, namespace: str, record: LeaseRecord, *, version: str | None = None) -> dict[str, Any]:
    """The Lease object for a create (no ``version``) or a replace (optimistic: with ``version``)."""
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if version:
        metadata["resourceVersion"] = version
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": {
            "holderIdentity": record.holder,
            "leaseDurationSeconds": record.duration,
            "acquireTime": record.acquire_time,
            "renewTime": record.renew_time,
            "leaseTransitions": record.transitions,
        },
    }


class LeaseApi(Protocol):
    """The Lease calls :class:`punctual.runtime.kube.Kube` makes."""

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def create_lease(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]: ...

    async def replace_lease(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]: ...


class Elector:
    """One replica's side of the election: ``run`` acquires and renews until cancelled; ``release``
    hands the Lease over at a clean shutdown; ``leading(now)`` is the rule at any moment."""

    def __init__(
        self,
        *,
        name: str,
        namespace: str,
        me: str,
        clock: Clock,
        election: Election,
        on_change: Callable[[bool], None],
    ) -> None:
        self.name, self.namespace, self.me = name, namespace, me
        self.clock, self.election, self.on_change = clock, election, on_change
        self.observed: Observed | None = None
        self.leader = False
        self._failing = False

    @property
    def where(self) -> str:
        return f"{self.namespace}/{self.name}"

    def leading(self, now: datetime) -> bool:
        return is_leader(self.observed, me=self.me, now=now, renew_deadline=self.election.renew_deadline)

    async def attempt(self, api: LeaseApi) -> None:
        """One read and, when the rule says so, one write of the Lease (client-go's tryAcquireOrRenew)."""
        now = self.clock.now()
        self.observed = observe(self.observed, await api.get_lease(self.namespace, self.name), now=now)
        action = decide(self.observed, me=self.me, now=now)
        if action == "wait":
            return
        record = next_record(action, self.observed, me=self.me, now=now, election=self.election)
        if action == "create":
            written = await api.create_lease(self.namespace, lease_body(self.name, self.namespace, record))
        else:
            assert self.observed is not None
            body = lease_body(self.name, self.namespace, record, version=self.observed.version)
            written = await api.replace_lease(self.namespace, self.name, body)
        version = str((written.get("metadata") or {}).get("resourceVersion") or "")
        self.observed = Observed(
            record=LeaseRecord.from_body(written), version=version, at=self.clock.now(), written=True
        )

    async def run(self, api: LeaseApi) -> None:
        """Try every retry period; report leadership changes to ``on_change``. Runs until cancelled."""
        while True:
            try:
                async with asyncio.timeout(self.election.renew_deadline):
                    await self.attempt(api)
                if self._failing:
                    log.info("lease %s: reachable again", self.where)
                self._failing = False
            except (ApiError, ClusterUnreachable, TimeoutError) as exc:
                if isinstance(exc, ApiError) and exc.status == 409:
                    pass  # another replica wrote first: read again at the next retry
                elif not self._failing:
                    log.warning(
                        "lease %s: %s; retrying every %g s", self.where, exc or "timed out", self.election.retry_period
                    )
                    self._failing = True
            self._report()
            await asyncio.sleep(next_try(self.observed, me=self.me, now=self.clock.now(), election=self.election))

    def _report(self) -> None:
        leader = self.leading(self.clock.now())
        if leader != self.leader:
            self.leader = leader
            if leader:
                log.info("lease %s acquired: %s is the leader and starts runs", self.where, self.me)
            else:
                holder = self.observed.record.holder if self.observed else ""
                log.warning(
                    "lease %s lost (%s): %s stops starting runs",
                    self.where,
                    f"held by {holder}" if holder and holder != self.me else "not renewed within the renew deadline",
                    self.me,
                )
            self.on_change(leader)

    async def release(self, api: LeaseApi) -> None:
        """At a clean shutdown: empty the holder so that a standby takes over at its next retry.

        A renewal cut short by the shutdown may have landed unseen (409 on the version we know):
        read the Lease once more and release it if it is still ours.
        """
        observed = self.observed
        self.leader = False
        if observed is None or not observed.written or observed.record.holder != self.me:
            return
        try:
            async with asyncio.timeout(self.election.retry_period):
                for last in (False, True):
                    record = released(observed, now=self.clock.now())
                    body = lease_body(self.name, self.namespace, record, version=observed.version)
                    try:
                        await api.replace_lease(self.namespace, self.name, body)
                        break
                    except ApiError as exc:
                        if exc.status != 409 or last:
                            raise
                    current = observe(None, await api.get_lease(self.namespace, self.name), now=self.clock.now())
                    if current is None or current.record.holder != self.me:
                        return  # another replica holds it already
                    observed = current
        except (ApiError, ClusterUnreachable, TimeoutError) as exc:
            log.warning(
                "lease %s not released (%s): a standby takes over when it expires", self.where, exc or "timed out"
            )
            return
        self.observed = None
        log.info("lease %s released", self.where)
