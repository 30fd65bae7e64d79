"""`cityscreen bench`: runs ``benchmarks/report.py`` (each benchmark, then REPORT.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPORT_SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "report.py"


def run_report(names: list[str]) -> int:
    """Run every benchmark (or those matching ``names``); return the report's exit code."""
    if not REPORT_SCRIPT.exists():
        raise FileNotFoundError(f"{REPORT_SCRIPT} is missing: benchmarks ship with the source tree")
    args = [sys.executable, str(REPORT_SCRIPT)] + (["--only", *names] if names else [])
    return subprocess.run(args, check=False).returncode
