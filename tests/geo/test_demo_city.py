"""The demo city: exact tiling at every level, valid codes, determinism, and what gets stored."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
import shapely

from geo.codes import LEVELS, level_of, validate_code
from geo.demo_city import DISTRICTS, generate
from geo.units import Unit


@pytest.fixture(scope="module")
def demo():
    return generate(grids=400, seed=7)


def _children(units: list[Unit]) -> dict[str, list[Unit]]:
    kids: dict[str, list[Unit]] = defaultdict(list)
    for u in units:
        if u.parent:
            kids[u.parent].append(u)
    return kids


def test_every_parent_is_tiled_exactly_by_its_children(demo) -> None:
    kids = _children(demo.units)
    checked = 0
    for parent in demo.units:
        if parent.level == "grid":
            assert parent.code not in kids
            continue
        children = kids[parent.code]
        assert children, f"{parent.code} has no children"
        geoms = np.array([c.geom for c in children], dtype=object)
        union = shapely.union_all(geoms)
        area = parent.geom.area
        assert shapely.symmetric_difference(union, parent.geom).area <= 1e-6 * area
        # no overlaps: the children's areas add up to the parent's
        assert abs(shapely.area(geoms).sum() - area) <= 1e-6 * area
        checked += 1
    assert checked == sum(len(demo.codes[lv]) for lv in LEVELS[:-1])


def test_each_level_is_a_valid_coverage(demo) -> None:
    for level in LEVELS[1:]:
        geoms = np.array([u.geom for u in demo.level(level)], dtype=object)
        assert shapely.is_valid(geoms).all()
        assert shapely.coverage_is_valid(geoms), level


def test_codes_names_and_populations(demo) -> None:
    assert demo.codes["city"] == ["420600"]
    assert sorted(demo.codes["district"]) == sorted(d[0] for d in DISTRICTS)
    names = {u.code: u.name for u in demo.level("district")}
    assert names["420606"] == "樊城区" and names["420683"] == "枣阳市"
    for u in demo.units:
        assert validate_code(u.code, level=u.level, parent=u.parent) == u.level
        assert u.population is not None and u.population >= 0
    assert len(demo.codes["grid"]) == 400
    assert len({u.code for u in demo.units}) == len(demo.units)
    kids = _children(demo.units)
    for u in demo.units:
        if u.level != "grid":
            assert u.population == sum(c.population for c in kids[u.code])
    assert all(u.name.endswith(("街道", "镇", "乡")) for u in demo.level("street"))
    assert all(u.name.endswith(("社区", "村")) for u in demo.level("community"))
    assert all("第" in u.name and u.name.endswith("网格") for u in demo.level("grid"))


def test_urban_core_is_denser(demo) -> None:
    by_district = defaultdict(list)
    for g in demo.level("grid"):
        by_district[g.code[:6]].append(g.geom.area)
    core = np.median(by_district["420606"] + by_district["420602"])
    county = np.median(by_district["420626"])
    assert core * 5 < county


def test_placed_in_xiangyang(demo) -> None:
    xmin, ymin, xmax, ymax = demo.level("city")[0].geom.bounds
    assert xmin >= 110.9 and xmax <= 113.1 and ymin >= 31.2 and ymax <= 32.7
    fancheng = next(u for u in demo.level("district") if u.code == "420606")
    baokang = next(u for u in demo.level("district") if u.code == "420626")
    assert fancheng.geom.centroid.x > baokang.geom.centroid.x  # 保康 lies far west


def test_deterministic_by_seed() -> None:
    a, b, c = generate(60, seed=3), generate(60, seed=3), generate(60, seed=4)
    assert [(u.code, u.name, u.population, u.geom.wkb) for u in a.units] == [
        (u.code, u.name, u.population, u.geom.wkb) for u in b.units]
    assert [u.geom.wkb for u in a.units] != [u.geom.wkb for u in c.units]


def test_subdivides_given_districts() -> None:
    boxes = [("420606", "樊城区", shapely.box(112.0, 32.03, 112.2, 32.15)),
             ("420602", "襄城区", shapely.box(112.0, 31.9, 112.2, 32.03))]
    demo = generate(50, seed=2, districts=boxes)
    assert demo.codes["district"] == ["420602", "420606"]
    for code, _, box in boxes:
        d = next(u for u in demo.level("district") if u.code == code)
        assert shapely.symmetric_difference(d.geom, box).area <= 1e-6 * box.area
        assert all(level_of(g) == "grid" for g in demo.codes["grid"])


def test_fixture_city_is_stored(city, conn) -> None:
    assert city["code"] == "420600" and city.code == "420600"
    with conn.cursor() as cur:
        cur.execute("SELECT level, count(*), bool_and(ST_IsValid(geom)),"
                    " bool_and(geom_display IS NOT NULL), sum(area_m2) FROM admin_unit"
                    " WHERE code LIKE '4206%%' GROUP BY level")
        rows = {r[0]: r[1:] for r in cur.fetchall()}
        for level in LEVELS:
            assert rows[level][0] == len(city[level])
            assert rows[level][1] and rows[level][2]
        # areas are metric and every level covers the same ground
        city_area = rows["city"][3]
        assert 1.2e10 < city_area < 3e10
        for level in LEVELS:
            assert abs(rows[level][3] - city_area) < 1e-6 * city_area
        grid, (lon, lat) = next(iter(city.points.items()))
        cur.execute("SELECT code FROM admin_unit WHERE level = 'grid'"
                    " AND ST_Intersects(geom, ST_SetSRID(ST_Point(%s, %s), 4326))", (lon, lat))
        assert [r[0] for r in cur.fetchall()] == [grid]


def test_display_geometry_keeps_shared_borders(city, conn) -> None:
    with conn.cursor() as cur:
        for level in ("district", "street", "grid"):
            cur.execute("SELECT ST_Area(ST_Union(geom_display)), sum(ST_Area(geom_display)),"
                        " sum(ST_NPoints(geom_display)), sum(ST_NPoints(geom))"
                        " FROM admin_unit WHERE level = %s AND code LIKE '4206%%'", (level,))
            union_area, summed, n_display, n_full = cur.fetchone()
            assert abs(union_area - summed) <= 1e-4 * summed, level  # no overlaps
            assert n_display <= n_full


def test_districts_file_is_read_and_subdivided(tmp_path) -> None:
    import json

    from geo.boundaries import BoundaryError, read_districts

    boxes = {"420606": shapely.box(112.0, 32.03, 112.2, 32.15),
             "420602": shapely.box(112.0, 31.9, 112.2, 32.03)}
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"adcode": int(code), "name": f"区{code}"},
         "geometry": shapely.geometry.mapping(box)} for code, box in boxes.items()]}
    path = tmp_path / "districts.geojson"
    path.write_text(json.dumps(fc), "utf-8")
    districts = read_districts(path)
    assert [(c, n) for c, n, _ in districts] == [("420606", "区420606"), ("420602", "区420602")]
    demo = generate(40, seed=5, districts=districts)
    assert sorted(demo.codes["district"]) == ["420602", "420606"]
    assert 30 <= len(demo.codes["grid"]) <= 50
    with pytest.raises(BoundaryError, match="code field 'code' not found"):
        read_districts(path, code_field="code")
