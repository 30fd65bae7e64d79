"""Boundary import: GeoJSON / GeoPackage / Shapefile → checked, repaired WGS-84 admin units.

Everything is checked before anything is written, and the write is one transaction: a file
either loads whole or not at all, with one message saying what is wrong.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from cityscreen.db import Connection
from geo.codes import LEVELS, parent_of, validate_code
from geo.coords import SYSTEMS, convert_geometry, normalize_crs
from geo.units import Unit, as_multipolygon, store_units

log = logging.getLogger("cityscreen.geo")

WITHIN_TOLERANCE = 0.01  # a child may stick out of its parent by 1% of its area (digitising)
OVERLAP_THRESHOLD = 0.01  # siblings may overlap by 1% of the smaller one's area
GEOJSON_SUFFIXES = (".geojson", ".json")


class BoundaryError(ValueError):
    """A boundary file cannot be loaded; the message says why, in one line."""


@dataclass
class Feature:
    """One boundary as read from the file (before checks)."""

    index: int  # 1-based position in the file
    props: dict[str, Any]
    geom: BaseGeometry | None


@dataclass
class ImportResult:
    """What a boundary import did (or would do)."""

    level: str
    units: list[Unit]
    repaired: list[str] = field(default_factory=list)
    replaced: int = 0
    source_crs: str = "wgs84"

    def summary(self) -> str:
        """One line for people."""
        text = f"loaded {len(self.units)} {self.level} boundaries (source CRS {self.source_crs})"
        if self.replaced:
            text += f", {self.replaced} replaced"
        if self.repaired:
            shown = ", ".join(self.repaired[:10]) + (" …" if len(self.repaired) > 10 else "")
            text += f"; repaired {len(self.repaired)} invalid geometries with make_valid: {shown}"
        return text


# ---------------------------------------------------------------- reading


def _crs_from_geojson(obj: dict[str, Any]) -> str | None:
    crs = obj.get("crs")
    if isinstance(crs, dict):
        name = (crs.get("properties") or {}).get("name")
        return str(name) if name else None
    return None


def _read_geojson(path: Path) -> tuple[list[Feature], str | None]:
    try:
        obj = json.loads(path.read_text("utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BoundaryError(f"cannot read {path}: {exc}") from None
    if not isinstance(obj, dict) or "type" not in obj:
        raise BoundaryError(f"cannot read {path}: not a GeoJSON object")
    kind = obj["type"]
    if kind == "FeatureCollection":
        raw = obj.get("features") or []
    elif kind == "Feature":
        raw = [obj]
    elif "coordinates" in obj or kind == "GeometryCollection":
        # A bare geometry with a `properties` member, as some Chinese boundary datasets ship.
        raw = [{"type": "Feature", "geometry": {k: v for k, v in obj.items() if k != "properties"},
                "properties": obj.get("properties") or {}}]
    else:
        raise BoundaryError(f"cannot read {path}: unsupported GeoJSON type {kind!r}")
    features = []
    for i, f in enumerate(raw, start=1):
        geom = None
        if isinstance(f, dict) and f.get("geometry"):
            try:
                geom = shapely.geometry.shape(f["geometry"])
            except (ValueError, TypeError, KeyError, AttributeError,
                    shapely.errors.GEOSException) as exc:
                raise BoundaryError(f"feature #{i}: unreadable geometry ({exc})") from None
        props = (f.get("properties") or {}) if isinstance(f, dict) else {}
        features.append(Feature(i, dict(props), geom))
    return features, _crs_from_geojson(obj)


def _read_ogr(path: Path) -> tuple[list[Feature], str | None]:
    import pyogrio

    try:
        meta = pyogrio.read_info(path)
        table = pyogrio.read_dataframe(path)
    except Exception as exc:  # pyogrio raises several driver-specific errors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BoundaryError(f"cannot read {path}: {first}") from None
    crs = meta.get("crs")
    columns = [c for c in table.columns if c != table.geometry.name]
    features = []
    for i, (geom, row) in enumerate(zip(table.geometry.values, table[columns].itertuples(
            index=False, name=None), strict=True), start=1):
        props = {c: _plain(v) for c, v in zip(columns, row, strict=True)}
        features.append(Feature(i, props, geom if geom is not None else None))
    return features, str(crs) if crs else None


def _plain(value: Any) -> Any:
    """numpy/pandas scalars → plain Python (for codes and JSON attrs)."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        try:
            return value.item()
        except (ValueError, AttributeError):
            return str(value)
    return value


def read_features(path: str | Path) -> tuple[list[Feature], str | None]:
    """Features of a boundary file and the CRS it declares (None when it declares none)."""
    path = Path(path)
    if not path.exists():
        raise BoundaryError(f"file not found: {path}")
    if not path.is_file():
        raise BoundaryError(f"not a file: {path}")
    if path.suffix.lower() in GEOJSON_SUFFIXES:
        return _read_geojson(path)
    return _read_ogr(path)


