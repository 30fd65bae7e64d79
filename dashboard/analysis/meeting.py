"""One call for the meeting-mode export: ranking table (CSV, XLSX), hotspot map (PNG) and the
one-page HTML report that combines them with the unit's KPIs."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from cityscreen.db import Connection
from dashboard import kpi
from dashboard.analysis import export, hotspots, ranking

Method = Literal["emerging", "gi_star"]

KPI_TILES: list[tuple[str, str]] = [
    ("received", "受理量"), ("closure_rate", "结案率"), ("on_time_rate", "按期结案率"),
    ("overdue_open", "超期未结"), ("satisfaction", "满意率"),
]


def _tile(key: str, value: Any) -> Any:
    is_rate = key.endswith("rate") or key == "satisfaction"
    return f"{value * 100:.1f}%" if is_rate and value is not None else value


def meeting_export(conn: Connection, unit: str | None, start: datetime, end: datetime, *,
                   weights: Mapping[str, float] | None = None, method: Method = "emerging",
                   with_map: bool = True, out_dir: Path | None = None,
                   title: str | None = None) -> dict[str, bytes]:
    """Files of the meeting view: ``ranking.csv``, ``ranking.xlsx``, ``map.png``, ``report.html``.

    Returned as {file name: bytes}; written into ``out_dir`` too when given. The map shows
    the flagged hotspots (``method``) over the unit's outline; ``with_map=False`` skips the
    browser (no PNG, report without map).
    """
    result = ranking.rank_children(conn, unit, start, end, weights=weights)
    code = result["unit"]
    rows, columns = ranking.ranking_table(result)
    files = {"ranking.csv": export.table_csv(rows, columns),
             "ranking.xlsx": export.table_xlsx(rows, columns, sheet="排名",
                                               title=title or "下级单位排名")}
    detect = hotspots.emerging_hotspots if method == "emerging" else hotspots.gi_star
    spots = detect(conn, start, end, unit=code)
    png = None
    if with_map and code is not None:
        layer = hotspots.hotspot_geojson(conn, spots)
        outline = hotspots.unit_outline(conn, code)
        fig = export.hotspot_figure(layer["fc"], layer["items"],
                                    value_key="score" if method == "emerging" else "z",
                                    title="热点网格", bbox=outline["bbox"],
                                    outline=outline["fc"], width=1000, height=700)
        png = export.figure_png(fig)
        files["map.png"] = png
    unit_kpis = kpi.unit_kpis(conn, code, start, end)
    top = hotspots.significant(spots, 5)
    notes = [f"热点 {i}. {r.get('name') or r['grid_code']}：{r['why']}"
             for i, r in enumerate(top, 1)]
    notes.append("综合得分权重：" + "，".join(
        f"{ranking.METRICS[k][0]} {v:g}" for k, v in result["weights"].items()))
    page = export.report_html(
        title=title or "领导会商报告",
        subtitle=f"{start:%Y-%m-%d %H:%M} — {end:%Y-%m-%d %H:%M}",
        kpis=[(label, _tile(key, unit_kpis.get(key))) for key, label in KPI_TILES],
        rows=rows, columns=columns, map_png=png, notes=notes)
    files["report.html"] = page.encode("utf-8")
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (out_dir / name).write_bytes(data)
    return files
