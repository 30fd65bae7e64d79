"""Meeting-mode ranking: composite score, 环比 and 同比 against a hand-computed case."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dashboard.analysis import ranking
from tests.analysis.conftest import CITY, DISTRICT, insert_event

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2025, 3, 10, tzinfo=TZ)
END = START + timedelta(days=7)
STREETS = {"990101001": 10_000, "990101002": 20_000, "990101003": 5_000}


def _box(i: int) -> str:
    x0 = 80 + i * 0.1
    return (f"SRID=4326;MULTIPOLYGON((({x0} 40,{x0 + 0.1} 40,{x0 + 0.1} 40.1,{x0} 40.1,"
            f"{x0} 40)))")


def _case(conn, street: str, at: datetime, *, closed_after_h: float | None = None,
          deadline_h: float = 24, satisfaction: int | None = None) -> None:
    extra = {"deadline_at": at + timedelta(hours=deadline_h), "satisfaction": satisfaction}
    if closed_after_h is not None:
        extra.update(status="closed", closed_at=at + timedelta(hours=closed_after_h))
    insert_event(conn, None, None, street + "001001", at, **extra)


@pytest.fixture
def streets(conn):
    with conn.cursor() as cur:
        for code, level, parent in ((CITY, "city", None), (DISTRICT, "district", CITY)):
            cur.execute("INSERT INTO admin_unit (code, level, parent_code, name, geom)"
                        " VALUES (%s, %s, %s, %s, ST_GeomFromEWKT(%s))",
                        (code, level, parent, f"测试{level}", _box(0)))
        for i, (code, pop) in enumerate(STREETS.items()):
            cur.execute("INSERT INTO admin_unit (code, level, parent_code, name, geom,"
                        " population) VALUES (%s, 'street', %s, %s, ST_GeomFromEWKT(%s), %s)",
                        (code, DISTRICT, f"街道{i + 1}", _box(i), pop))
    s1, s2, s3 = STREETS
    t = START + timedelta(days=1)
    for _ in range(10):                       # S1: 10 cases, all closed on time
        _case(conn, s1, t, closed_after_h=1)
    for _ in range(4):                        # … 4 of them rated 5
        _case(conn, s1, t, closed_after_h=1, satisfaction=5)
    for i in range(10):                       # S2: 10 closed, half late; 1 of 2 ratings good
        _case(conn, s2, t, closed_after_h=2 if i < 5 else 30,
              satisfaction=(5 if i == 0 else 2) if i < 2 else None)
    for _ in range(2):                        # S3: 2 on time, 2 open past their deadline
        _case(conn, s3, t, closed_after_h=1)
        _case(conn, s3, t)
    before = START - timedelta(days=3)        # the previous week (环比)
    for _ in range(5):
        _case(conn, s1, before, closed_after_h=1)
    for _ in range(20):
        _case(conn, s2, before, closed_after_h=1)
    for _ in range(10):                       # a year earlier (同比): S2 had 10 as well
        _case(conn, s2, START.replace(year=2024) + timedelta(days=2), closed_after_h=1)
    return list(STREETS)


def test_composite_score_and_comparisons_by_hand(conn, streets):
    s1, s2, s3 = streets
    result = ranking.rank_children(conn, DISTRICT, START, END)
    by = {r["code"]: r for r in result["items"]}
    # S1 has 14 cases (10 + 4 rated): recompute the hand case with that in mind
    assert by[s1]["metrics"]["received"] == 14
    assert by[s1]["metrics"]["volume_per_10k"] == 14.0
    assert by[s2]["metrics"]["volume_per_10k"] == 5.0
    assert by[s3]["metrics"]["volume_per_10k"] == 8.0
    assert by[s2]["metrics"]["on_time_rate"] == 0.5
    assert by[s3]["metrics"]["on_time_rate"] == 1.0
    assert by[s3]["metrics"]["overdue_open"] == 2
    assert by[s1]["metrics"]["satisfaction"] == 1.0
    assert by[s2]["metrics"]["satisfaction"] == 0.5
    assert by[s3]["metrics"]["satisfaction"] is None
    # volume (lower better): 14→0, 5→100, 8→(14-8)/9·100; on time: 100, 0, 100;
    # overdue (lower better): 100, 100, 0; satisfaction: 100, 0, — (S3 drops that weight)
    v3 = (14 - 8) / 9 * 100
    assert by[s1]["score"] == pytest.approx((0.2 * 0 + 0.4 * 100 + 0.2 * 100 + 0.2 * 100), 0.01)
    assert by[s2]["score"] == pytest.approx(0.2 * 100 + 0.2 * 100, abs=0.01)
    assert by[s3]["score"] == pytest.approx((0.2 * v3 + 0.4 * 100) / 0.8, abs=0.01)
    assert [r["code"] for r in result["items"]] == [s1, s3, s2]
    assert [r["rank"] for r in result["items"]] == [1, 2, 3]
    # 环比: S1 14 vs 5, S2 10 vs 20, S3 4 vs 0 (no percentage from zero)
    prev = {k: by[k]["previous"]["received"] for k in streets}
    assert (prev[s1]["delta"], prev[s1]["pct"], prev[s1]["arrow"]) == (9, 1.8, "↑")
    assert prev[s1]["better"] is False          # more cases is not good news
    assert (prev[s2]["delta"], prev[s2]["pct"], prev[s2]["arrow"]) == (-10, -0.5, "↓")
    assert prev[s2]["better"] is True
    assert (prev[s3]["delta"], prev[s3]["pct"]) == (4, None)
    assert by[s2]["previous"]["on_time_rate"]["delta"] == -0.5
    assert by[s2]["previous"]["on_time_rate"]["better"] is False
    # 同比: S2 had 10 a year before
    assert by[s2]["year_ago"]["received"]["delta"] == 0
    assert by[s2]["year_ago"]["received"]["arrow"] == "→"
    assert result["periods"]["previous"] == [(START - timedelta(days=7)).isoformat(),
                                             START.isoformat()]
    assert result["periods"]["year_ago"][0].startswith("2024-03-10")
    # the previous week, all on time and nothing overdue: volume decides — S3 (none) 100,
    # S1 (5/10k) 50, S2 (10/10k) 0; so S1 climbed from 2nd to 1st
    assert [by[k]["rank_previous"] for k in (s3, s1, s2)] == [1, 2, 3]
    assert by[s1]["rank_change"] == 1 and by[s3]["rank_change"] == -1
    rows, columns = ranking.ranking_table(result)
    assert [label for _, label in columns][:3] == ["排名", "单位", "综合得分"]
    assert rows[0]["name"] == "街道1" and rows[0]["on_time_rate"] == "100.0%"
    assert rows[2]["received_prev"] == "↓50.0%"
    assert rows[2]["on_time_prev"] == "↓50.0个百分点"
    assert rows[0]["rank_change"] == "↑1" and rows[1]["rank_change"] == "↓1"


def test_custom_weights_and_validation(conn, streets):
    s1, s2, s3 = streets
    only_on_time = ranking.rank_children(conn, DISTRICT, START, END,
                                         weights={"on_time_rate": 1})
    assert [(r["code"], r["score"]) for r in only_on_time["items"]] == [
        (s1, 100.0), (s3, 100.0), (s2, 0.0)]
    with pytest.raises(ValueError):
        ranking.rank_children(conn, DISTRICT, START, END, weights={"speed": 1})
    with pytest.raises(ValueError):
        ranking.check_weights({"on_time_rate": 0})


def test_shift_year_handles_leap_day():
    assert ranking.shift_year(datetime(2024, 2, 29, 8)) == datetime(2023, 2, 28, 8)
    p = ranking.periods(START, END)
    assert p["previous"] == (START - timedelta(days=7), START)