# ---------------------------------------------------------------- coordinate systems


def _to_wgs84(geoms: list[BaseGeometry], crs: str | None, declared: str | None) -> tuple[
        list[BaseGeometry], str]:
    """Geometries in WGS-84 lon/lat, from --crs (wins) or the CRS the file declares."""
    name = crs or declared
    if name is None:
        return geoms, "wgs84"
    try:
        system = normalize_crs(name)
    except ValueError:
        system = None
    if system is not None:
        if system == "wgs84":
            return geoms, "wgs84"
        return [convert_geometry(g, system, "wgs84") for g in geoms], system
    try:
        src = pyproj.CRS.from_user_input(name)
    except pyproj.exceptions.CRSError:
        raise BoundaryError(
            f"unknown coordinate system {name!r}; expected one of {', '.join(SYSTEMS)} "
            "or an EPSG code such as EPSG:4547") from None
    epsg = src.to_epsg()
    label = f"EPSG:{epsg}" if epsg else src.name
    if src.is_geographic and epsg in (4326, 4490, 4610, 4214, None) and epsg is not None:
        return geoms, label  # WGS-84 / CGCS2000 and their kin: same lon/lat to well under 1 m
    tr = pyproj.Transformer.from_crs(src, "EPSG:4326", always_xy=True)

    def _project(coords: np.ndarray) -> np.ndarray:
        x, y = tr.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return [shapely.transform(g, _project) for g in geoms], label


# ---------------------------------------------------------------- checks


