"""Exports of the current view for meetings: map PNG, tables as CSV/XLSX, a one-page report.

PNG goes through kaleido, which drives the system Chromium (found by itself on Debian); CSV
is UTF-8 with a BOM so Excel shows Chinese correctly; the HTML report is self-contained (the
map embedded as a data URI) and escapes every text it is given.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import logging
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

log = logging.getLogger("cityscreen.analysis")

Column = tuple[str, str]          # (row key, header label)
Row = Mapping[str, Any]

HOT_COLOURS = [[0.0, "#fde0c5"], [0.5, "#f46d43"], [1.0, "#a50026"]]


# ------------------------------------------------------------------ map


def hotspot_figure(geojson: dict[str, Any], items: Sequence[Row], *, value_key: str = "z",
                   title: str = "", bbox: Sequence[float] | None = None,
                   outline: dict[str, Any] | None = None, width: int = 1200,
                   height: int = 800) -> go.Figure:
    """An offline MapLibre figure of flagged grids (GeoJSON features with ``id`` = grid code).

    ``items`` are hotspot rows (``grid_code``, ``name``, ``why``, ``value_key``); ``outline``
    an optional FeatureCollection drawn as a thin boundary (the unit being shown).
    """
    fig = go.Figure()
    if outline is not None and outline.get("features"):
        fig.add_trace(go.Choroplethmap(
            geojson=outline, locations=[f["id"] for f in outline["features"]],
            z=[0] * len(outline["features"]), featureidkey="id", showscale=False,
            colorscale=[[0, "rgba(120,140,160,0.08)"], [1, "rgba(120,140,160,0.08)"]],
            marker_line_color="#6b7b8c", marker_line_width=1, hoverinfo="skip"))
    if items:
        fig.add_trace(go.Choroplethmap(
            geojson=geojson, locations=[r["grid_code"] for r in items],
            z=[float(r.get(value_key) or 0) for r in items], featureidkey="id",
            colorscale=HOT_COLOURS, marker_opacity=0.85, marker_line_color="#7f0000",
            marker_line_width=1.5, colorbar={"title": {"text": value_key}},
            text=[f"{r.get('name') or r['grid_code']}<br>{r.get('why', '')}" for r in items],
            hoverinfo="text"))
        # a ring at each hotspot's label point: a single small grid stays visible city-wide
        marked = [r for r in items if r.get("lon") is not None and r.get("lat") is not None]
        if marked:
            fig.add_trace(go.Scattermap(
                lon=[r["lon"] for r in marked], lat=[r["lat"] for r in marked],
                mode="markers", hoverinfo="skip", showlegend=False,
                marker={"size": 22, "color": "rgba(165,0,38,0.25)"}))
    view = _view(bbox, width, height)
    fig.update_layout(map={"style": "white-bg", **view}, width=width, height=height,
                      margin={"l": 0, "r": 0, "t": 48 if title else 0, "b": 0},
                      title={"text": title, "x": 0.01}, paper_bgcolor="white",
                      font={"family": "Noto Sans CJK SC, WenQuanYi Micro Hei, sans-serif"})
    return fig


def _view(bbox: Sequence[float] | None, width: int, height: int) -> dict[str, Any]:
    """Map centre and zoom that fit ``bbox`` (lon/lat) into the figure."""
    if not bbox or any(v is None for v in bbox):
        return {"center": {"lon": 0.0, "lat": 0.0}, "zoom": 1}
    x0, y0, x1, y1 = (float(v) for v in bbox)
    span_x = max(x1 - x0, 1e-6)
    span_y = max(y1 - y0, 1e-6) / max(math.cos(math.radians((y0 + y1) / 2)), 0.1)
    zoom = min(math.log2(360 * width / 512 / span_x), math.log2(360 * height / 512 / span_y))
    return {"center": {"lon": (x0 + x1) / 2, "lat": (y0 + y1) / 2},
            "zoom": max(0.0, min(18.0, zoom - 0.5))}


def keep_browser() -> None:
    """Keep one headless Chromium for PNG exports in this process (first image ~3 s, then <1 s).

    Call it lazily inside a long-lived worker (after a gunicorn fork, never at import); without
    it every export starts and stops its own browser.
    """
    import kaleido

    kaleido.start_sync_server(silence_warnings=True)


def close_browser() -> None:
    """Stop the browser kept by ``keep_browser`` (if any)."""
    import kaleido

    kaleido.stop_sync_server(silence_warnings=True)


def figure_png(fig: go.Figure, path: Path | None = None, *, width: int | None = None,
               height: int | None = None, scale: float = 1.0) -> bytes:
    """Render a Plotly figure (MapLibre included) to PNG bytes with kaleido; write ``path`` too."""
    started = time.perf_counter()
    with warnings.catch_warnings():
        # plotly passes browser options that a kept browser already has
        warnings.filterwarnings("ignore", "The kopts argument is ignored", UserWarning)
        png = pio.to_image(fig, format="png", width=width, height=height, scale=scale)
    log.info("png export %d bytes in %.2f s", len(png), time.perf_counter() - started)
    if path is not None:
        Path(path).write_bytes(png)
    return png


# ------------------------------------------------------------------ tables


def _cell(value: Any) -> Any:
    """Values as a spreadsheet wants them: datetimes without zone noise, None as empty."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, (list, tuple, dict)):
        return str(value)
    return value


