"""What the tool tests share about the chart's alert rules: the file, its rules, and the alerts it
must define (``test_alerts`` checks the set is exactly this; ``test_promql_names`` checks each)."""

from __future__ import annotations

from typing import Any

import yaml
from punctual_testing import REPO_ROOT

__all__ = ["ALERTS", "ALERT_NAMES", "alert_rules"]

ALERTS = REPO_ROOT / "charts" / "punctual" / "files" / "alerts.yaml"

ALERT_NAMES = (
    "PunctualRunFailed",
    "PunctualNoRecentSuccess",
    "PunctualRunOverBudget",
    "PunctualSlotsMissed",
    "PunctualSlotsDropped",
    "PunctualStartLagHigh",
    "PunctualOperatorDown",
    "PunctualShardDown",
)


def alert_rules() -> list[dict[str, Any]]:
    """Every rule of every group in the chart's alerts file: alerts and recording rules."""
    data = yaml.safe_load(ALERTS.read_text())
    return [rule for group in data["groups"] for rule in group["rules"]]
