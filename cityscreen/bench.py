"""Runs the benchmark scripts under ``benchmarks/`` (each prints its own ratios)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent.parent / "benchmarks"


def scripts() -> list[Path]:
    """Benchmark scripts, in name order."""
    return sorted(BENCH_DIR.glob("bench_*.py"))


def run_all(names: list[str] | None = None) -> int:
    """Run each benchmark (or those whose name contains one of ``names``); return failures."""
    failures = 0
    for script in scripts():
        if names and not any(n in script.stem for n in names):
            continue
        print(f"== {script.stem}", flush=True)
        failures += subprocess.run([sys.executable, str(script)], check=False).returncode != 0
    return failures
