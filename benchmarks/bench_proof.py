"""Proof, full form: the fault-injection, security and fuzzing tests of ``tests/proof`` with
CITYSCREEN_PROOF=full (300 hypothesis examples per feed test instead of 12, 400 events through
the PostgreSQL restart instead of 40), against real PostGIS, Redis and Chromium.

``make test`` runs the same tests in their short, bounded form; the load test's full form is
``bench_load.py``, so it is left out here. RESULT lines (``benchmarks/report.py``): tests
passed, failed (goal 0) and the run time; the exit status is pytest's.

    python benchmarks/bench_proof.py [extra pytest arguments]
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUMMARY = re.compile(r"(\d+) (passed|failed|error|errors|skipped)")


def main(argv: list[str]) -> int:
    """Run the full form, echo pytest's summary, print RESULT lines."""
    env = {**os.environ, "CITYSCREEN_PROOF": "full"}
    cmd = [sys.executable, "-m", "pytest", "tests/proof", "-q", "-p", "no:cacheprovider",
           "--deselect", "tests/proof/test_load.py", *argv]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    lines = proc.stdout.strip().splitlines()
    print("\n".join(lines[-15:]), flush=True)
    counts = {kind: 0 for kind in ("passed", "failed", "error", "skipped")}
    for n, kind in SUMMARY.findall(lines[-1] if lines else ""):
        counts["error" if kind.startswith("error") else kind] += int(n)
    print(f"RESULT proof_full_passed={counts['passed']} tests")
    print(f"RESULT proof_full_failed={counts['failed'] + counts['error']} tests goal=0")
    print(f"RESULT proof_full_skipped={counts['skipped']} tests goal=0")
    print(f"RESULT proof_full_seconds={seconds:.0f} s")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
