"""Exports opened and checked: PNG decodes and shows the map, CSV/XLSX read back, HTML parses."""

from __future__ import annotations

import base64
import csv
import io
from datetime import datetime, timedelta
from html.parser import HTMLParser

import numpy as np
import pytest
from openpyxl import load_workbook

from dashboard.analysis import export, hotspots
from tests.analysis.conftest import CITY, WINDOW_END, WINDOW_START, grid_code, insert_counts
from tests.analysis.png import png_size, read_png

COLUMNS = [("rank", "排名"), ("name", "单位"), ("score", "综合得分"), ("note", "说明"),
           ("at", "时间"), ("missing", "满意率")]
ROWS = [
    {"rank": 1, "name": "樊城区", "score": 91.25, "note": '含逗号, 和"引号"', "at":
     datetime(2031, 3, 10, 8, 30), "missing": None},
    {"rank": 2, "name": "襄城区", "score": 80.5, "note": "<script>alert(1)</script>",
     "at": datetime(2031, 3, 10, 9, 0), "missing": 0.9},
]


@pytest.fixture(scope="module", autouse=True)
def browser():
    """One Chromium for this module's PNGs (also exercises the kept-browser path)."""
    export.keep_browser()
    yield
    export.close_browser()


def _hot_figure(conn, lattice):
    counts = {c: 1 for c in lattice}
    for code in [grid_code(r, c) for r in (4, 5) for c in (6, 7)]:
        counts[code] = 25
    insert_counts(conn, counts, WINDOW_START)
    result = hotspots.gi_star(conn, WINDOW_START, WINDOW_END, unit=CITY)
    layer = hotspots.hotspot_geojson(conn, result)
    outline = hotspots.unit_outline(conn, CITY)
    assert {f["id"] for f in layer["fc"]["features"]} == {r["grid_code"] for r in layer["items"]}
    assert len(layer["items"]) >= 4
    return export.hotspot_figure(layer["fc"], layer["items"], title="热点 测试",
                                 bbox=outline["bbox"], outline=outline["fc"], width=480,
                                 height=360), result


def test_map_png_decodes_and_shows_the_hotspots(conn, lattice, tmp_path):
    fig, _ = _hot_figure(conn, lattice)
    path = tmp_path / "map.png"
    png = export.figure_png(fig, path)
    assert path.read_bytes() == png
    img = read_png(png)
    assert img.shape[:2] == (360, 480)
    rgb = img[..., :3].reshape(-1, 3)
    assert len(np.unique(rgb, axis=0)) > 20                       # not a blank canvas
    hot = (rgb[:, 0] > 150) & (rgb[:, 1] < 120) & (rgb[:, 2] < 120)
    assert hot.sum() > 200                                         # the red hotspot cells


def test_csv_has_bom_and_reads_back(tmp_path):
    data = export.table_csv(ROWS, COLUMNS, tmp_path / "t.csv")
    assert data.startswith(b"\xef\xbb\xbf")
    assert (tmp_path / "t.csv").read_bytes() == data
    back = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert back[0] == [label for _, label in COLUMNS]
    assert back[1] == ["1", "樊城区", "91.25", '含逗号, 和"引号"', "2031-03-10 08:30", ""]
    assert back[2][3] == "<script>alert(1)</script>" and back[2][5] == "0.9"
    assert len(back) == 3


def test_xlsx_reads_back(tmp_path):
    export.table_xlsx(ROWS, COLUMNS, tmp_path / "t.xlsx", sheet="排名", title="区县排名")
    ws = load_workbook(tmp_path / "t.xlsx").active
    assert ws.title == "排名"
    assert ws.cell(1, 1).value == "区县排名"
    assert [c.value for c in ws[3]] == [label for _, label in COLUMNS]
    assert [c.value for c in ws[4]][:4] == [1, "樊城区", 91.25, '含逗号, 和"引号"']
    assert ws.cell(5, 6).value == 0.9 and ws.cell(4, 6).value in (None, "")
    assert ws.freeze_panes == "A4"


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.imgs: list[dict] = []
        self.cells: list[str] = []
        self._in_td = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.imgs.append(dict(attrs))
        self._in_td = tag == "td"

    def handle_endtag(self, tag):
        if tag == "td":
            self._in_td = False

    def handle_data(self, data):
        if self._in_td:
            self.cells.append(data)


def test_report_html_embeds_map_escapes_text(conn, lattice, tmp_path):
    fig, result = _hot_figure(conn, lattice)
    png = export.figure_png(fig)
    page = export.report_html(
        title="会商报告 <b>", subtitle="2031-03-10 08:00–12:00",
        kpis=[("受理量", 1234), ("按期结案率", 0.9567), ("超期 & 督办", None)],
        rows=ROWS, columns=COLUMNS, map_png=png,
        generated_at=datetime(2031, 3, 10, 12) + timedelta(minutes=5),
        notes=["热点：Gi* FDR 0.05 <i>"])
    (tmp_path / "r.html").write_text(page, encoding="utf-8")
    parsed = _Collect()
    parsed.feed(page)
    assert "script" not in parsed.tags and "b" not in parsed.tags and "i" not in parsed.tags
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "会商报告 &lt;b&gt;" in page and "超期 &amp; 督办" in page
    assert parsed.tags.count("tr") == 1 + len(ROWS)
    assert "<script>alert(1)</script>" in parsed.cells   # the text survives, as text
    (img,) = parsed.imgs
    assert img["src"].startswith("data:image/png;base64,")
    assert base64.b64decode(img["src"].split(",", 1)[1]) == png
    assert "0.96" in page and "1234" in page and "2031-03-10 12:05" in page
    assert result["n_hot"] >= 4


def test_meeting_export_files(conn, lattice, tmp_path):
    from dashboard.analysis import meeting

    for week in range(1, 5):   # a quiet history, then a burst in one grid
        insert_counts(conn, dict.fromkeys(lattice, 1), WINDOW_START - timedelta(days=7 * week))
    insert_counts(conn, {**dict.fromkeys(lattice, 1), grid_code(3, 3): 30}, WINDOW_START)
    files = meeting.meeting_export(conn, CITY, WINDOW_START, WINDOW_END, out_dir=tmp_path)
    assert set(files) == {"ranking.csv", "ranking.xlsx", "map.png", "report.html"}
    assert (tmp_path / "report.html").read_bytes() == files["report.html"]
    assert png_size(files["map.png"]) == (1000, 700)
    back = list(csv.reader(io.StringIO(files["ranking.csv"].decode("utf-8-sig"))))
    assert back[0][:3] == ["排名", "单位", "综合得分"] and back[1][1] == "测试district"
    page = files["report.html"].decode("utf-8")
    assert "领导会商报告" in page and "网格3-3" in page and "data:image/png;base64," in page
