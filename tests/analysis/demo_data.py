"""Generated demo cases (the ETL-live generator) rolled up straight into ``event_hourly``.

The analysis tests need the generator's planted hotspots, not the whole ETL pipeline, so the
generated cases are counted per (grid, hour, channel, subitem) and inserted on the caller's
connection (rolled back by the ``conn`` fixture). Cases the feeds would write address-only
keep their grid here: a small difference to a real load that does not matter for scoring.
"""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from etl import demo_events


def clone_city(conn, source: str, target: str = "990100") -> str:
    """Copy a loaded city's units under the fake city code ``target`` (same shapes).

    Our counts then live under codes nobody else writes, so other tests' committed cases for
    the real city cannot leak into the baseline or the scoring.
    """
    src, dst = source[:4], target[:4]
    with conn.cursor() as cur:
        cur.execute("""
            INSERT INTO admin_unit (code, level, parent_code, name, geom, area_m2, population)
            SELECT %(dst)s || substr(code, 5), level,
                   CASE WHEN parent_code IS NULL THEN NULL
                        ELSE %(dst)s || substr(parent_code, 5) END,
                   name, geom, area_m2, population
            FROM admin_unit WHERE code LIKE %(pattern)s""",
                    {"dst": dst, "pattern": src + "%"})
    return target


def load_generated(conn, *, days: int, per_day: int, seed: int, end: datetime,
                   n_hotspots: int | None = None, city_code: str | None = None,
                   truth_path: Path) -> dict[str, Any]:
    """Generate demo cases for the city in the database, roll them up, return the truth."""
    ctx = demo_events.load_city(conn, city_code, seed=seed)
    data = demo_events.generate(ctx, days=days, per_day=per_day, seed=seed, end=end,
                                n_hotspots=n_hotspots)
    cols = data.cols
    frame = pd.DataFrame({
        "grid_code": ctx.grid_codes[cols["grid"]],
        "hour": pd.to_datetime((cols["reported"] // 3600 * 3600).astype("int64"), unit="s",
                               utc=True),
        "channel": np.array(demo_events.CHANNELS)[cols["channel"]],
        "category": ctx.cat_codes[cols["cat"]],
    })
    rolled = frame.value_counts().rename("n_reported").reset_index()
    buf = io.StringIO()
    rolled.to_csv(buf, index=False, header=False, date_format="%Y-%m-%d %H:%M:%S+00")
    buf.seek(0)
    with conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE analysis_rollup (LIKE event_hourly INCLUDING DEFAULTS)"
                    " ON COMMIT DROP")
        cur.copy_expert("COPY analysis_rollup (grid_code, hour, channel, category, n_reported)"
                        " FROM STDIN WITH (FORMAT csv)", buf)
        cur.execute("INSERT INTO event_hourly (grid_code, hour, channel, category, n_reported)"
                    " SELECT grid_code, hour, channel, category, n_reported FROM analysis_rollup"
                    " ON CONFLICT (grid_code, hour, channel, category) DO UPDATE"
                    " SET n_reported = event_hourly.n_reported + EXCLUDED.n_reported")
    demo_events.write_truth(data, truth_path, seed)
    return {"truth_path": truth_path, "cases": data.n, "rollup_rows": len(rolled)}
