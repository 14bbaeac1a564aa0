"""The dashboard and the alert rules query only series that punctual.runtime.metrics really exports.

No tool needed: the PromQL is tokenised here (strings, label matchers, ranges and grouping label
lists removed), every remaining name followed by ``(`` must be a PromQL function or aggregation,
and every other name must be a series the exporter produces (or ``up``, or a rule's own record).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from punctual_testing import REPO_ROOT
from tools_support import ALERT_NAMES, alert_rules

from punctual.runtime.metrics import METRIC_NAMES, Metrics

DASHBOARD = REPO_ROOT / "charts" / "punctual" / "files" / "dashboard.json"

FUNCTIONS = frozenset(
    [
        "abs",
        "absent",
        "absent_over_time",
        "avg",
        "avg_over_time",
        "ceil",
        "clamp_min",
        "clamp_max",
        "count",
        "count_over_time",
        "delta",
        "deriv",
        "floor",
        "histogram_quantile",
        "idelta",
        "increase",
        "irate",
        "label_replace",
        "label_join",
        "last_over_time",
        "max",
        "max_over_time",
        "min",
        "min_over_time",
        "quantile",
        "rate",
        "resets",
        "round",
        "scalar",
        "sort",
        "sort_desc",
        "sum",
        "sum_over_time",
        "time",
        "timestamp",
        "topk",
        "bottomk",
        "vector",
    ]
)
KEYWORDS = frozenset(
    [
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "inf",
        "nan",
    ]
)
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def exported_series() -> set[str]:
    """Every sample name a Metrics instance can expose (counters with _total, histogram parts)."""
    names: set[str] = set()
    for family in Metrics().registry.collect():
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(family.name)
    return names


def names_in(expr: str) -> tuple[set[str], set[str]]:
    """(functions called, series referenced) in one PromQL expression."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = GROUPING.sub(" ", text)
    functions: set[str] = set()
    series: set[str] = set()
    for match in IDENT.finditer(text):
        word = match.group(0)
        if match.start() > 0 and text[match.start() - 1] in "$.0123456789":
            continue  # a Grafana variable, or a number's exponent
        if word.lower() in KEYWORDS:
            continue
        if text[match.end() :].lstrip().startswith("("):
            functions.add(word)
        else:
            series.add(word)
    return functions, series


def dashboard_exprs(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                found.append(value)
            else:
                found.extend(dashboard_exprs(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(dashboard_exprs(item))
    return found


def template_queries(dashboard: dict[str, Any]) -> list[str]:
    """The PromQL inside the label_values(...) of the query variables."""
    queries = []
    for var in dashboard["templating"]["list"]:
        if var.get("type") == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            inner = re.fullmatch(r"label_values\((.*),\s*[A-Za-z_]+\)", query)
            assert inner, query
            queries.append(inner.group(1))
    return queries


def test_tokeniser_sees_names_functions_and_skips_labels() -> None:
    functions, series = names_in(
        'histogram_quantile(0.99, sum by (le, job) (rate(foo_bucket{a="b(c)"}[$__rate_interval]))) > bar and on (x) baz'
    )
    assert functions == {"histogram_quantile", "sum", "rate"}
    assert series == {"foo_bucket", "bar", "baz"}


def test_metric_names_constant_matches_the_registry() -> None:
    exported = exported_series()
    for name in METRIC_NAMES:
        assert name in exported or name + "_bucket" in exported, name


def test_dashboard_is_valid_json_with_unique_panel_ids() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "punctual-scheduledjobs"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    titles = {p["title"] for p in dashboard["panels"]}
    assert {"Upcoming runs", "Running", "Past runs"} <= titles
    assert any(v["type"] == "datasource" for v in dashboard["templating"]["list"])


def test_dashboard_queries_only_exported_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = dashboard_exprs(dashboard["panels"]) + template_queries(dashboard)
    assert len(exprs) > 20
    exported = exported_series()
    used: set[str] = set()
    for expr in exprs:
        functions, series = names_in(expr)
        assert functions <= FUNCTIONS, (expr, functions - FUNCTIONS)
        assert series, expr
        assert series <= exported, (expr, series - exported)
        used |= series
    # The three views the dashboard promises.
    assert {
        "punctual_next_run_timestamp_seconds",
        "punctual_active_runs",
        "punctual_oldest_active_run_start_timestamp_seconds",
        "punctual_runs_finished_total",
        "punctual_run_duration_seconds_bucket",
        "punctual_start_lag_seconds_bucket",
        "punctual_slots_missed_total",
        "punctual_slots_dropped_total",
    } <= used


def test_alerts_query_only_exported_metrics_up_and_their_records() -> None:
    rules = alert_rules()
    records = {r["record"] for r in rules if "record" in r}
    allowed = exported_series() | records | {"up"}
    for rule in rules:
        functions, series = names_in(rule["expr"])
        assert functions <= FUNCTIONS, (rule["expr"], functions - FUNCTIONS)
        assert series <= allowed, (rule["expr"], series - allowed)


@pytest.mark.parametrize("name", ALERT_NAMES)
def test_alert_exists_with_severity_and_summary(name: str) -> None:
    rules = {r["alert"]: r for r in alert_rules() if "alert" in r}
    assert name in rules
    assert rules[name]["labels"]["severity"] in {"warning", "critical"}
    assert rules[name]["annotations"]["summary"]
