"""Admin units in memory and their bulk storage into ``admin_unit`` (COPY with EWKB).

Shared by the demo city generator and the boundary importer: metric areas, coverage-simplified
display geometry per level, and one COPY into the table inside the caller's transaction.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from cityscreen.db import Connection
from geo.codes import LEVELS

log = logging.getLogger("cityscreen.geo")

# Display tolerance per level in degrees (~1 deg = 100 km): coarse levels are drawn zoomed out.
DISPLAY_TOLERANCE: dict[str, float] = {
    "city": 0.004, "district": 0.002, "street": 0.0008, "community": 0.0003, "grid": 0.0001,
}


@dataclass
class Unit:
    """One admin unit ready to store: code, level, parent, name, WGS-84 geometry, population."""

    code: str
    level: str
    parent: str | None
    name: str
    geom: BaseGeometry
    population: int | None = None
    attrs: dict[str, Any] = field(default_factory=dict)


def as_multipolygon(geom: BaseGeometry) -> shapely.MultiPolygon:
    """Keep the polygonal parts of a geometry as one MultiPolygon (possibly empty)."""
    if isinstance(geom, shapely.MultiPolygon):
        return geom
    if isinstance(geom, shapely.Polygon):
        return shapely.MultiPolygon([geom]) if not geom.is_empty else shapely.MultiPolygon()
    polygonal = shapely.Polygon | shapely.MultiPolygon
    parts = [p for p in shapely.get_parts(geom) if isinstance(p, polygonal)]
    polys: list[shapely.Polygon] = []
    for p in parts:
        polys.extend(shapely.get_parts(p) if isinstance(p, shapely.MultiPolygon) else [p])
    return shapely.MultiPolygon([p for p in polys if not p.is_empty])


def metric_crs_for(geoms: Sequence[BaseGeometry] | np.ndarray) -> pyproj.CRS:
    """An equal-area projection centred on the data (Lambert azimuthal), for areas in m²."""
    xmin, ymin, xmax, ymax = shapely.total_bounds(np.asarray(geoms, dtype=object))
    lon0, lat0 = (xmin + xmax) / 2, (ymin + ymax) / 2
    return pyproj.CRS.from_proj4(
        f"+proj=laea +lat_0={lat0:.4f} +lon_0={lon0:.4f} +datum=WGS84 +units=m +no_defs"
    )


def areas_m2(geoms: Sequence[BaseGeometry] | np.ndarray) -> np.ndarray:
    """Areas in square metres of WGS-84 geometries, computed in an equal-area projection."""
    arr = np.asarray(geoms, dtype=object)
    if arr.size == 0:
        return np.zeros(0)
    tr = pyproj.Transformer.from_crs("EPSG:4326", metric_crs_for(arr), always_xy=True)

    def _project(coords: np.ndarray) -> np.ndarray:
        x, y = tr.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.area(shapely.transform(arr, _project))


def display_geometries(geoms: Sequence[BaseGeometry] | np.ndarray, level: str) -> np.ndarray:
    """Coverage-simplified geometries for drawing one level: neighbours keep shared borders."""
    arr = np.asarray(geoms, dtype=object)
    if arr.size == 0:
        return arr
    tol = DISPLAY_TOLERANCE[level]
    try:
        simple = shapely.coverage_simplify(arr, tol, simplify_boundary=True)
    except shapely.errors.GEOSException as exc:  # not a clean coverage: fall back per polygon
        log.warning("coverage simplification failed (%s); simplifying polygons one by one", exc)
        simple = shapely.simplify(arr, tol / 4, preserve_topology=True)
    out = np.empty(arr.size, dtype=object)
    for i, (s, g) in enumerate(zip(simple, arr, strict=True)):
        mp = as_multipolygon(s) if s is not None else shapely.MultiPolygon()
        out[i] = mp if not mp.is_empty and mp.is_valid else as_multipolygon(g)
    return out


def _text(value: Any) -> str:
    """A value in COPY text format."""
    if value is None:
        return "\\N"
    s = str(value)
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _ewkb(geoms: np.ndarray) -> np.ndarray:
    return shapely.to_wkb(shapely.set_srid(geoms, 4326), hex=True, include_srid=True)


COLUMNS = ("code, level, parent_code, name, geom, geom_display, area_m2, population, attrs")


def store_units(conn: Connection, units: Iterable[Unit], *, replace_prefix: str | None = None,
                upsert: bool = False) -> int:
    """COPY units into ``admin_unit`` (no commit).

    ``replace_prefix`` deletes every unit whose code starts with it first (a whole city);
    ``upsert`` updates units that already exist in place, so their children survive.
    """
    units = list(units)
    with conn.cursor() as cur:
        if replace_prefix:
            cur.execute("DELETE FROM admin_unit WHERE code LIKE %s", (replace_prefix + "%",))
        if not units:
            return 0
        geoms = np.array([as_multipolygon(u.geom) for u in units], dtype=object)
        area = areas_m2(geoms)
        display = np.empty(len(units), dtype=object)
        levels = np.array([u.level for u in units])
        for level in LEVELS:
            idx = np.nonzero(levels == level)[0]
            if idx.size:
                display[idx] = display_geometries(geoms[idx], level)
        geom_hex = _ewkb(geoms)
        disp_hex = _ewkb(display)
        buf = io.StringIO()
        for i, u in enumerate(units):
            row = (u.code, u.level, u.parent, u.name, geom_hex[i], disp_hex[i],
                   repr(float(area[i])), u.population,
                   json.dumps(u.attrs, ensure_ascii=False, separators=(",", ":")))
            buf.write("\t".join(_text(v) for v in row))
            buf.write("\n")
        buf.seek(0)
        if not upsert:
            cur.copy_expert(f"COPY admin_unit ({COLUMNS}) FROM STDIN", buf)
        else:
            cur.execute("CREATE TEMP TABLE admin_unit_stage (LIKE admin_unit) ON COMMIT DROP")
            cur.copy_expert(f"COPY admin_unit_stage ({COLUMNS}) FROM STDIN", buf)
            cur.execute(
                f"INSERT INTO admin_unit ({COLUMNS}) SELECT {COLUMNS} FROM admin_unit_stage"
                " ON CONFLICT (code) DO UPDATE SET level = excluded.level,"
                " parent_code = excluded.parent_code, name = excluded.name,"
                " geom = excluded.geom, geom_display = excluded.geom_display,"
                " area_m2 = excluded.area_m2,"
                " population = coalesce(excluded.population, admin_unit.population),"
                " attrs = admin_unit.attrs || excluded.attrs")
            cur.execute("DROP TABLE admin_unit_stage")
    log.info("stored %d admin units", len(units))
    return len(units)
