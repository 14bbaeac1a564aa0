"""Every benchmark of the issue in one command, written down with the machine and the commands.

Runs, one after another (nothing else should run on the machine meanwhile):

1. ``bench/core.py`` at the core sizes (default 1,000, 10,000 and 100,000);
2. for each operator size (default 1,000 and 10,000), against the emulator: ``bench/operator_e2e.py``
   every minute with ``--design punctual,floor,naive`` (one invocation, so the comparison is a
   ratio); spread with ``H`` in the seconds field (``H * * * * *``) with ``--design punctual,floor``
   (the floor spreads its creates the same way); Punctual as two shards every minute (``--shards
   2``: CPU and watch events per shard); at 1,000 only (not affordable at 10,000 on 2 cores), the
   seconds-level variant (``*/10 * * * * *``) with ``--design punctual,floor``;
3. for each real-server size (default 1,000), the same every-minute measurement against the
   real-server tier's kube-apiserver (``--api real --design punctual,floor``; binaries from
   ``$PUNCTUAL_KUBE_BIN``, as ``bash .ci/kube-binaries.sh`` prints them);
4. with ``--long`` only: the memory after an hour of runs, 10,000 every minute (``--window 3600``).

``--api real`` runs every operator benchmark against the real-server tier instead of the emulator.

The result is a markdown section (date, machine, commit, then each command and its tables); with
``--write`` it is appended to ``docs/benchmarks.md`` (at the end), with ``--out`` written to a
file (after each command, so that an interrupted run keeps what it measured), otherwise printed.
The full run takes over an hour on 2 cores (two more with ``--long``); ``--smoke`` runs tiny sizes
(about two minutes) to check the pipeline.

Usage::

    PUNCTUAL_KUBE_BIN=... python bench/all.py --write   # the full run, appended to docs/benchmarks.md
    python bench/all.py --smoke --out /tmp/b.md         # tiny sizes
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["main", "plan"]

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"


def plan(
    *,
    core_sizes: list[int],
    operator_sizes: list[int],
    smoke: bool,
    api: str = "emulator",
    real_sizes: list[int] | None = None,
    long: bool = False,
) -> list[list[str]]:
    """The benchmark commands, as argument lists for ``python``."""
    commands = [["bench/core.py", "--sizes", ",".join(str(n) for n in core_sizes)]]
    where = ["--api", api] if api != "emulator" else []
    for count in operator_sizes:
        e2e = ["bench/operator_e2e.py", *where, "--count", str(count)]
        if smoke:
            minute = ["--schedule", "*/3 * * * * *", "--window", "6", "--settle", "2"]
            seconds = ["--schedule", "*/2 * * * * *", "--window", "4", "--settle", "2"]
            commands.append([*e2e, *minute, "--design", "punctual,floor,naive"])
            commands.append([*e2e, *seconds, "--design", "punctual,floor"])
            continue
        window = ["--window", "120" if count <= 1000 else "180"]
        minute = ["--schedule", "* * * * *", *window]
        commands.append([*e2e, *minute, "--design", "punctual,floor,naive"])
        commands.append([*e2e, "--schedule", "H * * * * *", *window, "--design", "punctual,floor"])
        commands.append([*e2e, *minute, "--design", "punctual", "--shards", "2"])
        if count <= 1000:
            commands.append([*e2e, "--seconds", "--design", "punctual,floor"])
    if not smoke and api == "emulator":
        for count in real_sizes or []:
            commands.append(
                ["bench/operator_e2e.py", "--api", "real", "--count", str(count),
                 "--schedule", "* * * * *", "--window", "120", "--design", "punctual,floor"]
            )  # fmt: skip
    if long and not smoke:
        commands.append(
            ["bench/operator_e2e.py", *where, "--count", "10000", "--schedule", "* * * * *",
             "--window", "3600", "--design", "punctual"]
        )  # fmt: skip
    return commands


def _machine() -> str:
    cpu = "?"
    mem_mb = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_mb = f"{int(line.split()[1]) // 1024:,}"
                break
    except OSError:
        pass
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    return (
        f"{os.cpu_count()} vCPU ({cpu}), {mem_mb} MB RAM, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, code at `{commit or '?'}`"
    )


def _uptime() -> str:
    """The load averages, as ``uptime`` prints them (the machine may be shared)."""
    try:
        one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    except (OSError, ValueError):
        return "?"
    return f"load average: {one}, {five}, {fifteen}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--core-sizes", default="1000,10000,100000")
    parser.add_argument("--operator-sizes", default="1000,10000")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: core 100, operator 20 (checks the pipeline)")
    parser.add_argument(
        "--api",
        choices=("emulator", "real"),
        default="emulator",
        help="the operator benchmarks' API server (real: the real-server tier's kube-apiserver)",
    )
    parser.add_argument(
        "--real-sizes", default="1000", help="ScheduledJobs of the real-server runs (comma-separated; empty: none)"
    )
    parser.add_argument("--long", action="store_true", help="add the hour at 10,000 (memory after an hour)")
    parser.add_argument("--write", action="store_true", help=f"append the section to {DOC.relative_to(ROOT)}")
    parser.add_argument("--out", type=Path, default=None, help="write the section to this file instead")
    args = parser.parse_args(argv)
    core_sizes = [100] if args.smoke else [int(n) for n in args.core_sizes.split(",")]
    operator_sizes = [20] if args.smoke else [int(n) for n in args.operator_sizes.split(",")]
    real_sizes = [int(n) for n in args.real_sizes.split(",") if n.strip()]
    commands = plan(
        core_sizes=core_sizes,
        operator_sizes=operator_sizes,
        smoke=args.smoke,
        api=args.api,
        real_sizes=real_sizes,
        long=args.long,
    )
    if any("real" in command for command in commands) and not os.environ.get("PUNCTUAL_KUBE_BIN"):
        parser.error(
            "the real-server runs need PUNCTUAL_KUBE_BIN (the directory 'bash .ci/kube-binaries.sh' prints "
            "last); or leave them out with --real-sizes ''"
        )
    started = datetime.now(UTC)
    parts = [
        f"## Run of `bench/all.py`{' --smoke' if args.smoke else ''}{' --api real' if args.api == 'real' else ''}, "
        f"{started:%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {_machine()}. Each command below ran alone, in this order; its output follows it. "
        f"Load at the start (`uptime`): {_uptime()}.",
    ]
    for done_count, command in enumerate(commands, start=1):
        print("running: python " + " ".join(command), file=sys.stderr, flush=True)
        done = subprocess.run([sys.executable, *command], cwd=ROOT, capture_output=True, text=True, check=False)
        shown = " ".join(f"'{a}'" if " " in a else a for a in command)
        parts += ["", "```", f"python {shown}", "```", ""]
        if done.returncode != 0:
            parts.append(f"**Failed** (exit {done.returncode}):\n\n```\n{done.stderr[-2000:]}\n```")
            print(done.stderr, file=sys.stderr)
            text = "\n".join(parts) + "\n"
            _emit(text, args)
            return 1
        parts.append(done.stdout.strip())
        parts += ["", f"(`uptime` after it: {_uptime()}.)"]
        if args.out is not None and done_count < len(commands):
            # What has run so far, should the rest not finish (an hour and more): the file is the
            # whole section once the last command is done.
            progress = f"_In progress: {done_count} of {len(commands)} commands done._"
            args.out.write_text("\n".join([*parts, "", progress]) + "\n")
    minutes = (datetime.now(UTC) - started).total_seconds() / 60
    parts += ["", f"The whole run took {minutes:.1f} minutes."]
    _emit("\n".join(parts) + "\n", args)
    return 0


def _emit(text: str, args: argparse.Namespace) -> None:
    if args.out is not None:
        args.out.write_text(text)
    elif args.write:
        with DOC.open("a") as doc:
            doc.write("\n" + text)
    else:
        print(text)


if __name__ == "__main__":
    sys.exit(main())
