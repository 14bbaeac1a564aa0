"""Calendars and exclusions on the real API server: the Calendar CRD (short name ``cal``) and its
schema, the operator's Calendar watch under the chart's RBAC, a missing Calendar that keeps every
slot from running, and a Calendar's rules excluding their slots once it exists. The emulator-tier
twin is tests/integration/test_calendars.py."""

from __future__ import annotations

import json
from datetime import datetime

from punctual_realserver import RealServer
from punctual_testing import wait_for
from realserver_support import (
    OperatorFactory,
    apply_in,
    condition,
    events_of,
    history,
    jobs_of,
    kubectl_sj,
    parse_time,
    scheduled_job,
    slots_of,
)

EVERY_2S = "*/2 * * * * *"


def calendar(name: str, *rules: str) -> dict[str, object]:
    return {
        "apiVersion": "punctual.dev/v1",
        "kind": "Calendar",
        "metadata": {"name": name},
        "spec": {"exclude": list(rules)},
    }


def skipped(server: RealServer, namespace: str, name: str, reason: str) -> list[dict[str, object]]:
    return [r for r in history(server, namespace, name) if r["result"] == "Skipped" and r.get("reason") == reason]


def test_a_missing_calendar_runs_nothing_then_its_rules_exclude_their_slots(
    real_server: RealServer, namespace: str, operator: OperatorFactory
) -> None:
    operator()
    apply_in(
        real_server, namespace, scheduled_job("office", EVERY_2S, duration="0.2s", calendars=["quiet"], historyLimit=60)
    )
    wait_for(
        lambda: skipped(real_server, namespace, "office", "CalendarNotFound"),
        60,
        interval=0.5,
        what="a slot Skipped while the Calendar is missing",
    )
    valid = condition(real_server, namespace, "office", "CalendarsValid") or {}
    assert (valid.get("status"), valid.get("reason")) == ("False", "CalendarNotFound")
    assert jobs_of(real_server, namespace, "office") == []
    assert "CalendarNotFound" in {e.get("reason") for e in events_of(real_server, namespace, "office")}
    # The slots at a second divisible by 4 are excluded; the others run.
    apply_in(real_server, namespace, calendar("quiet", "*/4 * * * * *"))
    wait_for(
        lambda: (
            len(jobs_of(real_server, namespace, "office")) >= 2
            and skipped(real_server, namespace, "office", "Excluded")
        ),
        60,
        interval=0.5,
        what="runs and excluded slots once the Calendar exists",
    )
    seconds = [parse_time(s).second for s in slots_of(jobs_of(real_server, namespace, "office"))]
    assert all(s % 4 == 2 for s in seconds), seconds
    message = str(skipped(real_server, namespace, "office", "Excluded")[0]["message"])
    assert message.endswith('excluded by calendar quiet "*/4 * * * * *"'), message
    assert (condition(real_server, namespace, "office", "CalendarsValid") or {}).get("status") == "True"
    listed = real_server.kubectl("get", "cal", "-n", namespace, "-o", "name")
    assert listed.stdout.split() == ["calendar.punctual.dev/quiet"]
    # kubectl sj next looks past the excluded slots; -o wide lists them, and why.
    upcoming = kubectl_sj(real_server, "next", "office", "-n", namespace, "--count", "3", "-o", "json")
    assert upcoming.returncode == 0, upcoming.stderr
    assert all(datetime.fromisoformat(r["slot"]).second % 4 == 2 for r in json.loads(upcoming.stdout))
    wide = kubectl_sj(real_server, "next", "office", "-n", namespace, "--count", "2", "-o", "wide")
    assert wide.returncode == 0, wide.stderr
    assert wide.stdout.splitlines()[0].split() == ["SLOT", "START", "IN", "NOTE"]
    assert 'excluded by calendar quiet "*/4 * * * * *"' in wide.stdout


def test_the_api_server_refuses_a_rule_that_is_no_date_range_or_cron(real_server: RealServer, namespace: str) -> None:
    bad = calendar("bad", "christmas day") | {"metadata": {"name": "bad", "namespace": namespace}}
    done = real_server.kubectl("apply", "-f", "-", stdin=json.dumps(bad), check=False)
    assert done.returncode != 0
    assert "spec.exclude" in done.stderr and "should match" in done.stderr, done.stderr
