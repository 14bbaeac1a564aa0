"""kopf's peering rule as the operator applies it, a pure function (no operator, no server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from punctual.api import format_time
from punctual.runtime.leadership import is_leader

Body = dict[str, Any]


def test_the_leadership_rule_on_crafted_peering_bodies() -> None:
    """kopf's rule as the operator applies it (me: "me", priority 50).

    Pause while a live peer has the same or a higher priority.
    """
    now = datetime(2030, 1, 1, tzinfo=UTC)

    def leads(peering: Body | None) -> bool:
        return is_leader(peering, me="me", priority=50, now=now)

    def peering(**peers: dict[str, Any]) -> Body:
        return {"status": peers}

    def seen(ago: float) -> str:
        return format_time(now - timedelta(seconds=ago))

    assert leads(peering())
    assert leads(peering(me={"priority": 50, "lifetime": 60, "lastseen": seen(0)}))
    assert not leads(None), "no peering object: nobody may schedule"
    assert not leads(peering(x={"priority": 100, "lifetime": 60, "lastseen": seen(1)}))
    assert not leads(peering(x={"priority": 50, "lifetime": 60, "lastseen": seen(1)})), "a tie pauses"
    assert leads(peering(x={"priority": 10, "lifetime": 60, "lastseen": seen(1)}))
    assert leads(peering(x={"priority": 100, "lifetime": 5, "lastseen": seen(6)})), "expired peer"
    assert leads(peering(x={"priority": "junk", "lastseen": "never"})), "unreadable entries are ignored"
