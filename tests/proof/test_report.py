"""benchmarks/report.py: RESULT lines parsed, goals judged, missing benchmarks named."""

from __future__ import annotations

from typing import Any

from tests.support import benchmark_module


def _report() -> Any:
    return benchmark_module("report")


def test_result_lines_are_parsed_and_judged_against_their_goals() -> None:
    r = _report()
    figures, quoted = r.parse("\n".join([
        "noise",
        "RESULT load_p95_ms=93.0 ms goal=<=500 baseline=40.1 ratio=0.43",
        "RESULT load_errors=2 count goal=0",
        "RESULT assign_speedup=4.9 x goal=>=5 baseline=47187 ratio=4.9",
        "RESULT coords_rate=1863843 pts/s",
        "p95 of something 12 ms",
    ]))
    assert [(f.name, f.value, f.unit, f.goal, f.baseline, f.ratio) for f in figures] == [
        ("load_p95_ms", "93.0", "ms", "<=500", "40.1", "0.43"),
        ("load_errors", "2", "count", "0", "", ""),
        ("assign_speedup", "4.9", "x", ">=5", "47187", "4.9"),
        ("coords_rate", "1863843", "pts/s", "", "", ""),
    ]
    assert [f.met() for f in figures] == ["yes", "no", "no", ""]
    assert quoted == ["p95 of something 12 ms"]


def test_the_report_names_what_did_not_run_or_missed_its_goal() -> None:
    r = _report()
    ok = r.Run("bench_load", "benchmarks/bench_load.py --duration 300", figures=[
        r.Figure("load_p95_ms", "612.0", "ms", "<=500", "40", "0.07")])
    broken = r.Run("bench_etl", "benchmarks/bench_etl.py", status="timed out after 10 s",
                   tail=["loading 1,000,000 rows"])
    text = r.render([ok, broken], skipped=["bench_kpi"], pending=["bench_coords"])
    assert "**Not run in this report:** bench_kpi" in text
    assert "not run yet:** bench_coords" in text
    assert "**Did not finish cleanly:** bench_etl (timed out after 10 s)" in text
    assert "**Printed no RESULT line:** bench_etl" in text
    assert "not met: bench_load: load_p95_ms" in text
    assert "| bench_load | load_p95_ms | 612.0 | ms | <=500 | no | 40 | 0.07 |" in text
    assert "`benchmarks/bench_load.py --duration 300`" in text
    assert "loading 1,000,000 rows" in text