def table_csv(rows: Sequence[Row], columns: Sequence[Column], path: Path | None = None) -> bytes:
    """The rows as CSV, UTF-8 with a BOM (Excel opens Chinese correctly), headers as labels."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow([label for _, label in columns])
    for r in rows:
        writer.writerow([_cell(r.get(key)) for key, _ in columns])
    data = ("\ufeff" + buf.getvalue()).encode("utf-8")
    if path is not None:
        Path(path).write_bytes(data)
    return data


def table_xlsx(rows: Sequence[Row], columns: Sequence[Column], path: Path | None = None, *,
               sheet: str = "数据", title: str | None = None) -> bytes:
    """The rows as an XLSX workbook (openpyxl): bold frozen header, sensible column widths."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = sheet[:31]
    first = 1
    if title:
        ws.cell(row=1, column=1, value=title).font = Font(bold=True, size=14)
        first = 3
    for j, (_, label) in enumerate(columns, 1):
        ws.cell(row=first, column=j, value=label).font = Font(bold=True)
    for i, r in enumerate(rows, first + 1):
        for j, (key, _) in enumerate(columns, 1):
            ws.cell(row=i, column=j, value=_cell(r.get(key)))
    ws.freeze_panes = ws.cell(row=first + 1, column=1)
    for j, (key, label) in enumerate(columns, 1):
        longest = max([len(str(label)) * 2] + [len(str(_cell(r.get(key)))) for r in rows[:200]])
        ws.column_dimensions[ws.cell(row=first, column=j).column_letter].width = min(
            60, max(8, longest + 2))
    buf = io.BytesIO()
    wb.save(buf)
    data = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data


# ------------------------------------------------------------------ one-page report

_REPORT_CSS = """
@page { size: A4 landscape; margin: 12mm; }
body { font-family: "Noto Sans CJK SC", "WenQuanYi Micro Hei", "Microsoft YaHei", sans-serif;
       color: #1b2733; margin: 0; }
header { display: flex; justify-content: space-between; align-items: baseline;
         border-bottom: 2px solid #1b2733; margin-bottom: 8px; }
h1 { font-size: 20px; margin: 0 0 4px 0; }
.meta { font-size: 11px; color: #55606b; }
.kpis { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0; }
.kpi { border: 1px solid #c8d0d8; border-radius: 4px; padding: 4px 10px; min-width: 90px; }
.kpi .v { font-size: 18px; font-weight: bold; }
.kpi .l { font-size: 11px; color: #55606b; }
.body { display: flex; gap: 12px; }
.map img { max-width: 100%; max-height: 150mm; border: 1px solid #c8d0d8; }
.map { flex: 1 1 55%; }
.table { flex: 1 1 45%; }
table { border-collapse: collapse; width: 100%; font-size: 11px; }
th, td { border: 1px solid #c8d0d8; padding: 2px 5px; text-align: left; }
th { background: #eef2f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
footer { font-size: 10px; color: #55606b; margin-top: 6px; }
@media print { .body { break-inside: avoid; } }
"""


def report_html(*, title: str, kpis: Sequence[tuple[str, Any]], rows: Sequence[Row],
                columns: Sequence[Column], map_png: bytes | None = None,
                subtitle: str = "", generated_at: datetime | None = None,
                notes: Sequence[str] = (), table_title: str = "排名") -> str:
    """A self-contained, printable one-page HTML report: KPIs, map (data URI) and a table.

    Every text given (titles, labels, cell values, notes) is HTML-escaped.
    """
    esc = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="zh-CN"><head><meta charset="utf-8">',
             f"<title>{esc(title)}</title><style>{_REPORT_CSS}</style></head><body>",
             f"<header><div><h1>{esc(title)}</h1><div class=\"meta\">{esc(subtitle)}</div></div>",
             f"<div class=\"meta\">生成时间 {esc(_stamp(generated_at))}</div></header>",
             '<section class="kpis">']
    for label, value in kpis:
        parts.append(f'<div class="kpi"><div class="v">{esc(_fmt(value))}</div>'
                     f'<div class="l">{esc(str(label))}</div></div>')
    parts.append('</section><section class="body">')
    if map_png:
        uri = "data:image/png;base64," + base64.b64encode(map_png).decode("ascii")
        parts.append(f'<div class="map"><img alt="{esc(title)} 地图" src="{uri}"></div>')
    parts.append(f'<div class="table"><h2 style="font-size:14px;margin:0 0 4px 0">'
                 f'{esc(table_title)}</h2><table><thead><tr>')
    parts += [f"<th>{esc(str(label))}</th>" for _, label in columns]
    parts.append("</tr></thead><tbody>")
    for r in rows:
        parts.append("<tr>")
        for key, _ in columns:
            value = r.get(key)
            cls = ' class="num"' if isinstance(value, (int, float)) else ""
            parts.append(f"<td{cls}>{esc(_fmt(value))}</td>")
        parts.append("</tr>")
    parts.append("</tbody></table></div></section>")
    if notes:
        parts.append("<footer>" + "<br>".join(esc(n) for n in notes) + "</footer>")
    parts.append("</body></html>")
    return "".join(parts)


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def _stamp(at: datetime | None) -> str:
    if at is None:
        from cityscreen.settings import get_settings

        at = datetime.now(get_settings().tz)
    return at.strftime("%Y-%m-%d %H:%M")
