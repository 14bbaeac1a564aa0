"""The next slots of a ScheduledJob, computed with the operator's own schedule code. Pure.

``kubectl sj next`` must agree with the operator to the millisecond, so it builds the schedule
exactly as the operator does (:func:`punctual.core.build_schedule`: ``H`` hashed from
``namespace/name``, ``@every`` anchored at creation, the spec's time zone) and applies the same
per-slot jitter (:func:`punctual.schedule.jitter_offset`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from kubectl_sj.errors import InputError
from kubectl_sj.objects import ScheduledJob, default_time_zone
from punctual.core import SpecError, build_schedule
from punctual.core.exclusions import LOOKAHEAD, Calendars, RuleError, exclusions_of
from punctual.durations import DurationError, parse_duration
from punctual.schedule import ScheduleError, jitter_offset, load_zone

__all__ = ["Slot", "SlotError", "next_slots", "parse_from", "parse_time_flag"]


class SlotError(ValueError):
    """The spec cannot be scheduled (the message is the operator's), or a bad ``--from``."""


@dataclass(frozen=True)
class Slot:
    """One upcoming run: its scheduled time and when it starts (the slot plus its jitter)."""

    slot: datetime
    start: datetime
    zone: ZoneInfo
    excluded: str | None = None
    """Why the slot will not run (an exclusion rule, a missing Calendar), as the operator records it."""

    @property
    def jitter(self) -> timedelta:
        return self.start - self.slot


def next_slots(
    sj: ScheduledJob, *, after: datetime, count: int, calendars: Calendars | None = None, excluded: bool = False
) -> list[Slot]:
    """The first ``count`` slots strictly after ``after`` that will run (fewer if the schedule ends).

    With spec.exclude or spec.calendars (``calendars``: the namespace's Calendars), excluded slots
    are looked past as the operator does; ``excluded`` lists them too, each saying why.
    """
    subject = sj.subject()
    if subject is None or sj.spec is None:
        raise SlotError(f"invalid spec: {sj.spec_error}")
    if not sj.spec.expressions():
        upstreams = ", ".join(d.name for d in sj.spec.dependsOn or [])
        raise SlotError(f"{sj.name} has no schedule: it runs after its upstreams ({upstreams})")
    try:
        schedule = build_schedule(subject, default_time_zone=default_time_zone())
        limit = parse_duration(sj.spec.jitter) if sj.spec.jitter else timedelta(0)
        exclusions = exclusions_of(sj.spec, calendars) if sj.spec.exclude or sj.spec.calendars else None
    except (SpecError, DurationError) as exc:
        raise SlotError(str(exc)) from exc
    except RuleError as exc:
        raise SlotError(f"spec.exclude: {exc}") from exc
    if exclusions is not None and exclusions.problem is not None and not excluded:
        return []  # no slot runs while a Calendar is missing or invalid
    out: list[Slot] = []
    cursor = after
    looked = 0
    while sum(1 for s in out if s.excluded is None) < count and looked < count + LOOKAHEAD:
        nxt = schedule.next_after(cursor)
        if nxt is None:
            break
        looked += 1
        cursor = nxt
        verdict = exclusions.verdict(nxt, schedule.zone) if exclusions is not None else None
        if verdict is not None and not excluded:
            continue
        why = _why(*verdict) if verdict is not None else None
        out.append(Slot(slot=nxt, start=nxt + jitter_offset(subject.key, nxt, limit), zone=schedule.zone, excluded=why))
    return out


def _why(reason: str, message: str) -> str:
    """The operator's record message without its leading "slot TIME" (the row shows the slot)."""
    rest = message.split(" ", 2)[-1]
    return rest if reason == "Excluded" else f"{reason}: {rest.removeprefix('not run: ')}"


def parse_time_flag(text: str, *, flag: str, zone: str) -> datetime:
    """``--from``/``--to`` of ``kubectl sj backfill`` (and the UI's backfill form): as :func:`parse_from`,
    the error naming ``flag``."""
    try:
        return parse_from(text, zone=zone)
    except SlotError:
        raise InputError(f"error: invalid {flag} {text!r}; use RFC 3339, e.g. 2026-11-23T10:00:00Z") from None


def parse_from(text: str, *, zone: str) -> datetime:
    """``--from``: RFC 3339 (with an offset or Z), or a local time in the job's zone."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise SlotError(f"invalid --from {text!r}; use RFC 3339, e.g. 2026-11-23T10:00:00Z") from exc
    if value.tzinfo is None:
        try:
            value = value.replace(tzinfo=load_zone(zone))
        except ScheduleError as exc:
            raise SlotError(str(exc)) from exc
    return value
