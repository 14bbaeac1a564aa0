"""Exclusions: ``spec.exclude`` and the Calendars of ``spec.calendars``, and which slot they keep from running. Pure.

A rule is a date (``2026-12-25``: that whole day), an inclusive date range
(``2026-12-24..2026-12-26``) or a cron expression (``* * 25 12 *``: each time it matches, to the
minute), all read in the schedule's time zone. A scheduled slot that a rule matches is recorded
Skipped with reason ``Excluded`` and the rule that matched. While a referenced Calendar is missing
(or has a bad rule) no scheduled slot runs: each is recorded Skipped with reason
``CalendarNotFound`` (``CalendarInvalid``), so a job never runs on a holiday by accident.

The Calendars are an input, as the upstreams are (:mod:`punctual.core.pipeline`): ``Calendars``
maps a Calendar's name in the ScheduledJob's namespace to its rules, as the operator's cache (or
``punctual simulate``'s input files) hold them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from punctual.api import ScheduledJobSpec, ScheduledJobStatus, format_time
from punctual.core.actions import Event
from punctual.core.conditions import set_condition
from punctual.core.spec import Subject
from punctual.schedule import ScheduleError, cron_matcher

__all__ = [
    "CONDITION",
    "LOOKAHEAD",
    "Calendars",
    "Exclusions",
    "Rule",
    "RuleError",
    "calendars_condition",
    "exclusions_of",
    "parse_rule",
    "rules_of",
]

CONDITION = "CalendarsValid"

LOOKAHEAD = 10_000
"""Most excluded slots looked past for ``status.nextScheduleTime`` (beyond: None, as if none is left)."""

Calendars = Mapping[str, Sequence[str] | None]
"""A namespace's Calendars: name -> its ``spec.exclude`` (None: the Calendar's spec is unreadable)."""

_DATES = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:\.\.(\d{4}-\d{2}-\d{2}))?$")
_MAX_RANGE = timedelta(days=3660)


class RuleError(ValueError):
    """A rule that cannot be read (its message says which and how to fix it)."""


@dataclass(frozen=True)
class Rule:
    """One exclusion rule and where it comes from (``spec.exclude`` or ``calendar NAME``)."""

    text: str
    source: str
    first: date | None = None
    last: date | None = None
    cron: Callable[[datetime], bool] | None = None

    def matches(self, wall: datetime) -> bool:
        """Whether the naive local time ``wall`` is excluded by this rule."""
        if self.cron is not None:
            return self.cron(wall)
        assert self.first is not None and self.last is not None
        return self.first <= wall.date() <= self.last

    def describe(self) -> str:
        return f'{self.source} "{self.text}"'


def _date(text: str, rule: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise RuleError(f"{rule!r}: {text} is not a date; use YYYY-MM-DD, e.g. 2026-12-25") from None


@functools.lru_cache(maxsize=20_000)
def parse_rule(text: str, *, source: str) -> Rule:
    """Read one rule, or RuleError."""
    stripped = " ".join(str(text).split())
    found = _DATES.match(stripped)
    if found is not None:
        first = _date(found.group(1), stripped)
        last = _date(found.group(2), stripped) if found.group(2) else first
        if last < first:
            raise RuleError(
                f"{stripped!r}: the range ends before it starts; write FIRST..LAST, e.g. 2026-12-24..2026-12-26"
            )
        if last - first > _MAX_RANGE:
            raise RuleError(f"{stripped!r}: a date range may span at most 3660 days")
        return Rule(text=stripped, source=source, first=first, last=last)
    if ".." in stripped or re.match(r"^\d{4}-", stripped):
        raise RuleError(f"{stripped!r} is not a date range; use YYYY-MM-DD..YYYY-MM-DD, e.g. 2026-12-24..2026-12-26")
    try:
        return Rule(text=stripped, source=source, cron=cron_matcher(stripped))
    except ScheduleError as exc:
        raise RuleError(f"{stripped!r} is neither a date, a date range nor a cron expression: {exc}") from None


def rules_of(texts: Sequence[str], *, source: str) -> tuple[Rule, ...]:
    """Every rule of a list, or RuleError naming the first bad one."""
    return tuple(parse_rule(t, source=source) for t in texts)


@dataclass(frozen=True)
class Exclusions:
    """What keeps a ScheduledJob's slots from running: its rules, and the Calendars it lacks."""

    rules: tuple[Rule, ...] = ()
    missing: tuple[str, ...] = ()
    """Calendars of spec.calendars that do not exist."""
    invalid: tuple[str, ...] = ()
    """Messages about Calendars whose rules cannot be read."""
    calendars: tuple[str, ...] = ()
    """spec.calendars, in order."""

    @property
    def problem(self) -> tuple[str, str] | None:
        """(reason, message) while no slot may run: a Calendar missing or invalid."""
        if self.missing:
            names = ", ".join(self.missing)
            noun = "Calendar" if len(self.missing) == 1 else "Calendars"
            return "CalendarNotFound", f"{noun} {names} not found: no scheduled slot runs until it exists"
        if self.invalid:
            return "CalendarInvalid", "; ".join(self.invalid) + ": no scheduled slot runs until it is fixed"
        return None

    def verdict(self, slot: datetime, zone: tzinfo) -> tuple[str, str] | None:
        """(reason, message) of a slot that does not run, or None: it may run."""
        problem = self.problem
        if problem is not None:
            return problem[0], f"slot {format_time(slot)} not run: {problem[1]}"
        wall = slot.astimezone(zone).replace(tzinfo=None)
        for rule in self.rules:
            if rule.matches(wall):
                return "Excluded", f"slot {format_time(slot)} excluded by {rule.describe()}"
        return None


