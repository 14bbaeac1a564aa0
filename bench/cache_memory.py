"""The memory the operator's caches hold per ScheduledJob once its history is full.

Each of N idle ScheduledJobs (no run active, as between two runs of an every-minute schedule)
carries a status with ``--records`` history records (20 is ``historyLimit``'s default: an hour of
every-minute runs fills it), is fed to the operator as a watch event and has its status read once
(as its reconcile does). Prints tracemalloc's growth per ScheduledJob: the cached body (shared
with the pipeline index) and whatever else the caches keep of it.

    python bench/cache_memory.py --count 2000
"""

from __future__ import annotations

import argparse
import gc
import json
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from punctual.api import HistoryRecord, Result, ScheduledJobStatus, Trigger
from punctual.bodies import ScheduledJobBody
from punctual.runtime.app import Operator
from punctual.runtime.settings import Settings

T0 = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
TEMPLATE = {
    "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}], "restartPolicy": "Never"}}}
}


def status_text(n: int, records: int) -> str:
    """A status as the API would send it: ``records`` finished runs of ScheduledJob ``n``."""
    history = [
        HistoryRecord(
            job=f"sj-{n:05d}-{29938000 + i}",
            scheduledTime=T0 + timedelta(minutes=i),
            trigger=Trigger.SCHEDULE,
            result=Result.SUCCEEDED,
            startTime=T0 + timedelta(minutes=i, seconds=0.01),
            completionTime=T0 + timedelta(minutes=i, seconds=2),
            durationSeconds=2.0,
            reason="Completed",
            exitCode=0,
            image="busybox",
            imageID="docker.io/library/busybox@sha256:9d75f0d7c398df565d7ac04c6819b62d6d8f9560f5eb4672596ecd8f7e96ae91",
        )
        for i in range(records)
    ]
    status = ScheduledJobStatus(
        history=history, scheduledThrough=T0, lastScheduleTime=T0, counts={"Running": records, "Succeeded": records}
    )
    return json.dumps(status.model_dump(mode="json", exclude_none=True))


def measure(count: int, records: int) -> float:
    """KiB the caches hold per ScheduledJob."""
    texts = [status_text(n, records) for n in range(count)]
    op = Operator(Settings())
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for n, text in enumerate(texts):
        body: dict[str, Any] = {
            "metadata": {"name": f"sj-{n:05d}", "namespace": "default", "uid": f"u{n}", "resourceVersion": str(n + 1)},
            "spec": {"schedule": "* * * * *", "jobTemplate": TEMPLATE},
            "status": json.loads(text),
        }
        op.on_scheduledjob("ADDED", cast(ScheduledJobBody, body))
        key = ("default", f"sj-{n:05d}")
        op.cache.status_of(key)
    del texts
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return held / count / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="ScheduledJobs")
    parser.add_argument("--records", type=int, default=20, help="history records in each status")
    args = parser.parse_args()
    per = measure(args.count, args.records)
    print(
        f"{args.count} idle ScheduledJobs with {args.records} history records each: {per:.1f} KiB each in the "
        f"caches ({per * 10_000 / 1024:.0f} MB at 10,000)"
    )


if __name__ == "__main__":
    main()
