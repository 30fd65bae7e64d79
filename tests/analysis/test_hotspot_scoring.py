"""Hotspot detection scored against the demo generator's planted hotspots (a regression floor).

The benchmark (benchmarks/bench_hotspots.py) measures the goal (precision >= 0.9, recall >= 0.8)
on the full demo; here a small generated demo must stay above a lower floor.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from dashboard.analysis import hotspots, scoring
from tests.analysis.demo_data import clone_city, load_generated

PRECISION_FLOOR = 0.75
RECALL_FLOOR = 0.6


def test_emerging_hotspots_find_planted_ones_on_a_small_demo(conn, city, tmp_path):
    hotspots.LAYERS.clear()
    code = clone_city(conn, city["code"])
    loaded = load_generated(conn, days=45, per_day=600, seed=3, n_hotspots=6, city_code=code,
                            end=datetime(2031, 6, 30, 18, tzinfo=ZoneInfo("Asia/Shanghai")),
                            truth_path=tmp_path / "hotspots_truth.json")
    truth = scoring.load_truth(loaded["truth_path"])
    assert truth["city"] == code and len(truth["hotspots"]) == 6
    result = scoring.score(conn, truth, detector="emerging")
    assert result["precision"] is not None
    assert result["precision"] >= PRECISION_FLOOR, result["runs"]
    assert result["recall"] >= RECALL_FLOOR, result["runs"]
    # with the hotspot's own subitem as the filter (the duty officer's view) it is as good
    narrow = scoring.score(conn, truth, detector="emerging", category_mode="subitem")
    assert narrow["recall"] >= RECALL_FLOOR and narrow["precision"] >= PRECISION_FLOOR
    # every day of the last two weeks, quiet days included: few false alarms
    sweep = scoring.score_sweep(conn, truth, days=14)
    assert sweep["windows"] == 14
    assert sweep["precision"] is None or sweep["precision"] >= PRECISION_FLOOR, sweep
    hotspots.LAYERS.clear()
