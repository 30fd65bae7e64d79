"""`demo events`: realistic, deterministic demo cases, planted hotspots, loaded via the pipeline."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from cityscreen.cli import main
from cityscreen.settings import get_settings
from etl import demo_events as de

END = datetime(2026, 6, 30, 15, 30, tzinfo=get_settings().tz)


@pytest.fixture(scope="module")
def ctx(city: Any) -> de.CityContext:
    from cityscreen import db

    with db.transaction() as conn:
        return de.load_city(conn, city.code)


@pytest.fixture(scope="module")
def month(ctx: de.CityContext) -> de.DemoData:
    """Four weeks at the full daily volume."""
    return de.generate(ctx, days=28, per_day=3000, seed=1, end=END, n_cameras=600)


def _local_hours(data: de.DemoData, rows: Any) -> Any:
    return (((data.cols["reported"][rows] + data.tz_offset) % de.DAY) // de.HOUR).astype(int)


def test_same_seed_same_data_other_seed_other_data(ctx: de.CityContext) -> None:
    a = de.generate(ctx, days=3, per_day=500, seed=4, end=END)
    b = de.generate(ctx, days=3, per_day=500, seed=4, end=END)
    c = de.generate(ctx, days=3, per_day=500, seed=5, end=END)
    assert a.cols.keys() == b.cols.keys()
    for key in a.cols:
        np.testing.assert_array_equal(a.cols[key], b.cols[key], err_msg=key)
    assert [h.__dict__ for h in a.hotspots] == [h.__dict__ for h in b.hotspots]
    assert a.n != c.n or not np.array_equal(a.cols["reported"], c.cols["reported"])


def test_earlier_days_are_repeated_when_run_later(ctx: de.CityContext) -> None:
    # Each calendar day has its own random stream: a run a day later repeats the earlier days.
    a = de.generate(ctx, days=3, per_day=500, seed=4, end=END, n_hotspots=0)
    b = de.generate(ctx, days=4, per_day=500, seed=4, end=END + timedelta(days=1), n_hotspots=0)
    ids_a, ids_b = de.source_ids(a), de.source_ids(b)
    common = np.isin(ids_a, ids_b)
    assert common.mean() > 0.95  # all but the part of END's day after END
    pos = {s: i for i, s in enumerate(ids_b)}
    j = np.array([pos[s] for s in ids_a[common]])
    np.testing.assert_array_equal(a.cols["reported"][common], b.cols["reported"][j])
    np.testing.assert_array_equal(a.cols["cat"][common], b.cols["cat"][j])


def test_volume_mix_and_rhythms(month: de.DemoData, ctx: de.CityContext) -> None:
    cols = month.cols
    assert 0.9 * 28 * 3000 < month.n < 1.1 * 28 * 3000
    share = np.bincount(cols["channel"], minlength=3) / month.n
    assert 0.55 < share[de.GRID_WORKER] < 0.72
    assert 0.27 < share[de.HOTLINE] < 0.40
    assert 0.01 < share[de.VIDEO_AI] < 0.08
    assert np.all(cols["reported"] <= month.end)
    # Diurnal: grid workers report on shift; the hotline rings into the evening.
    gw = cols["channel"] == de.GRID_WORKER
    hl = cols["channel"] == de.HOTLINE
    hours_gw = _local_hours(month, gw)
    assert np.mean((hours_gw >= 8) & (hours_gw < 18)) > 0.75
    assert np.mean(_local_hours(month, hl) >= 18) > np.mean(hours_gw >= 18) * 2
    # Weekly: fewer grid-worker reports on rest days.
    days = ((cols["reported"][gw] + month.tz_offset) // de.DAY).astype(np.int64)
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday
    per_day = np.bincount(days - days.min())
    dow = (np.arange(len(per_day)) + days.min() + 3) % 7
    full = slice(1, -1)  # ignore the partial first/last day
    assert per_day[full][dow[full] < 5].mean() > 1.5 * per_day[full][dow[full] >= 5].mean()
    assert set(weekday.tolist()) == set(range(7))
    # Every one of the 12 major classes occurs, street order and sanitation lead.
    majors = ctx.cat_major[cols["cat"]]
    counts = {m: int(np.sum(majors == m)) for m in ctx.major_codes}
    assert all(counts[m] > 0 for m in ctx.major_codes) and len(counts) == 12
    assert max(counts, key=counts.get) in ("01", "02")
    # Video alerts only in subitems a camera can see, from cameras.
    video = cols["channel"] == de.VIDEO_AI
    assert np.all(cols["camera"][video] >= 0) and np.all(cols["camera"][~video] == -1)
    assert len(np.unique(majors[video])) <= 4


def test_lifecycle_mostly_on_time_a_few_late_extended_reopened(month: de.DemoData,
                                                                ctx: de.CityContext) -> None:
    c = month.cols
    closed = np.where(np.isfinite(c["re_closed"]), c["re_closed"], c["closed"])
    deadline = np.where(np.isfinite(c["new_deadline"]), c["new_deadline"], c["deadline"])
    done = closed <= month.end
    late = np.mean(closed[done] > deadline[done])
    assert 0.01 < late < 0.10
    assert 0.02 < np.mean(np.isfinite(c["extended"])) < 0.04
    assert 0.01 < np.mean(np.isfinite(c["reopened"])) < 0.03
    assert 0.01 < np.mean(np.isfinite(c["returned"])) < 0.04
    # Steps in order.
    order = ["reported", "accepted", "dispatched", "resolved", "verified", "closed"]
    for a, b in itertools.pairwise(order):
        ok = np.isfinite(c[b])
        assert np.all(c[a][ok] <= c[b][ok]), (a, b)
    # Recent cases are still open; old ones closed.
    status = de.current_status(month)
    recent = c["reported"] > month.end - 2 * de.HOUR
    old = c["reported"] < month.end - 14 * de.DAY
    assert np.mean(status[recent] != "closed") > 0.6  # short "hours" deadlines close fast
    assert np.mean(status[old] == "closed") > 0.97
    # Overdue open cases exist but are few.
    open_overdue = (status != "closed") & (deadline < month.end)
    assert 0 < open_overdue.sum() < 0.02 * month.n


def test_planted_hotspots_stand_out_and_are_written_as_truth(month: de.DemoData,
                                                             ctx: de.CityContext,
                                                             tmp_path: Path) -> None:
    assert len(month.hotspots) >= 3
    active_now = [h for h in month.hotspots if h.end >= month.end]
    assert len(active_now) >= 2
    c = month.cols
    for h in month.hotspots:
        sel = (c["grid"] == h.grid) & (c["cat"] == h.category)
        t = c["reported"][sel]
        inside = (t >= h.start) & (t <= h.end)
        days_in = (h.end - h.start) / de.DAY
        days_out = 28 - days_in
        rate_in = inside.sum() / days_in
        rate_out = (~inside).sum() / max(days_out, 1)
        assert rate_in > 5 * max(rate_out, 0.2), h
        assert h.extra_events > 0
    path = de.write_truth(month, tmp_path / "truth.json", seed=1)
    truth = json.loads(path.read_text("utf-8"))
    assert truth["seed"] == 1 and len(truth["hotspots"]) == len(month.hotspots)
    first = truth["hotspots"][0]
    assert first["grid_code"] in set(ctx.grid_codes.tolist())
    assert first["category"] in set(ctx.cat_codes.tolist())
    assert datetime.fromisoformat(first["start"]) < datetime.fromisoformat(first["end"])
    assert {"intensity", "baseline_per_day", "extra_events", "major"} <= set(first)


def test_cameras_denser_in_the_core_some_offline(month: de.DemoData,
                                                 ctx: de.CityContext) -> None:
    cam = month.cameras
    assert len(cam["id"]) == 600 and len(set(cam["id"].tolist())) == 600
    assert ctx.grid_weight[cam["grid"]].mean() > 1.5 * ctx.grid_weight.mean()
    status = np.bincount(cam["status"], minlength=3) / 600
    assert 0.85 < status[0] < 0.99 and status[1] > 0


def test_demo_events_command_writes_feeds_and_loads_them_without_rejects(
        city: Any, ctx: de.CityContext, conn: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Grid-worker lifecycles inline up to a day before `end`, status updates after it.
    monkeypatch.setattr(de, "RECENT_DAYS", 1)
    end = "2026-03-10T12:00:00+08:00"
    result = CliRunner().invoke(main, [
        "demo", "events", "--days", "2", "--per-day", "300", "--seed", "3", "--cameras", "40",
        "--hotspots", "2", "--city", city.code, "--end", end, "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    for name in ("cameras.csv", "incidents.jsonl", "hotline.jsonl", "alerts.jsonl",
                 "updates.csv", "hotspots_truth.json"):
        assert (tmp_path / name).stat().st_size > 0, name
    batches = out["batches"]
    assert list(batches) == ["cameras", "incidents", "hotline", "alerts", "updates"]
    assert all(b["rejected"] == 0 for b in batches.values()), batches
    assert batches["cameras"]["loaded"] == 40
    cases = sum(batches[f]["loaded"] + batches[f]["unchanged"] + batches[f]["updated"]
                for f in ("incidents", "hotline", "alerts"))
    assert cases == out["cases"]

    # The database holds what the generator meant: same statuses, same grids.
    data = de.generate(ctx, days=2, per_day=300, seed=3, end=datetime.fromisoformat(end),
                       n_cameras=40, n_hotspots=2)
    ids = de.source_ids(data)
    status = de.current_status(data)
    with conn.cursor() as cur:
        cur.execute("SELECT source_id, status, grid_code, geom IS NULL, satisfaction FROM event"
                    " WHERE source_id = ANY(%s)", (ids.tolist(),))
        stored = {r[0]: r[1:] for r in cur.fetchall()}
    assert len(stored) == data.n
    wrong = [s for i, s in enumerate(ids) if stored[s][0] != status[i]]
    assert wrong == []
    located = [i for i, s in enumerate(ids) if not stored[s][2]]
    grid_ok = [stored[ids[i]][1] == ctx.grid_codes[data.cols["grid"][i]] for i in located]
    assert np.mean(grid_ok) == 1.0  # BD-09/GCJ-02 tickets land in the grid they came from
    address_only = sum(stored[s][2] for s in ids)
    assert address_only > 0  # some hotline tickets have only an address
    assert any(stored[s][3] is not None for s in ids)  # callback satisfaction

    # Every lifecycle step is in the timeline, whether it came inline or as an update.
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM event_transition t JOIN event e ON e.id = t.event_id"
                    " WHERE e.source_id = ANY(%s)", (ids.tolist(),))
        assert cur.fetchone()[0] == data.n + len(de.transitions(data))  # + one 'reported' each
    assert '"updates": [' in (tmp_path / "incidents.jsonl").read_text(encoding="utf-8")
    assert "grid_worker," in (tmp_path / "updates.csv").read_text(encoding="utf-8")

    # Re-running the same command changes nothing.
    again = CliRunner().invoke(main, [
        "demo", "events", "--days", "2", "--per-day", "300", "--seed", "3", "--cameras", "40",
        "--hotspots", "2", "--city", city.code, "--end", end, "--out", str(tmp_path), "--json"])
    assert again.exit_code == 0, again.output
    rerun = json.loads(again.output.strip().splitlines()[-1])["batches"]
    assert all(b["loaded"] == 0 and b["rejected"] == 0 for b in rerun.values()), rerun
