"""The REASON of a run: the reason of the Job's finishing condition, whatever the server version.

Kubernetes 1.20's Job controller sets Complete and Failed conditions with no reason for success;
newer ones add SuccessCriteriaMet/CompletionsReached. History keeps what the server wrote, with
``Completed``/``Failed`` where it wrote nothing, and the docs say so instead of showing one server's.
"""

from __future__ import annotations

from typing import Any

import pytest
from punctual_testing import REPO_ROOT

from punctual.jobs import ANNOTATION_SCHEDULED_TIME, JobPhase, observe_job


def job(*conditions: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": "x-1", "annotations": {ANNOTATION_SCHEDULED_TIME: "2026-01-01T00:00:00Z"}},
        "status": {"completionTime": "2026-01-01T00:01:00Z", "conditions": list(conditions)},
    }


def cond(type_: str, reason: str | None = None) -> dict[str, Any]:
    out = {"type": type_, "status": "True", "lastTransitionTime": "2026-01-01T00:01:00Z"}
    if reason is not None:
        out["reason"] = reason
    return out


@pytest.mark.parametrize(
    ("conditions", "phase", "reason"),
    [
        ((cond("Complete"),), JobPhase.SUCCEEDED, "Completed"),  # 1.20: no reason on Complete
        ((cond("Failed", "BackoffLimitExceeded"),), JobPhase.FAILED, "BackoffLimitExceeded"),
        ((cond("Failed"),), JobPhase.FAILED, "Failed"),
        (
            (cond("SuccessCriteriaMet", "CompletionsReached"), cond("Complete", "CompletionsReached")),
            JobPhase.SUCCEEDED,
            "CompletionsReached",
        ),
    ],
    ids=["1.20 success", "failure with a reason", "failure without one", "newer server's success"],
)
def test_reason_is_the_job_conditions_or_the_fallback(conditions: Any, phase: JobPhase, reason: str) -> None:
    observed = observe_job(job(*conditions))
    assert observed is not None
    assert (observed.phase, observed.reason) == (phase, reason)


@pytest.mark.parametrize("doc", ["README.md", "docs/plugin.md"])
def test_docs_say_where_the_reason_comes_from(doc: str) -> None:
    text = " ".join((REPO_ROOT / doc).read_text().split())
    if "CompletionsReached" in text:
        # An example from a newer server is fine, if the text says it is the server's reason and
        # what a server without one (1.20) shows instead.
        assert "finishing condition" in text and "1.20" in text and "`Completed`" in text, doc
