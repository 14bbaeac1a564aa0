"""After the shell acted: Jobs the API refused to create, folded back into the decision. Pure.

The core decides a run started; the API may then refuse its Job (a name taken by a Job another
owner controls, a quota, an admission webhook). That fact is the core's input, applied after
``decide``: the run is recorded Failed (JobCreateFailed), it is not counted as started, it is not
active, its RunStarted Event is not emitted and Ready says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from punctual.api import Result
from punctual.core.actions import Decision, Event
from punctual.history import bump_counts

__all__ = ["after_create_failures"]


def after_create_failures(decision: Decision, failures: Mapping[str, str], *, now: datetime) -> Decision:
    """``decision`` with the Jobs in ``failures`` (name -> the API's reason) recorded as never started."""
    if not failures:
        return decision
    new = decision.status.model_copy(deep=True)
    for i, rec in enumerate(new.history):
        if rec.job in failures:
            if rec.result is Result.RUNNING:
                # The core counted it as started ("Running: runs started"); it never started.
                new.counts[Result.RUNNING.value] = max(0, new.counts.get(Result.RUNNING.value, 0) - 1)
                bump_counts(new.counts, Result.FAILED)
            new.history[i] = rec.model_copy(
                update={
                    "result": Result.FAILED,
                    "reason": "JobCreateFailed",
                    "message": failures[rec.job],
                    "completionTime": now,
                }
            )
    new.active = [a for a in new.active if a.name not in failures]
    new.activeCount = len(new.active)
    events = [e for e in decision.events if not (e.reason == "RunStarted" and e.job in failures)]
    for job, why in failures.items():
        events.append(Event("Warning", "JobCreateFailed", f"cannot create Job {job}: {why}"))
    for i, cond in enumerate(new.conditions):
        if cond.type == "Ready":
            new.conditions[i] = cond.model_copy(
                update={
                    "status": "False",
                    "reason": "JobCreateFailed",
                    "message": next(iter(failures.values())),
                    "lastTransitionTime": now,
                }
            )
    return replace(decision, status=new, events=tuple(events))
