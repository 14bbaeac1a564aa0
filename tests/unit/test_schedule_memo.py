"""``Schedule.next_after`` keeps its last answers: asked in any order, it answers as a fresh Schedule does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from punctual.schedule import Schedule

ANCHOR = datetime(2026, 3, 1, tzinfo=UTC)
CASES = (
    (("*/15 * * * *",), "UTC", None, None),
    (("*/20 * * * * *",), "UTC", None, None),
    (("30 2 * * *",), "Europe/Berlin", None, None),  # a wall time the spring-forward night skips
    (("0 1 * * *", "@every 95m"), "America/New_York", None, None),
    (("H * * * *",), "Asia/Kolkata", ANCHOR + timedelta(days=20), ANCHOR + timedelta(days=40)),
    (("* * * * *",), "UTC", ANCHOR + timedelta(hours=5), ANCHOR + timedelta(hours=7)),
)


@settings(max_examples=150, deadline=None)
@given(
    case=st.sampled_from(CASES),
    offsets=st.lists(st.integers(min_value=-3600, max_value=60 * 86400), min_size=1, max_size=25),
    repeat=st.booleans(),
)
def test_answers_equal_a_fresh_schedules_in_any_order(
    case: tuple[tuple[str, ...], str, datetime | None, datetime | None], offsets: list[int], repeat: bool
) -> None:
    exprs, zone, not_before, not_after = case

    def make() -> Schedule:
        return Schedule(exprs, time_zone=zone, anchor=ANCHOR, key="ns/a", not_before=not_before, not_after=not_after)

    kept = make()
    times = [ANCHOR + timedelta(seconds=o) for o in offsets]
    if repeat:  # the operator's pattern: the answer, then times between the question and the answer
        times = [t for base in times for t in (base, base + timedelta(seconds=1), base + timedelta(seconds=59))]
    for t in times:
        assert kept.next_after(t) == make().next_after(t), t
        nxt = kept.next_after(t)
        if nxt is not None:
            assert kept.next_after(nxt - timedelta(microseconds=1)) == nxt
            assert kept.next_after(nxt) == make().next_after(nxt)
