"""Timestamps as the status and the Jobs carry them (RFC 3339 in UTC with ``Z``), both ways."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from punctual.api import ScheduledJobStatus, format_time, parse_time

_ZONES = st.sampled_from(
    [UTC, timezone(timedelta(0)), timezone(timedelta(hours=1)), timezone(timedelta(hours=-5, minutes=-30)),
     ZoneInfo("Europe/London"), ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")]
)  # fmt: skip
_TIMES = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=_ZONES)


@given(_TIMES)
def test_any_aware_time_is_written_in_utc_with_z_and_reads_back_the_same(value: datetime) -> None:
    text = format_time(value)
    utc = value.astimezone(UTC)
    assert text == utc.strftime("%Y-%m-%dT%H:%M:%S") + (f".{utc.microsecond:06d}" if utc.microsecond else "") + "Z"
    assert parse_time(text) == utc  # (not == value: a time in a DST gap compares oddly across zones)


def test_whole_seconds_have_no_fraction_and_a_fraction_has_six_digits() -> None:
    assert format_time(datetime(2026, 12, 3, 10, 0, tzinfo=UTC)) == "2026-12-03T10:00:00Z"
    assert format_time(datetime(2026, 12, 3, 10, 0, 0, 10000, tzinfo=UTC)) == "2026-12-03T10:00:00.010000Z"
    # An offset of zero that is not UTC itself (London in winter) and one that is not zero.
    assert format_time(datetime(2026, 12, 3, 10, 0, tzinfo=ZoneInfo("Europe/London"))) == "2026-12-03T10:00:00Z"
    assert format_time(datetime(2026, 12, 3, 11, 0, tzinfo=ZoneInfo("Europe/Berlin"))) == "2026-12-03T10:00:00Z"


def test_a_status_read_from_the_api_is_written_back_unchanged() -> None:
    raw = {"lastScheduleTime": "2026-12-03T10:00:00Z", "nextScheduleTime": "2026-12-03T10:01:00.500000Z"}
    assert ScheduledJobStatus.model_validate(raw).model_dump(mode="json", include=set(raw)) == raw
