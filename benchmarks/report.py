"""`make bench`: run every ``benchmarks/bench_*.py`` with a time budget, write ``REPORT.md``.

    python benchmarks/report.py [--only NAME ...] [--budget NAME=SECONDS ...] [--out PATH]
                                [--args NAME="ARG ..."] [--lock PATH]

Each benchmark runs with the issue's scale (``ARGS``: 20,000 grids, 10M events, 2M ETL
rows and grid-assignment points, 5 minutes of load) and holds the team's benchmark lock
(``--lock``, default ``/tmp/cityscreen-bench.lock``; ``--lock ''`` for none) while it runs,
so no other engineer's benchmark skews its timings.

Convention (each benchmark prints, besides anything else):

    RESULT <name>=<value> [<unit>] [goal=<goal>] [baseline=<value>] [ratio=<x>]

``goal`` is a number or a comparison (``>=10``, ``<=500``, ``0``); ``ratio`` the figure
against the baseline measured in the same run (or against the goal, as the benchmark says).
Benchmarks that do not print RESULT lines yet still appear: their lines that carry a ratio, a
goal or a rate are quoted under "figures as printed". A benchmark that overruns its budget is
stopped (its process group) and reported as timed out, with what it printed until then.
A benchmark that was not run (``--only``) or printed no RESULT line is named as such.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import platform
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_BUDGET_S = 900
BUDGETS_S = {"bench_load": 480, "bench_etl": 1800, "bench_kpi": 1200, "bench_dashboard": 1200}
# the scale: 20k grids, 10M events, 2M ETL rows, 2M points to assign, 5 min of load
ARGS = {
    "bench_etl": ["--rows", "2000000", "--grids", "20000"],
    "bench_kpi": ["--events", "10000000", "--grids", "20000"],
    "bench_dashboard": ["--events", "10000000", "--grids", "20000"],
    "bench_assign": ["2000000"],
    "bench_load": ["--viewers", "50", "--duration", "300", "--rate", "20"],
}
LOCK = "/tmp/cityscreen-bench.lock"
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
    command: str = ""
    status: str = "ok"
    seconds: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)  # 1-min load average before and after
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


def run_one(script: Path, budget: float, args: list[str] | None = None) -> Run:
    """Run one benchmark in its own process group, stopped at ``budget`` seconds."""
    args = list(args or [])
    run = Run(script.stem, shlex.join([f"benchmarks/{script.name}", *args]))
    run.load = (os.getloadavg()[0], 0.0)
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE,
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
    run.load = (run.load[0], os.getloadavg()[0])
    sys.stdout.write(out)
    run.figures, quoted = parse(out)
    run.quoted = [] if run.figures else quoted[:25]
    run.tail = out.strip().splitlines()[-5:] if run.status != "ok" else []
    return run


def _goal_summary(runs: list[Run]) -> list[str]:
    """One line: how many figures with a goal met it, and which did not."""
    verdicts = [(r.name, f.name, f.met()) for r in runs for f in r.figures if f.goal]
    missed = [f"{b}: {n}" for b, n, m in verdicts if m == "no"]
    met = sum(1 for *_, m in verdicts if m == "yes")
    line = f"Goals: {met} of {len(verdicts)} figures with a goal met"
    return [line + (f"; not met: {', '.join(missed)}." if missed else ".")]


def _coverage(runs: list[Run], skipped: list[str], pending: list[str]) -> list[str]:
    """Which benchmarks did not run or did not finish: the report is partial without them."""
    lines = []
    if pending:
        lines.append(f"**Report in progress, not run yet:** {', '.join(pending)}.")
    if skipped:
        lines.append(f"**Not run in this report:** {', '.join(skipped)} (their figures are "
                     "missing, not stale copies of an earlier run).")
    broken = [f"{r.name} ({r.status})" for r in runs if r.status != "ok"]
    if broken:
        lines.append(f"**Did not finish cleanly:** {', '.join(broken)}.")
    silent = [r.name for r in runs if not r.figures]
    if silent:
        lines.append(f"**Printed no RESULT line:** {', '.join(silent)} (quoted below).")
    return lines


def render(runs: list[Run], skipped: list[str] | None = None,
           pending: list[str] | None = None) -> str:
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
        *[x for line in _coverage(runs, skipped or [], pending or []) for x in (line, "")],
        *_goal_summary(runs),
        "",
        "| benchmark | figure | value | unit | goal | met | baseline | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        for f in r.figures:
            lines.append(f"| {r.name} | {f.name} | {f.value} | {f.unit} | {f.goal} | "
                         f"{f.met()} | {f.baseline} | {f.ratio} |")
    lines += ["", "## Runs", "",
              "| benchmark | command | status | seconds | load before → after | RESULT lines |",
              "|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(f"| {r.name} | `{r.command}` | {r.status} | {r.seconds:.0f} | "
                     f"{r.load[0]:.1f} → {r.load[1]:.1f} | {len(r.figures)} |")
    for r in runs:
        if r.quoted or r.tail:
            lines += ["", f"## {r.name}: figures as printed", "", "```"]
            lines += r.quoted or []
            if r.tail:
                lines += ["...", *r.tail]
            lines.append("```")
    return "\n".join(lines) + "\n"


class BenchLock:
    """The team's benchmark lock (an flock on a shared file), held around one benchmark."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    def __enter__(self) -> BenchLock:
        if self.path:
            self._fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o666)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *_: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _overrides(items: list[str], cast: type) -> dict[str, object]:
    """NAME=VALUE pairs keyed by the benchmark's script name."""
    out: dict[str, object] = {}
    for item in items:
        name, _, value = item.partition("=")
        out[name if name.startswith("bench_") else f"bench_{name}"] = cast(value)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks and write the report; exit 1 if any failed or timed out."""
    ap = argparse.ArgumentParser(description="Run every benchmark and write REPORT.md.")
    ap.add_argument("--only", nargs="*", default=None, help="names (substrings) to run")
    ap.add_argument("--budget", nargs="*", default=[], help="NAME=SECONDS time budgets")
    ap.add_argument("--args", nargs="*", default=[],
                    help='NAME="ARG ..." arguments instead of the issue-scale ones')
    ap.add_argument("--lock", default=LOCK, help="benchmark lock file ('' for none)")
    ap.add_argument("--out", default=str(HERE / "REPORT.md"))
    args = ap.parse_args(argv)
    budgets = {**BUDGETS_S, **_overrides(args.budget, float)}
    bench_args = {**ARGS, **{k: shlex.split(str(v)) for k, v in
                             _overrides(args.args, str).items()}}
    scripts = sorted(HERE.glob("bench_*.py"))
    chosen = [p for p in scripts if not args.only or any(n in p.stem for n in args.only)]
    skipped = [p.stem for p in scripts if p not in chosen]
    runs: list[Run] = []
    for i, script in enumerate(chosen):
        budget = float(budgets.get(script.stem, DEFAULT_BUDGET_S))  # type: ignore[arg-type]
        print(f"== {script.stem} (budget {budget:.0f} s)", flush=True)
        with BenchLock(args.lock):
            runs.append(run_one(script, budget, bench_args.get(script.stem)))
        pending = [p.stem for p in chosen[i + 1:]]
        Path(args.out).write_text(render(runs, skipped, pending), encoding="utf-8")  # as we go
    Path(args.out).write_text(render(runs, skipped), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0 if all(r.status == "ok" for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
