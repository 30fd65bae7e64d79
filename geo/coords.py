"""Chinese coordinate systems: WGS-84 (= CGCS2000 here), GCJ-02 (AMap/Tencent), BD-09 (Baidu).

The forward offsets are the published closed forms. Their inverses have no closed form: the usual
one-step approximation is off by several centimetres, so we invert by fixed-point iteration
(the offset's Jacobian is close to the identity, so each step gains ~5 digits) until the
round trip matches to 1e-12 degree. Everything is vectorised over numpy arrays. Points outside
China are returned unchanged by every conversion, as the published algorithms do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

SYSTEMS: tuple[str, ...] = ("wgs84", "cgcs2000", "gcj02", "bd09")
_ALIASES: dict[str, str] = {
    "wgs84": "wgs84", "wgs-84": "wgs84", "wgs_84": "wgs84", "epsg:4326": "wgs84", "4326": "wgs84",
    "gps": "wgs84", "cgcs2000": "wgs84", "cgcs-2000": "wgs84", "epsg:4490": "wgs84",
    "4490": "wgs84", "tianditu": "wgs84",
    "gcj02": "gcj02", "gcj-02": "gcj02", "gcj_02": "gcj02", "amap": "gcj02", "gaode": "gcj02",
    "tencent": "gcj02",
    "bd09": "bd09", "bd-09": "bd09", "bd_09": "bd09", "bd09ll": "bd09", "baidu": "bd09",
}

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by GCJ-02
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0
_TOL = 1e-12  # degrees; iteration stop (far below the 1e-7 contract)
_MAX_ITER = 30

Array = NDArray[np.float64]
T = TypeVar("T")


def normalize_crs(name: str) -> str:
    """Canonical system name (wgs84, gcj02, bd09) for a user-given name; ValueError if unknown."""
    key = str(name).strip().lower() if name is not None else ""
    try:
        return _ALIASES[key]
    except KeyError:
        raise ValueError(f"unknown coordinate system {name!r}; expected one of "
                         f"{', '.join(SYSTEMS)}") from None


def out_of_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """True where a point lies outside the rough China box the offsets apply to."""
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _offset(lon: Array, lat: Array) -> tuple[Array, Array]:
    """GCJ-02 offset in degrees (dlon, dlat) at WGS-84 position (lon, lat)."""
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x + common
            + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x + common
            + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0)
    radlat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    return dlon, dlat


def _wgs_to_gcj(lon: Array, lat: Array) -> tuple[Array, Array]:
    dlon, dlat = _offset(lon, lat)
    return lon + dlon, lat + dlat


def _gcj_to_bd(lon: Array, lat: Array) -> tuple[Array, Array]:
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd_to_gcj_approx(lon: Array, lat: Array) -> tuple[Array, Array]:
    x = lon - 0.0065
    y = lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _invert(forward: Callable[[Array, Array], tuple[Array, Array]], lon: Array, lat: Array,
            start: tuple[Array, Array]) -> tuple[Array, Array]:
    """Solve forward(x, y) == (lon, lat) by fixed-point iteration from ``start``."""
    x, y = start[0].copy(), start[1].copy()
    for _ in range(_MAX_ITER):
        fx, fy = forward(x, y)
        ex, ey = lon - fx, lat - fy
        x += ex
        y += ey
        if x.size == 0 or max(np.nanmax(np.abs(ex)), np.nanmax(np.abs(ey))) < _TOL:
            break
    return x, y


def _gcj_to_wgs(lon: Array, lat: Array) -> tuple[Array, Array]:
    dlon, dlat = _offset(lon, lat)
    return _invert(_wgs_to_gcj, lon, lat, (lon - dlon, lat - dlat))


def _bd_to_gcj(lon: Array, lat: Array) -> tuple[Array, Array]:
    return _invert(_gcj_to_bd, lon, lat, _bd_to_gcj_approx(lon, lat))


def _steps(src: str, dst: str) -> list[Callable[[Array, Array], tuple[Array, Array]]]:
    """The chain of elementary conversions from ``src`` to ``dst`` (canonical names)."""
    order = ("wgs84", "gcj02", "bd09")
    up = {("wgs84", "gcj02"): _wgs_to_gcj, ("gcj02", "bd09"): _gcj_to_bd}
    down = {("gcj02", "wgs84"): _gcj_to_wgs, ("bd09", "gcj02"): _bd_to_gcj}
    i, j = order.index(src), order.index(dst)
    if i <= j:
        return [up[(order[k], order[k + 1])] for k in range(i, j)]
    return [down[(order[k], order[k - 1])] for k in range(i, j, -1)]


@overload
def convert(lon: float, lat: float, src: str, dst: str) -> tuple[float, float]: ...
@overload
def convert(lon: ArrayLike, lat: ArrayLike, src: str, dst: str) -> tuple[Array, Array]: ...


def convert(lon: Any, lat: Any, src: str, dst: str) -> tuple[Any, Any]:
    """Convert coordinates between systems; floats in, floats out; arrays keep their shape."""
    src, dst = normalize_crs(src), normalize_crs(dst)
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    x = np.array(lon, dtype=np.float64, ndmin=1)
    y = np.array(lat, dtype=np.float64, ndmin=1)
    if x.shape != y.shape:
        raise ValueError(f"lon and lat differ in shape: {x.shape} vs {y.shape}")
    if src != dst:
        inside = ~out_of_china(x, y) & np.isfinite(x) & np.isfinite(y)
        if inside.all():
            rx, ry = x, y
            for step in _steps(src, dst):
                rx, ry = step(rx, ry)
            x, y = rx, ry
        elif inside.any():
            rx, ry = x[inside], y[inside]
            for step in _steps(src, dst):
                rx, ry = step(rx, ry)
            x[inside], y[inside] = rx, ry
    if scalar:
        return float(x.reshape(-1)[0]), float(y.reshape(-1)[0])
    return x, y


def convert_geometry(geom: T, src: str, dst: str) -> T:
    """Convert a shapely geometry (or array of them) between coordinate systems."""
    src, dst = normalize_crs(src), normalize_crs(dst)
    if src == dst:
        return geom

    def _xy(coords: Array) -> Array:
        lon, lat = convert(coords[:, 0], coords[:, 1], src, dst)
        return np.column_stack([lon, lat])

    return shapely.transform(geom, _xy)  # type: ignore[return-value]
