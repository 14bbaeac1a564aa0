"""The pure core: one state machine decides everything. Pure (no I/O, no clock).

The concepts, a module each:

* :mod:`~punctual.core.spec`: the parsed spec, the :class:`Subject` decided, its Schedule, shards;
* :mod:`~punctual.core.actions`: what a decision asks for (:class:`Decision`, creates, deletes, Events);
* :mod:`~punctual.core.fold`: step 1, the observed Jobs folded into history; the cursor; garbage;
* :mod:`~punctual.core.slots`: steps 4-5, due slots, on time or missed, and ``catchUp``;
* :mod:`~punctual.core.policy`: the concurrency policy (offer, queue, replace, start);
* :mod:`~punctual.core.conditions`: status conditions;
* :mod:`~punctual.core.steps`: ``decide``, the numbered steps, and ``decide_invalid``;
* :mod:`~punctual.core.retry`: ``spec.retry``, a failed run's slot retried after a delay;
* :mod:`~punctual.core.failures`: Jobs the API refused, folded back into a decision;
* :mod:`~punctual.core.backfill`: backfills, their slots, progress and dry runs;
  :mod:`~punctual.core.backfill_request` the request annotation's codec;
* :mod:`~punctual.core.run_request`: a run on demand's overrides (the annotation's codec, applying them).

``from punctual.core import decide`` is the way in; the names below are the public surface.
"""

from punctual.core.actions import CreateJob, Decision, DeleteJob, Event
from punctual.core.backfill import MAX_BACKFILL_SLOTS, BackfillPlan, PlannedSlot, plan_backfill
from punctual.core.backfill_request import (
    MAX_PARALLEL,
    BackfillError,
    BackfillRequest,
    encode_request,
    parse_cancel,
    parse_request,
    request_identity,
)
from punctual.core.failures import after_create_failures
from punctual.core.fold import JOB_VANISHED_GRACE
from punctual.core.run_request import OverridesError, RunOverrides, apply_overrides
from punctual.core.slots import AGGREGATE_MISSED, ENUMERATION_LIMIT, ON_TIME_TOLERANCE
from punctual.core.spec import (
    SpecError,
    Subject,
    build_schedule,
    parse_spec,
    schedule_fingerprint,
    shard_of,
    subject_from_body,
)
from punctual.core.steps import INVALID_SCHEDULE, decide, decide_invalid

__all__ = [
    "AGGREGATE_MISSED",
    "ENUMERATION_LIMIT",
    "INVALID_SCHEDULE",
    "JOB_VANISHED_GRACE",
    "MAX_BACKFILL_SLOTS",
    "MAX_PARALLEL",
    "ON_TIME_TOLERANCE",
    "BackfillError",
    "BackfillPlan",
    "BackfillRequest",
    "CreateJob",
    "Decision",
    "DeleteJob",
    "Event",
    "OverridesError",
    "PlannedSlot",
    "RunOverrides",
    "SpecError",
    "Subject",
    "after_create_failures",
    "apply_overrides",
    "build_schedule",
    "decide",
    "decide_invalid",
    "encode_request",
    "parse_cancel",
    "parse_request",
    "parse_spec",
    "plan_backfill",
    "request_identity",
    "schedule_fingerprint",
    "shard_of",
    "subject_from_body",
]
