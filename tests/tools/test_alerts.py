"""promtool on the alert rules: ``check rules`` and the unit tests in alerts_test.yaml."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from punctual_testing import REPO_ROOT
from tools_support import ALERT_NAMES, ALERTS, alert_rules

ALERTS_TEST = REPO_ROOT / "tests" / "tools" / "alerts_test.yaml"

pytestmark = pytest.mark.tools


def run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, cwd=REPO_ROOT, timeout=120, check=False)


def alert_names() -> set[str]:
    return {rule["alert"] for rule in alert_rules() if "alert" in rule}


def test_promtool_check_rules(promtool: str) -> None:
    result = run([promtool, "check", "rules", str(ALERTS)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_test_rules(promtool: str) -> None:
    result = run([promtool, "test", "rules", str(ALERTS_TEST)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_test_rules_detects_a_wrong_expectation(promtool: str, tmp_path: Path) -> None:
    broken = ALERTS_TEST.read_text().replace("scheduledjob: stale}", "scheduledjob: fresh}")
    assert broken != ALERTS_TEST.read_text()
    target = tmp_path / "alerts_test.yaml"
    target.write_text(broken.replace("../../charts/punctual/files/alerts.yaml", str(ALERTS)))
    result = run([promtool, "test", "rules", str(target)])
    assert result.returncode != 0
    assert "PunctualNoRecentSuccess" in result.stdout + result.stderr


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    data: dict[str, Any] = yaml.safe_load(ALERTS_TEST.read_text())
    firing: set[str] = set()
    silent: set[str] = set()
    for case in data["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    names = alert_names()
    assert names == set(ALERT_NAMES)
    assert names - firing == set(), "never tested firing"
    assert names - silent == set(), "never tested not firing"
