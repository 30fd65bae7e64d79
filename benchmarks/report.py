"""`make bench`: run every ``benchmarks/bench_*.py`` with a time budget, write ``REPORT.md``.

    python benchmarks/report.py [--only NAME ...] [--budget NAME=SECONDS ...] [--out PATH]

Convention (each benchmark prints, besides anything else):

    RESULT <name>=<value> [<unit>] [goal=<goal>] [baseline=<value>] [ratio=<x>]

``goal`` is a number or a comparison (``>=10``, ``<=500``, ``0``); ``ratio`` the figure
against the baseline measured in the same run (or against the goal, as the benchmark says).
Benchmarks that do not print RESULT lines yet still appear: their lines that carry a ratio, a
goal or a rate are quoted under "figures as printed". A benchmark that overruns its budget is
stopped (its process group) and reported as timed out, with what it printed until then.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_BUDGET_S = 900
BUDGETS_S = {"bench_load": 480, "bench_etl": 1200, "bench_kpi": 1200}
RESULT = re.compile(r"^RESULT\s+(?P<name>[\w.\-/]+)=(?P<value>\S+)(?P<rest>.*)$")
KV = re.compile(r"(\w+)=(\S+)")
# lines of benchmarks without RESULT lines that are worth quoting
FIGURE = re.compile(r"ratio|goal|\d+(\.\d+)?x\b|/s\b|\bms\b|p95|precision|agree", re.I)


@dataclass
class Figure:
    """One RESULT line."""

    name: str
    value: str
    unit: str = ""
    goal: str = ""
    baseline: str = ""
    ratio: str = ""

    def met(self) -> str:
        """'yes' / 'no' against the goal, '' when there is none or it cannot be read."""
        m = re.fullmatch(r"(<=|>=|<|>|==)?\s*(-?[\d.]+)", self.goal)
        try:
            value = float(self.value)
        except ValueError:
            return ""
        if not m:
            return ""
        op, target = m.group(1) or "==", float(m.group(2))
        ok = {"<=": value <= target, ">=": value >= target, "<": value < target,
              ">": value > target, "==": value == target}[op]
        return "yes" if ok else "no"


@dataclass
class Run:
    """One benchmark's outcome."""

    name: str
    status: str = "ok"
    seconds: float = 0.0
    figures: list[Figure] = field(default_factory=list)
    quoted: list[str] = field(default_factory=list)
    tail: list[str] = field(default_factory=list)


def parse(output: str) -> tuple[list[Figure], list[str]]:
    """RESULT figures, and the figure-like lines of output without RESULT lines."""
    figures = []
    quoted = []
    for line in output.splitlines():
        m = RESULT.match(line.strip())
        if m:
            rest = m.group("rest")
            kv = dict(KV.findall(rest))
            unit = KV.sub("", rest).strip()
            figures.append(Figure(m.group("name"), m.group("value"), unit, kv.get("goal", ""),
                                  kv.get("baseline", ""), kv.get("ratio", "")))
        elif FIGURE.search(line) and len(line) < 300:
            quoted.append(line.strip())
    return figures, quoted


def run_one(script: Path, budget: float) -> Run:
    """Run one benchmark in its own process group, stopped at ``budget`` seconds."""
    run = Run(script.stem)
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            cwd=HERE.parent)
    try:
        out, _ = proc.communicate(timeout=budget)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)  # our child's own group: it and its servers
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
        run.status = f"timed out after {budget:.0f} s"
    else:
        if proc.returncode != 0:
            run.status = f"exit {proc.returncode}"
    run.seconds = time.monotonic() - t0
    sys.stdout.write(out)
    run.figures, quoted = parse(out)
    run.quoted = [] if run.figures else quoted[:25]
    run.tail = out.strip().splitlines()[-5:] if run.status != "ok" else []
    return run


def render(runs: list[Run]) -> str:
    """REPORT.md."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0]
    lines = [
        "# Benchmark report",
        "",
        f"Written by `benchmarks/report.py` (`make bench`) on {now}; {platform.node()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, load average at the end "
        f"{load:.1f}. Every ratio is against a baseline measured in the same run (or, where "
        "the benchmark says so, against its goal).",
        "",
        "| benchmark | figure | value | unit | goal | met | baseline | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        for f in r.figures:
            lines.append(f"| {r.name} | {f.name} | {f.value} | {f.unit} | {f.goal} | "
                         f"{f.met()} | {f.baseline} | {f.ratio} |")
    lines += ["", "## Runs", "", "| benchmark | status | seconds | RESULT lines |",
              "|---|---|---|---|"]
    for r in runs:
        lines.append(f"| {r.name} | {r.status} | {r.seconds:.0f} | {len(r.figures)} |")
    for r in runs:
        if r.quoted or r.tail:
            lines += ["", f"## {r.name}: figures as printed", "", "```"]
            lines += r.quoted or []
            if r.tail:
                lines += ["...", *r.tail]
            lines.append("```")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks and write the report; exit 1 if any failed or timed out."""
    ap = argparse.ArgumentParser(description="Run every benchmark and write REPORT.md.")
    ap.add_argument("--only", nargs="*", default=None, help="names (substrings) to run")
    ap.add_argument("--budget", nargs="*", default=[], help="NAME=SECONDS time budgets")
    ap.add_argument("--out", default=str(HERE / "REPORT.md"))
    args = ap.parse_args(argv)
    budgets = dict(BUDGETS_S)
    for item in args.budget:
        name, _, secs = item.partition("=")
        budgets[name if name.startswith("bench_") else f"bench_{name}"] = float(secs)
    runs = []
    for script in sorted(HERE.glob("bench_*.py")):
        if args.only and not any(n in script.stem for n in args.only):
            continue
        budget = budgets.get(script.stem, DEFAULT_BUDGET_S)
        print(f"== {script.stem} (budget {budget:.0f} s)", flush=True)
        runs.append(run_one(script, budget))
        Path(args.out).write_text(render(runs), encoding="utf-8")  # partial report as we go
    Path(args.out).write_text(render(runs), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0 if all(r.status == "ok" for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
