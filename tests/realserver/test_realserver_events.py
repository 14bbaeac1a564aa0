"""Events on the real API server, through the chart's RBAC: Normal Events keep to the object's budget
(client-go's spam filter), Warnings post whatever the budget, and the operator's
``punctual_events_dropped_total`` counts what it logged without posting."""

from __future__ import annotations

import re

from punctual_realserver import RealServer
from punctual_testing import wait_for
from realserver_support import OperatorFactory, apply_in, events_of, history, scheduled_job


def _dropped(metrics: str, reason: str) -> float:
    found = re.search(rf'^punctual_events_dropped_total\{{reason="{reason}"\}} (\S+)$', metrics, re.M)
    assert found, f"no punctual_events_dropped_total{{reason={reason!r}}} in /metrics"
    return float(found.group(1))


def test_normal_events_keep_to_the_budget_and_the_rest_are_counted(
    real_server: RealServer, namespace: str, operator: OperatorFactory
) -> None:
    proc = operator(event_burst="2", event_refill_seconds="3600")
    body = scheduled_job("chatty", "*/3 * * * * *", duration="0.2s", exit_code=1, historyLimit=50)
    apply_in(real_server, namespace, body)

    def failed_runs() -> int:
        return sum(r.get("result") == "Failed" for r in history(real_server, namespace, "chatty"))

    wait_for(lambda: failed_runs() >= 3, 90, interval=0.5, what="3 failed runs")
    posted = events_of(real_server, namespace, "chatty")
    normal = [e["reason"] for e in posted if e["type"] == "Normal"]
    warnings = [e["reason"] for e in posted if e["type"] == "Warning"]
    assert len(normal) == 2, normal  # the burst of 2; RunStarted of later runs is logged, not posted
    assert warnings.count("RunFailed") >= 3, warnings  # every failure, whatever the budget
    metrics = proc.metrics()
    assert _dropped(metrics, "budget") >= 1  # the third run's RunStarted at least
    assert _dropped(metrics, "queue") == 0
