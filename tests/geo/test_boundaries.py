"""Boundary import: happy paths for GeoJSON / GeoPackage / Shapefile and every broken case.

A fictitious city 429900 is used so the session's demo city 420600 is never touched; every
import runs in the test's transaction, which is rolled back afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from geo.boundaries import BoundaryError, import_boundaries
from geo.coords import convert

CITY = shapely.box(111.0, 30.0, 111.2, 30.2)
WEST = shapely.box(111.0, 30.0, 111.1, 30.2)
EAST = shapely.box(111.1, 30.0, 111.2, 30.2)


def _fc(*features: tuple[dict, shapely.Geometry | None]) -> dict:
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props,
         "geometry": shapely.geometry.mapping(geom) if geom is not None else None}
        for props, geom in features]}


def _write(path: Path, obj: dict | str) -> Path:
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False), "utf-8")
    return path


@pytest.fixture
def with_city(conn, tmp_path):
    """The fictitious city 429900 loaded in the test transaction."""
    path = _write(tmp_path / "city.geojson", _fc(({"adcode": 429900, "name": "测试市"}, CITY)))
    result = import_boundaries(conn, path, level="city", code_field="adcode", name_field="name")
    assert len(result.units) == 1
    return conn


def _rows(conn, prefix: str = "4299") -> dict[str, tuple]:
    with conn.cursor() as cur:
        cur.execute("SELECT code, level, parent_code, name, area_m2, ST_AsText(geom),"
                    " geom_display IS NOT NULL, attrs FROM admin_unit WHERE code LIKE %s",
                    (prefix + "%",))
        return {r[0]: r[1:] for r in cur.fetchall()}


# ---------------------------------------------------------------- happy paths


def test_geojson_feature_collection(with_city, tmp_path) -> None:
    conn = with_city
    west = {"adcode": "429901", "name": "西区", "pop": 5}
    path = _write(tmp_path / "d.geojson", _fc((west, WEST),
                                              ({"adcode": "429902", "name": "东区"}, EAST)))
    result = import_boundaries(conn, path, level="district", code_field="adcode",
                               name_field="name", parent="429900")
    assert [u.code for u in result.units] == ["429901", "429902"]
    rows = _rows(conn)
    level, parent, name, area, _, has_display, attrs = rows["429901"]
    assert (level, parent, name, has_display) == ("district", "429900", "西区", True)
    assert attrs == {"pop": 5}
    # 0.1 x 0.2 degrees at 30 N: about 9.64 km x 22.2 km, in m² (not degrees)
    assert 2.0e8 < area < 2.3e8
    assert abs(rows["429900"][3] - 2 * area) < 0.01 * area


def test_geojson_single_feature_and_bare_geometry(with_city, tmp_path) -> None:
    conn = with_city
    feature = {"type": "Feature", "properties": {"code": "429901", "name": "西区"},
               "geometry": shapely.geometry.mapping(WEST)}
    import_boundaries(conn, _write(tmp_path / "f.geojson", feature), level="district",
                      code_field="code", name_field="name")
    bare = dict(shapely.geometry.mapping(shapely.MultiPolygon([EAST])))
    bare["properties"] = {"code": 429902, "name": "东区"}
    import_boundaries(conn, _write(tmp_path / "b.json", bare), level="district",
                      code_field="code", name_field="name")
    rows = _rows(conn)
    assert rows["429901"][2] == "西区" and rows["429902"][2] == "东区"
    assert rows["429902"][1] == "429900"  # parent derived from the code


def test_geopackage_in_projected_crs(with_city, tmp_path) -> None:
    conn = with_city
    frame = gpd.GeoDataFrame({"adcode": ["429901", "429902"], "name": ["西区", "东区"]},
                             geometry=[WEST, EAST], crs="EPSG:4326").to_crs("EPSG:32649")
    path = tmp_path / "d.gpkg"
    frame.to_file(path, driver="GPKG")
    result = import_boundaries(conn, path, level="district", code_field="adcode",
                               name_field="name")
    assert result.source_crs == "EPSG:32649"
    stored = shapely.from_wkt(_rows(conn)["429901"][4])
    assert shapely.symmetric_difference(stored, WEST).area < 1e-4 * WEST.area


def test_shapefile_with_gcj02_option(with_city, tmp_path) -> None:
    conn = with_city
    shifted = [shapely.transform(g, lambda c: __import__("numpy").column_stack(
        convert(c[:, 0], c[:, 1], "wgs84", "gcj02"))) for g in (WEST, EAST)]
    frame = gpd.GeoDataFrame({"adcode": [429901, 429902], "name": ["西区", "东区"]},
                             geometry=shifted, crs="EPSG:4326")
    path = tmp_path / "d.shp"
    frame.to_file(path, driver="ESRI Shapefile", encoding="utf-8")
    result = import_boundaries(conn, path, level="district", code_field="adcode",
                               name_field="name", crs="gcj02")
    assert result.source_crs == "gcj02"
    rows = _rows(conn)
    stored = shapely.from_wkt(rows["429902"][4])
    assert shapely.symmetric_difference(stored, EAST).area < 1e-8
    assert rows["429902"][2] == "东区"


def test_invalid_geometry_repaired_and_reported(with_city, tmp_path) -> None:
    conn = with_city
    bowtie = shapely.Polygon([(111.0, 30.0), (111.1, 30.1), (111.1, 30.0), (111.0, 30.1)])
    path = _write(tmp_path / "d.geojson", _fc(({"adcode": "429901"}, bowtie)))
    result = import_boundaries(conn, path, level="district", code_field="adcode")
    assert len(result.repaired) == 1 and "429901" in result.repaired[0]
    assert "Self-intersection" in result.repaired[0]
    assert "repaired 1 invalid geometries with make_valid" in result.summary()
    with conn.cursor() as cur:
        cur.execute("SELECT ST_IsValid(geom), ST_NumGeometries(geom) FROM admin_unit"
                    " WHERE code = '429901'")
        assert cur.fetchone() == (True, 2)


def test_reimport_updates_in_place_keeping_children(with_city, tmp_path) -> None:
    conn = with_city
    path = _write(tmp_path / "d.geojson", _fc(({"adcode": "429901", "name": "西区"}, WEST)))
    import_boundaries(conn, path, level="district", code_field="adcode", name_field="name")
    street = _write(tmp_path / "s.geojson", _fc(({"adcode": "429901001"}, WEST)))
    import_boundaries(conn, street, level="street", code_field="adcode")
    renamed = _write(tmp_path / "d2.geojson", _fc(({"adcode": "429901", "name": "新西区"}, WEST)))
    result = import_boundaries(conn, renamed, level="district", code_field="adcode",
                               name_field="name")
    assert result.replaced == 1
    rows = _rows(conn)
    assert rows["429901"][2] == "新西区" and "429901001" in rows


# ---------------------------------------------------------------- broken files


BROKEN = [
    ("missing", None, {}, "file not found"),
    ("unreadable", "{not json", {}, "cannot read"),
    ("not geojson", '{"hello": 1}', {}, "not a GeoJSON object"),
    ("unknown crs", _fc(({"adcode": "429901"}, WEST)), {"crs": "mars"},
     "unknown coordinate system 'mars'"),
    ("code field missing", _fc(({"name": "西区"}, WEST)), {},
     "code field 'adcode' not found in d.geojson; fields: name"),
    ("code value missing", _fc(({"adcode": None}, WEST)), {}, "feature #1 has no 'adcode' value"),
    ("duplicate", _fc(({"adcode": "429901"}, WEST), ({"adcode": "429901"}, EAST)), {},
     "duplicate code '429901' (features #1 and #2)"),
    ("malformed", _fc(({"adcode": "4299X1"}, WEST)), {},
     "feature #1: malformed code: code '4299X1' must contain only the digits"),
    ("wrong level", _fc(({"adcode": "429901001"}, WEST)), {},
     "is a street code, not a district code"),
    ("wrong parent", _fc(({"adcode": "429901"}, WEST)), {"parent": "428800"},
     "does not share the first 4 digits of city '428800'"),
    ("no geometry", _fc(({"adcode": "429901"}, None)), {}, "feature #1 (429901) has no geometry"),
    ("not polygon", _fc(({"adcode": "429901"}, shapely.LineString([(111, 30), (111.1, 30.1)]))),
     {}, "geometry type LineString is not a Polygon or MultiPolygon"),
    ("projected without crs", _fc(({"adcode": "429901"}, shapely.box(500000, 3300000,
                                                                        510000, 3310000))),
     {}, "coordinates are not longitude/latitude"),
    ("outside parent", _fc(({"adcode": "429901"}, shapely.box(111.1, 30.0, 111.3, 30.2))), {},
     "429901 is not within its parent 429900: 50.0% of its area lies outside"),
    ("siblings overlap", _fc(({"adcode": "429901"}, shapely.box(111.0, 30.0, 111.15, 30.2)),
                             ({"adcode": "429902"}, EAST)), {},
     "siblings 429901 and 429902 overlap: the overlap is 50.0% of the smaller one"),
]


@pytest.mark.parametrize(("content", "options", "message"), [b[1:] for b in BROKEN],
                         ids=[b[0] for b in BROKEN])
def test_broken_file(with_city, tmp_path, content, options, message) -> None:
    conn = with_city
    path = tmp_path / "d.geojson"
    if content is not None:
        _write(path, content)
    before = _rows(conn)
    with pytest.raises(BoundaryError) as err:
        import_boundaries(conn, path, level="district", code_field="adcode", **options)
    assert message in str(err.value)
    assert _rows(conn) == before  # nothing partially loaded


def test_parent_not_loaded(conn, tmp_path) -> None:
    path = _write(tmp_path / "d.geojson", _fc(({"adcode": "429901"}, WEST)))
    with pytest.raises(BoundaryError, match="parent 429900 is not in the database: load the "
                                            "city level first"):
        import_boundaries(conn, path, level="district", code_field="adcode")


def test_unreadable_geopackage(with_city, tmp_path) -> None:
    path = tmp_path / "d.gpkg"
    path.write_bytes(b"this is not a geopackage")
    with pytest.raises(BoundaryError, match=r"cannot read .*d\.gpkg"):
        import_boundaries(with_city, path, level="district", code_field="adcode")


def test_cli_reports_one_line_and_loads_nothing(tmp_path, database_url) -> None:
    path = _write(tmp_path / "d.geojson", _fc(({"adcode": "429901"}, WEST),
                                              ({"adcode": "429901"}, EAST)))
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "cityscreen"), "load", "boundaries", str(path),
         "--level", "district", "--code-field", "adcode"],
        capture_output=True, text=True, check=False)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "duplicate code '429901'" in lines[0] and "nothing loaded" in lines[0]