def exclusions_of(spec: ScheduledJobSpec, calendars: Calendars | None) -> Exclusions:
    """The exclusions of a spec; RuleError for a bad ``spec.exclude`` (a spec error, like a bad schedule).

    A bad rule in a Calendar is the Calendar's problem, not the spec's: the ScheduledJob stays valid
    and runs nothing until the Calendar is fixed.
    """
    rules = list(rules_of(spec.exclude or [], source="spec.exclude"))
    names = tuple(dict.fromkeys(spec.calendars or []))
    available = calendars if calendars is not None else {}
    missing: list[str] = []
    invalid: list[str] = []
    for name in names:
        if name not in available:
            missing.append(name)
            continue
        texts = available[name]
        if texts is None:
            invalid.append(f"Calendar {name} has an unreadable spec.exclude")
            continue
        try:
            rules += rules_of(texts, source=f"calendar {name}")
        except RuleError as exc:
            invalid.append(f"Calendar {name}: {exc}")
    return Exclusions(rules=tuple(rules), missing=tuple(missing), invalid=tuple(invalid), calendars=names)


def calendars_condition(
    subject: Subject, status: ScheduledJobStatus, *, exclusions: Exclusions | None, now: datetime
) -> tuple[ScheduledJobStatus, tuple[Event, ...]]:
    """``CalendarsValid`` set (or dropped, without spec.calendars); a Warning Event when it turns False or changes."""
    if exclusions is None or not exclusions.calendars:
        status.conditions = [c for c in status.conditions if c.type != CONDITION]
        return status, ()
    before = next((c for c in status.conditions if c.type == CONDITION), None)
    problem = exclusions.problem
    if problem is None:
        value, reason, message = "True", "Found", f"calendars: {', '.join(exclusions.calendars)}"
    else:
        value, (reason, message) = "False", problem
    status.conditions = set_condition(
        status.conditions,
        type_=CONDITION,
        status=value,  # type: ignore[arg-type]
        reason=reason,
        message=message,
        now=now,
        generation=subject.generation,
    )
    if problem is None or (before is not None and before.status == "False" and before.message == message):
        return status, ()
    return status, (Event("Warning", reason, message),)