def _code_of(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _check_codes(features: list[Feature], code_field: str, level: str,
                 parent: str | None, path: Path) -> list[str]:
    if not features:
        raise BoundaryError(f"{path} holds no features")
    fields = sorted({k for f in features for k in f.props})
    if not any(code_field in f.props for f in features):
        raise BoundaryError(f"code field {code_field!r} not found in {path.name}; "
                            f"fields: {', '.join(fields) or '(none)'}")
    codes: list[str] = []
    seen: dict[str, int] = {}
    for f in features:
        code = _code_of(f.props.get(code_field))
        if code is None:
            raise BoundaryError(f"feature #{f.index} has no {code_field!r} value")
        try:
            validate_code(code, level=level, parent=parent)
        except ValueError as exc:
            raise BoundaryError(f"feature #{f.index}: malformed code: {exc}") from None
        if code in seen:
            raise BoundaryError(f"duplicate code {code!r} (features #{seen[code]} and #{f.index})")
        seen[code] = f.index
        codes.append(code)
    return codes


def _check_geometries(features: list[Feature], codes: list[str]) -> tuple[list[BaseGeometry],
                                                                           list[str]]:
    geoms: list[BaseGeometry] = []
    repaired: list[str] = []
    for f, code in zip(features, codes, strict=True):
        g = f.geom
        if g is None or g.is_empty:
            raise BoundaryError(f"feature #{f.index} ({code}) has no geometry")
        if not isinstance(g, shapely.Polygon | shapely.MultiPolygon):
            raise BoundaryError(f"feature #{f.index} ({code}): geometry type {g.geom_type} is "
                                "not a Polygon or MultiPolygon")
        if g.has_z:
            g = shapely.force_2d(g)
        if not g.is_valid:
            reason = shapely.is_valid_reason(g)
            g = as_multipolygon(shapely.make_valid(g))
            repaired.append(f"{code} ({reason})")
            if g.is_empty:
                raise BoundaryError(f"feature #{f.index} ({code}): geometry is degenerate "
                                    "(nothing polygonal left after repair)")
        geoms.append(as_multipolygon(g))
    return geoms, repaired


def _check_lonlat(geoms: list[BaseGeometry], path: Path) -> None:
    xmin, ymin, xmax, ymax = shapely.total_bounds(np.array(geoms, dtype=object))
    if xmin < -180 or xmax > 180 or ymin < -90 or ymax > 90:
        raise BoundaryError(f"{path.name}: coordinates are not longitude/latitude (x from "
                            f"{xmin:.0f} to {xmax:.0f}); give its projection with --crs EPSG:NNNN")


def _parent_geoms(conn: Connection, codes: set[str]) -> dict[str, BaseGeometry]:
    with conn.cursor() as cur:
        cur.execute("SELECT code, ST_AsBinary(geom) FROM admin_unit WHERE code = ANY(%s)",
                    (sorted(codes),))
        return {code: shapely.from_wkb(bytes(wkb)) for code, wkb in cur.fetchall()}


def _check_within(codes: list[str], geoms: list[BaseGeometry], parents: list[str | None],
                  parent_geom: dict[str, BaseGeometry], tolerance: float) -> None:
    for code, g, p in zip(codes, geoms, parents, strict=True):
        if p is None:
            continue
        outside = shapely.difference(g, parent_geom[p]).area / g.area
        if outside > tolerance:
            raise BoundaryError(f"{code} is not within its parent {p}: {outside:.1%} of its area "
                                f"lies outside (tolerance {tolerance:.1%})")


def _check_overlaps(codes: list[str], geoms: list[BaseGeometry], parents: list[str | None],
                    threshold: float) -> None:
    arr = np.array(geoms, dtype=object)
    tree = shapely.STRtree(arr)
    left, right = tree.query(arr, predicate="intersects")
    same_parent = np.array([parents[i] == parents[j] for i, j in zip(left, right, strict=True)],
                           dtype=bool)
    keep = (left < right) & same_parent
    left, right = left[keep], right[keep]
    if left.size == 0:
        return
    # vectorised: neighbours in a coverage touch, so there are ~3 pairs per unit
    shared = shapely.area(shapely.intersection(arr[left], arr[right]))
    smaller = np.minimum(shapely.area(arr[left]), shapely.area(arr[right]))
    share = np.divide(shared, smaller, out=np.zeros_like(shared), where=smaller > 0)
    worst = int(np.argmax(share))
    if share[worst] > threshold:
        i, j = left[worst], right[worst]
        raise BoundaryError(f"siblings {codes[i]} and {codes[j]} overlap: the overlap is "
                            f"{share[worst]:.1%} of the smaller one (threshold {threshold:.1%})")


# ---------------------------------------------------------------- the import


def import_boundaries(conn: Connection, path: str | Path, *, level: str, code_field: str,
                      name_field: str | None = None, parent: str | None = None,
                      crs: str | None = None, within_tolerance: float = WITHIN_TOLERANCE,
                      overlap_threshold: float = OVERLAP_THRESHOLD) -> ImportResult:
    """Read, check, repair and store one level of boundaries (no commit: caller's transaction)."""
    path = Path(path)
    if level not in LEVELS:
        raise BoundaryError(f"unknown level {level!r}; expected one of {', '.join(LEVELS)}")
    if crs is not None:
        _to_wgs84([], crs, None)  # unknown CRS fails before the file is even read
    features, declared = read_features(path)
    codes = _check_codes(features, code_field, level, parent, path)
    if name_field is not None and not any(name_field in f.props for f in features):
        raise BoundaryError(f"name field {name_field!r} not found in {path.name}")
    geoms, repaired = _check_geometries(features, codes)
    geoms, source = _to_wgs84(geoms, crs, declared)
    _check_lonlat(geoms, path)
    # after reprojection a valid ring can turn invalid in rare cases: repair again, silently
    geoms = [g if g.is_valid else as_multipolygon(shapely.make_valid(g)) for g in geoms]
    parents = [parent or parent_of(c) for c in codes]
    needed = {p for p in parents if p is not None}
    found = _parent_geoms(conn, needed)
    missing = sorted(needed - set(found))
    if missing:
        raise BoundaryError(f"parent {missing[0]} is not in the database: load the "
                            f"{LEVELS[LEVELS.index(level) - 1]} level first")
    _check_within(codes, geoms, parents, found, within_tolerance)
    _check_overlaps(codes, geoms, parents, overlap_threshold)
    units = []
    for f, code, g, p in zip(features, codes, geoms, parents, strict=True):
        name = _code_of(f.props.get(name_field)) if name_field else None
        attrs = {k: _plain(v) for k, v in f.props.items() if k not in (code_field, name_field)}
        attrs = json.loads(json.dumps(attrs, ensure_ascii=False, default=str))
        units.append(Unit(code, level, p, name or code, g, None, attrs))
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM admin_unit WHERE code = ANY(%s)", (codes,))
        replaced = cur.fetchone()[0]
    store_units(conn, units, upsert=True)
    with conn.cursor() as cur:
        cur.execute("SELECT bump_data_version(NULL)")
    log.info("imported %d %s boundaries from %s", len(units), level, path)
    return ImportResult(level, units, repaired, replaced, source)


def read_districts(path: str | Path, *, code_field: str = "adcode", name_field: str = "name",
                   parent: str = "420600", crs: str | None = None) -> list[tuple[str, str,
                                                                                BaseGeometry]]:
    """District boundaries from a file as (code, name, WGS-84 geometry), checked and repaired."""
    path = Path(path)
    features, declared = read_features(path)
    codes = _check_codes(features, code_field, "district", parent, path)
    geoms, repaired = _check_geometries(features, codes)
    if repaired:
        log.warning("repaired %d invalid district geometries", len(repaired))
    geoms, _ = _to_wgs84(geoms, crs, declared)
    _check_lonlat(geoms, path)
    names = [_code_of(f.props.get(name_field)) or c for f, c in zip(features, codes, strict=True)]
    return list(zip(codes, names, geoms, strict=True))
