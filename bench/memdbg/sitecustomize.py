"""Where the operator's memory goes: a snapshot every minute, for ``bench/operator_e2e.py --env``.

Not part of the operator. Python imports ``sitecustomize`` at start-up from ``PYTHONPATH``; this one
does something only in a process whose command is ``punctual`` and only with ``MEMDBG_OUT`` set::

    mkdir -p /tmp/mem && python bench/operator_e2e.py --count 1000 --schedule '*/20 * * * * *' \\
        --window 420 --design punctual --env PYTHONPATH=bench/memdbg --env MEMDBG_OUT=/tmp/mem

Every ``MEMDBG_EVERY`` seconds (default 60) it writes ``snap-NN.txt``: the RSS, pymalloc's
arenas and allocated bytes (``sys._debugmallocstats``), the asyncio tasks by coroutine, the deep
size of each part of the operator (:func:`breakdown`: the caches, the version records, the
pending statuses, the metrics) and the 25 most numerous object types. Every third snapshot
also calls glibc's ``malloc_trim(0)`` and gives the RSS after it. A snapshot walks every object
(about a second at 1,000 ScheduledJobs), which shows in the CPU figures of the run.
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import gc
import os
import sys
import threading
import time
import types
from typing import Any


def _rss_mb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return -1


def deep_size(root: object, seen: set[int]) -> int:
    """Bytes reachable from ``root`` (``sys.getsizeof`` each object once), not counting ``seen``."""
    total, stack = 0, [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, type | types.ModuleType | types.FunctionType | types.MethodType):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset | collections.deque):
            stack.extend(obj)
        else:
            if isinstance(getattr(obj, "__dict__", None), dict):
                stack.append(obj.__dict__)
            for slot in getattr(type(obj), "__slots__", ()) or ():
                if hasattr(obj, slot):
                    stack.append(getattr(obj, slot))
    return total


def breakdown(objects: list[Any]) -> list[str]:
    """The deep size of each part of the operator, each object counted in the first part reaching it."""
    ops = [o for o in objects if type(o).__name__ == "Operator" and type(o).__module__.startswith("punctual")]
    if not ops:
        return ["no Operator found"]
    op, cache = ops[0], ops[0].cache
    seen = {id(op), id(op.__dict__), id(cache), id(cache.__dict__)}
    parts = [
        ("cache.sjs", cache.sjs), ("cache.jobs", cache.jobs), ("cache.pods", cache.pods),
        ("cache.job_owner", cache.job_owner), ("cache._gone", cache._gone),
        ("cache._statuses", getattr(cache, "_statuses", {})),  # gone since 7ab5262: 0 from then on
        ("cache._sj_versions", cache._sj_versions), ("cache._job_versions", cache._job_versions),
        ("cache.upstreams", cache.upstreams), ("cache.calendars", cache.calendars),
        ("writer.pending", op.writer.pending), ("writer", op.writer), ("recorder", op.recorder),
        ("metrics", op.metrics), ("scheduler", op.scheduler), ("background", op.background),
        # kopf's per-object backlogs of watch events waiting for their worker (its queueing.Stream)
        ("asyncio queues", [o for o in objects if isinstance(o, asyncio.Queue)]),
    ]  # fmt: skip
    sizes = [(name, deep_size(obj, seen)) for name, obj in parts]
    queued = sum(o.qsize() for o in objects if isinstance(o, asyncio.Queue))
    lines = [f"{size / 2**20:9.1f} MB {name}" for name, size in sizes]
    lines.append(f"{sum(s for _, s in sizes) / 2**20:9.1f} MB in all; {queued} items in asyncio queues")
    due = getattr(op.writer, "_due", None)  # the status writes whose delay is over, waiting for a writer
    if due is not None:
        lines.append(f"{len(due):9d} status writes due and waiting for a writer")
    return lines


def _snapshot(n: int, out: str) -> None:
    started = time.monotonic()
    rss = _rss_mb()
    objects = gc.get_objects()
    counts = collections.Counter(type(o).__name__ for o in objects)
    tasks: collections.Counter[str] = collections.Counter()
    for loop in (o for o in objects if isinstance(o, asyncio.AbstractEventLoop)):
        for _ in range(5):  # the set may change while it is read (another thread)
            try:
                tasks.update(getattr(t.get_coro(), "__qualname__", "?") for t in asyncio.all_tasks(loop))
                break
            except RuntimeError:
                tasks.clear()
    parts = breakdown(objects)
    del objects
    read, write = os.pipe()
    saved = os.dup(2)
    os.dup2(write, 2)
    os.close(write)
    try:
        sys._debugmallocstats()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    stats = os.read(read, 1 << 20).decode(errors="replace")
    os.close(read)
    malloc = [line for line in stats.splitlines() if "arenas allocated current" in line or "bytes in allocated" in line]
    trimmed = None
    if n % 3 == 0:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        trimmed = _rss_mb()
    with open(f"{out}/snap-{n:02d}.txt", "w") as f:
        took = time.monotonic() - started
        f.write(f"time {time.time():.0f} rss {rss} MB, after malloc_trim {trimmed} MB, took {took:.1f} s\n")
        f.write("\n".join(malloc) + "\n\n" + "\n".join(parts) + "\n\n")
        f.write("".join(f"task {c:7d} {name}\n" for name, c in tasks.most_common(12)) + "\n")
        f.write("".join(f"{c:9d} {name}\n" for name, c in counts.most_common(25)))


def _loop(out: str, every: float) -> None:
    for n in range(1, 10_000):
        time.sleep(every)
        _snapshot(n, out)


if os.environ.get("MEMDBG_OUT") and os.path.basename(sys.argv[0]) == "punctual":
    threading.Thread(
        target=_loop, args=(os.environ["MEMDBG_OUT"], float(os.environ.get("MEMDBG_EVERY", "60"))), daemon=True
    ).start()
