"""The per-ScheduledJob budget of Normal Events (client-go's spam filter semantics)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from punctual.events import EventBudget

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_burst_then_one_per_refill() -> None:
    budget = EventBudget(burst=3, refill=timedelta(minutes=5))
    assert [budget.allow("a", T0) for _ in range(4)] == [True, True, True, False]
    assert not budget.allow("a", T0 + timedelta(minutes=4, seconds=59))
    assert budget.allow("a", T0 + timedelta(minutes=5))
    assert not budget.allow("a", T0 + timedelta(minutes=5, seconds=1))


def test_objects_have_their_own_buckets() -> None:
    budget = EventBudget(burst=1, refill=timedelta(minutes=5))
    assert budget.allow("a", T0) and budget.allow("b", T0)
    assert not budget.allow("a", T0)


def test_tokens_never_exceed_the_burst() -> None:
    budget = EventBudget(burst=2, refill=timedelta(seconds=1))
    budget.allow("a", T0)
    later = T0 + timedelta(days=1)
    assert [budget.allow("a", later) for _ in range(3)] == [True, True, False]


def test_every_minute_for_a_day_posts_what_client_go_would() -> None:
    budget = EventBudget()  # 25, then one per 5 minutes
    posted = sum(budget.allow("a", T0 + timedelta(minutes=m)) for m in range(24 * 60) for _ in range(2))
    assert posted <= 25 + 24 * 12  # at most the burst plus one per 5 minutes
    assert posted >= 24 * 12  # and never less than one per 5 minutes


def test_forget_and_the_memory_cap() -> None:
    budget = EventBudget(burst=1, refill=timedelta(hours=1), max_objects=2)
    budget.allow("a", T0)
    budget.forget("a")
    assert budget.allow("a", T0)  # a recreated object starts afresh
    budget.allow("b", T0)
    budget.allow("c", T0)  # "a" is the least recently used: dropped
    assert budget.allow("a", T0)
    assert len(budget._buckets) == 2


def test_zero_burst_posts_nothing_and_bad_arguments_are_refused() -> None:
    assert not EventBudget(burst=0).allow("a", T0)
    with pytest.raises(ValueError):
        EventBudget(refill=timedelta(0))
    with pytest.raises(ValueError):
        EventBudget(burst=-1)
