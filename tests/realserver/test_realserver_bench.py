"""``bench/operator_e2e.py --api real`` at a tiny size: the benchmark runs against the real kube-apiserver.

Punctual and the floor, in one invocation, each on a fresh real server (etcd, kube-apiserver,
kube-controller-manager, the stand-in kubelet): every slot gets exactly one Job, the floor writes
one thing per run, and the API side's CPU is split by process. The measured figures are in
docs/benchmarks.md ("Shards and the real API server").
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from punctual_realserver import default_bin_dir, missing_binaries
from punctual_testing import REPO_ROOT


def test_the_operator_benchmark_runs_against_the_real_api_server() -> None:
    missing = missing_binaries()
    if missing:  # as the tier's real_server fixture does (this benchmark starts servers of its own)
        message = f"the benchmark's --api real needs {', '.join(missing)}: run bash .ci/kube-binaries.sh"
        if os.environ.get("PUNCTUAL_REQUIRE_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    with tempfile.TemporaryDirectory(prefix="bench-real-tmp-") as private:
        done = subprocess.run(
            [
                sys.executable,
                "bench/operator_e2e.py",
                "--api",
                "real",
                "--design",
                "punctual,floor",
                "--count",
                "5",
                "--schedule",
                "*/3 * * * * *",
                "--window",
                "6",
                "--settle",
                "2",
            ],
            cwd=REPO_ROOT,
            env={**os.environ, "TMPDIR": private, "PUNCTUAL_KUBE_BIN": str(default_bin_dir())},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert sorted(p.name for p in Path(private).iterdir()) == [], "the benchmark left files behind"
    lines = [line for line in done.stdout.split("\n\n")[0].splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = [dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True)) for line in lines[2:]]
    assert [r["design"] for r in rows] == ["punctual", "floor"]
    for row in rows:
        assert row["API"] == "real"
        assert row["Jobs / expected"] == "10 / 10", row
        assert row["duplicates"] == "0"
        assert float(row["API side CPU in window (s)"]) > 0
    assert float(rows[1]["API writes / run"]) == 1.0
    assert float(rows[0]["API writes / run"]) >= 1.0  # at least the Job create
    for part in ("kube-apiserver", "etcd", "kube-controller-manager", "stand-in kubelet"):
        assert f"{part} " in done.stdout, f"no CPU figure for {part}"
