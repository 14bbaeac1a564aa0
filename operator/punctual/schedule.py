"""Schedule arithmetic: cron with seconds, macros, ``@every``, Jenkins ``H``, time zones and DST. Pure.

croniter parses and expands the fields (names, ranges, steps); the iteration over time is ours,
because the DST rules are a product promise and must be exact:

* A **fixed-time** slot (the hour field is not ``*``) that falls in a spring-forward gap runs once,
  at the first instant after the gap; one in a fall-back repeated hour runs once, at its first
  occurrence.
* A **wildcard-hour** schedule (hour field ``*``, e.g. ``*/15 * * * *``, ``@hourly``) follows
  elapsed real time: it keeps its spacing through both transitions.

``H`` tokens are hashed from a stable key (``namespace/name``), so a fleet of ScheduledJobs spreads
over the hour and each keeps its minute across restarts and replicas. ``@every D`` slots are
``anchor + k·D`` (k ≥ 1) with the anchor at the object's creation time.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from punctual.durations import DurationError, parse_duration

__all__ = ["MACROS", "Schedule", "ScheduleError", "cron_matcher", "jitter_offset", "load_zone"]

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# H ranges per field (seconds, minutes, hours, day of month, month, day of week). Day of month
# hashes within 1-28 so that the spread day exists in every month, as Jenkins does.
_H_RANGES = ((0, 59), (0, 59), (0, 23), (1, 28), (1, 12), (0, 6))
_H_TOKEN = re.compile(r"^H(?:\((\d+)-(\d+)\))?(?:/(\d+))?$")
_SEARCH_YEARS = 5  # a schedule that never fires within this many years is rejected as impossible
_MIN_EVERY = timedelta(seconds=1)
_RESOLUTION = timedelta(microseconds=1)  # a slot at exactly notBefore exists
_MAX_EVERY = timedelta(days=3660)  # ten years: longer intervals run past the calendar's end (year 9999)


class ScheduleError(ValueError):
    """An expression, time zone or duration a user must fix; the message says how."""


def load_zone(name: str) -> ZoneInfo:
    """The IANA zone, or a ScheduleError naming the bad value."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: a name too long for a file
        raise ScheduleError(f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin") from exc


def _hash(key: str, salt: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{key}|{salt}".encode()).digest()[:8], "big")


def jitter_offset(key: str, slot: datetime, limit: timedelta) -> timedelta:
    """A deterministic delay in ``[0, limit)`` for one slot of one ScheduledJob (millisecond steps)."""
    millis = int(limit.total_seconds() * 1000)
    if millis <= 0:
        return timedelta(0)
    return timedelta(milliseconds=_hash(key, f"jitter|{slot.timestamp():.0f}") % millis)


def _expand_h_field(field: str, index: int, key: str) -> str:
    """Replace H tokens in one cron field by concrete values hashed from ``key``."""
    lo, hi = _H_RANGES[index]
    parts = []
    for part in field.split(","):
        match = _H_TOKEN.match(part)
        if not match:
            if "H" in part:
                raise ScheduleError(f"bad H token {part!r}; use H, H(a-b), H/n or H(a-b)/n")
            parts.append(part)
            continue
        a_text, b_text, step_text = match.groups()
        a, b = (int(a_text), int(b_text)) if a_text is not None else (lo, hi)
        if not lo <= a <= b <= hi:
            raise ScheduleError(f"H range {part!r} must lie within {lo}-{hi}")
        seed = _hash(key, f"H|{index}")
        if step_text is None:
            parts.append(str(a + seed % (b - a + 1)))
            continue
        step = int(step_text)
        if step < 1 or step > b - a + 1:
            raise ScheduleError(f"H step in {part!r} must be between 1 and {b - a + 1}")
        parts.append(f"{a + seed % step}-{b}/{step}")
    return ",".join(parts)


@dataclass(frozen=True)
class _Cron:
    """One expanded cron expression, matched against naive local wall-clock times."""

    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    doms: tuple[int, ...] | None  # None: any day of month
    last_dom: bool
    months: tuple[int, ...]
    dows: tuple[int, ...] | None  # None: any day of week; 0 = Sunday
    hour_wildcard: bool
    has_seconds: bool

    def _day_ok(self, day: datetime) -> bool:
        dom_ok = self.doms is None or day.day in self.doms
        if self.last_dom:
            nxt = day + timedelta(days=1)
            dom_ok = dom_ok or nxt.month != day.month
        dow_ok = self.dows is None or (day.isoweekday() % 7) in self.dows
        if self.doms is not None or self.last_dom:
            if self.dows is not None:
                return dom_ok or dow_ok  # Vixie cron: both restricted means either matches
            return dom_ok
        return dow_ok

    def matches(self, wall: datetime) -> bool:
        """Whether the naive wall-clock time ``wall`` is one of the expression's times (to the minute,
        or to the second with a seconds field)."""
        return (
            wall.month in self.months
            and self._day_ok(wall)
            and wall.hour in self.hours
            and wall.minute in self.minutes
            and (not self.has_seconds or wall.second in self.seconds)
        )

    def next_naive(self, after: datetime) -> datetime | None:
        """The first matching wall-clock time strictly after ``after`` (naive), or None."""
        step = timedelta(seconds=1) if self.has_seconds else timedelta(minutes=1)
        c = after.replace(microsecond=0) if self.has_seconds else after.replace(second=0, microsecond=0)
        c += step
        limit = after.year + _SEARCH_YEARS
        while c.year <= limit:
            if c.month not in self.months:
                i = bisect.bisect_right(self.months, c.month)
                if i < len(self.months):
                    c = datetime(c.year, self.months[i], 1)
                else:
                    c = datetime(c.year + 1, self.months[0], 1)
                continue
            if not self._day_ok(c):
                c = datetime(c.year, c.month, c.day) + timedelta(days=1)
                continue
            if c.hour not in self.hours:
                i = bisect.bisect_right(self.hours, c.hour)
                if i < len(self.hours):
                    c = c.replace(hour=self.hours[i], minute=0, second=0)
                else:
                    c = datetime(c.year, c.month, c.day) + timedelta(days=1)
                continue
            if c.minute not in self.minutes:
                i = bisect.bisect_right(self.minutes, c.minute)
                if i < len(self.minutes):
                    c = c.replace(minute=self.minutes[i], second=0)
                else:
                    c = c.replace(minute=0, second=0) + timedelta(hours=1)
                continue
            if self.has_seconds and c.second not in self.seconds:
                i = bisect.bisect_right(self.seconds, c.second)
                if i < len(self.seconds):
                    c = c.replace(second=self.seconds[i])
                else:
                    c = c.replace(second=0) + timedelta(minutes=1)
                continue
            return c
        return None


def _values(field: list[int | str], lo: int, hi: int) -> tuple[int, ...] | None:
    if field == ["*"]:
        return None
    values = sorted({int(v) for v in field if v != "l"})
    return tuple(v for v in values if lo <= v <= hi)


def _parse_cron(expr: str, key: str) -> _Cron:
    fields = expr.split()
    if len(fields) not in (5, 6):
        raise ScheduleError(
            f"cron expression {expr!r} has {len(fields)} fields; use 5 (minute hour day month weekday) "
            "or 6 with a leading seconds field"
        )
    has_seconds = len(fields) == 6
    offset = 0 if has_seconds else 1
    hour_field = fields[2 - offset]
    for i, field in enumerate(fields):
        index = i + offset
        if index == 5 and re.search(r"[LW#]", field, re.IGNORECASE):
            raise ScheduleError(f"day-of-week {field!r}: L and # are not supported")
        if index == 3 and re.search(r"W", field, re.IGNORECASE):
            raise ScheduleError(f"day-of-month {field!r}: W is not supported")
    fields = [_expand_h_field(f, i + offset, key) for i, f in enumerate(fields)]
    text = " ".join(fields)
    try:
        expanded, nth = croniter.expand(text, second_at_beginning=has_seconds)
    except Exception as exc:  # croniter raises several error types; all mean "fix the expression"
        raise ScheduleError(f"invalid cron expression {expr!r}: {exc}") from exc
    if nth:
        raise ScheduleError(f"cron expression {expr!r}: nth-weekday (#) is not supported")
    minute, hour, dom, month, dow = expanded[:5]
    second: list[int | str] = expanded[5] if has_seconds and len(expanded) > 5 else [0]
    dows = _values(dow, 0, 7)
    if dows is not None:
        dows = tuple(sorted({d % 7 for d in dows}))
    cron = _Cron(
        seconds=_values(second, 0, 59) or tuple(range(60)),
        minutes=_values(minute, 0, 59) or tuple(range(60)),
        hours=_values(hour, 0, 23) or tuple(range(24)),
        doms=_values(dom, 1, 31) if dom != ["l"] else (),
        last_dom="l" in dom,
        months=_values(month, 1, 12) or tuple(range(1, 13)),
        dows=dows,
        hour_wildcard=hour_field == "*",
        has_seconds=has_seconds,
    )
    if cron.doms == () and not cron.last_dom:
        cron = _Cron(**{**cron.__dict__, "doms": None})
    if cron.next_naive(datetime(2000, 1, 1)) is None and cron.next_naive(datetime(2024, 1, 1)) is None:
        raise ScheduleError(f"cron expression {expr!r} never fires (e.g. February 30)")
    return cron


def cron_matcher(expr: str) -> Callable[[datetime], bool]:
    """A test of naive wall-clock times against one cron expression (or macro); ScheduleError if bad.

    H tokens are refused: an exclusion names the same times for every ScheduledJob that uses it.
    """
    text = " ".join(expr.split())
    lowered = text.lower()
    if lowered.startswith("@"):
        if lowered not in MACROS:
            raise ScheduleError(f"unknown macro {text!r}; use one of {', '.join(sorted(MACROS))}")
        text = MACROS[lowered]
    if re.search(r"(^|[\s,/-])H", text, re.IGNORECASE):
        raise ScheduleError(f"cron expression {expr!r}: H tokens are not allowed in an exclusion")
    return _parse_cron(text, "").matches


_RECENT = 4
"""How many of next_after's answers a Schedule keeps."""


class Schedule:
    """The run times of a ScheduledJob: the union of its expressions, in one time zone."""

    def __init__(
        self,
        expressions: Sequence[str],
        *,
        time_zone: str = "UTC",
        anchor: datetime,
        key: str,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> None:
        if not expressions:
            raise ScheduleError("no schedule given")
        self.zone = load_zone(time_zone)
        # The active window: slots outside [not_before, not_after] do not exist.
        self.not_before = not_before.astimezone(UTC) if not_before is not None else None
        self.not_after = not_after.astimezone(UTC) if not_after is not None else None
        self.key = key
        self.anchor = anchor.astimezone(UTC)
        self._crons: list[_Cron] = []
        self._everies: list[timedelta] = []
        # next_after's last answers, (from, slot): every t in [from, slot) has that same next slot.
        # A reconcile asks for the same next slot several times (the decision, its wake-up, the
        # metrics' interval), and so does every reconcile until the slot passes.
        self._recent: list[tuple[datetime, datetime]] = []
        for raw in expressions:
            expr = " ".join(str(raw).split())
            if not expr:
                raise ScheduleError("empty cron expression")
            lowered = expr.lower()
            if lowered.startswith("@every"):
                try:
                    every = parse_duration(expr[len("@every") :].strip())
                except DurationError as exc:
                    raise ScheduleError(f"{expr!r}: {exc}") from exc
                except (OverflowError, ValueError) as exc:  # "1e400s", "nan": no timedelta holds them
                    raise ScheduleError(f"{expr!r}: the interval must be at most 3660d") from exc
                if every < _MIN_EVERY:
                    raise ScheduleError(f"{expr!r}: the interval must be at least 1s")
                if every > _MAX_EVERY:
                    raise ScheduleError(f"{expr!r}: the interval must be at most 3660d")
                self._everies.append(every)
            elif lowered.startswith("@"):
                if lowered not in MACROS:
                    raise ScheduleError(
                        f"unknown macro {expr!r}; use one of {', '.join(sorted(MACROS))} or @every <duration>"
                    )
                self._crons.append(_parse_cron(MACROS[lowered], key))
            else:
                self._crons.append(_parse_cron(expr, key))

    @property
    def has_seconds(self) -> bool:
        """Whether any slot may fall on a second other than :00 (naming uses epoch seconds then)."""
        return any(c.has_seconds for c in self._crons) or any(
            e.total_seconds() % 60 or self.anchor.second or self.anchor.microsecond for e in self._everies
        )

    def next_after(self, t: datetime) -> datetime | None:
        """The first slot strictly after ``t`` (aware), as an aware UTC datetime; None if none in 5 years
        (or none before ``not_after``)."""
        t = t.astimezone(UTC)
        for start, slot in self._recent:
            if start <= t < slot:
                return slot
        asked = t
        if self.not_before is not None and t < self.not_before:
            t = self.not_before - _RESOLUTION
        best = self._next_unbounded(t)
        if best is not None and self.not_after is not None and best > self.not_after:
            return None
        if best is not None:
            self._recent = [(asked, best), *self._recent[: _RECENT - 1]]
        return best

    def ended(self, now: datetime) -> bool:
        """Whether ``not_after`` has passed: no slot is left."""
        return self.not_after is not None and now > self.not_after

    def _next_unbounded(self, t: datetime) -> datetime | None:
        best: datetime | None = None
        for cron in self._crons:
            cand = self._next_real(cron, t) if cron.hour_wildcard else self._next_wall(cron, t)
            if cand is not None and (best is None or cand < best):
                best = cand
        for every in self._everies:
            k = max(1, (t - self.anchor) // every + 1)
            cand = self.anchor + every * k
            if best is None or cand < best:
                best = cand
        return best

    def slots(self, after: datetime, until: datetime, *, limit: int) -> tuple[list[datetime], bool]:
        """Slots in ``(after, until]``, at most ``limit``; the flag says whether more were left out."""
        out: list[datetime] = []
        cur = after
        while True:
            nxt = self.next_after(cur)
            if nxt is None or nxt > until:
                return out, False
            if len(out) >= limit:
                return out, True
            out.append(nxt)
            cur = nxt

    def interval_hint(self, around: datetime) -> timedelta | None:
        """The spacing between the two slots after ``around``: a nominal interval for alerts."""
        first = self.next_after(around)
        second = self.next_after(first) if first else None
        if first is None or second is None:
            return None
        return second - first

    # -- time-zone mapping -------------------------------------------------------------------

    def _offset(self, instant: datetime) -> timedelta:
        off = instant.astimezone(self.zone).utcoffset()
        return off if off is not None else timedelta(0)

    def _transition(self, lo: datetime, hi: datetime) -> datetime:
        """The first instant in ``(lo, hi]`` whose offset differs from ``lo``'s (bisection to 1 s)."""
        base = self._offset(lo)
        while hi - lo > timedelta(seconds=1):
            mid = lo + (hi - lo) / 2
            if self._offset(mid) == base:
                lo = mid
            else:
                hi = mid
        return hi.replace(microsecond=0) if self._offset(hi.replace(microsecond=0)) != base else hi

    def _next_real(self, cron: _Cron, t: datetime) -> datetime | None:
        """Wildcard-hour schedules: match local fields, but walk in elapsed real time."""
        x, off = t, self._offset(t)
        for _ in range(8):  # each loop crosses one offset transition
            c = cron.next_naive((x + off).replace(tzinfo=None))
            if c is None:
                return None
            cand = (c - off).replace(tzinfo=UTC)
            if self._offset(cand) == off:
                return cand
            # The offset changed between x and cand: continue from the transition with the new
            # offset, so the slots keep their real-time spacing across it.
            boundary = self._transition(x, cand)
            x, off = boundary - timedelta(microseconds=1), self._offset(boundary)
        return None

    def _next_wall(self, cron: _Cron, t: datetime) -> datetime | None:
        """Fixed-time schedules: walk wall-clock times; gaps run after the gap, folds run once."""
        c: datetime | None = t.astimezone(self.zone).replace(tzinfo=None)
        while c is not None:
            c = cron.next_naive(c)
            if c is None:
                return None
            instant = self._wall_to_instant(c)
            if instant > t:
                return instant
        return None

    def _wall_to_instant(self, wall: datetime) -> datetime:
        first = wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)
        if first.astimezone(self.zone).replace(tzinfo=None) == wall:
            return first  # an ordinary time, or the first occurrence of a repeated one
        # In a spring-forward gap: fold=1 maps with the later offset (an earlier instant), fold=0
        # with the earlier offset (a later one); the transition between them ends the gap.
        after_gap = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
        lo, hi = min(first, after_gap), max(first, after_gap)
        return self._transition(lo, hi)
