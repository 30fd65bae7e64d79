"""Coordinate conversions against the shared reference vectors, plus shape/inverse properties."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.coords import convert, convert_geometry, normalize_crs

VECTORS = json.loads((Path(__file__).parents[1] / "data" / "coord_vectors.json").read_text("utf-8"))
# Tolerances as the vector file states them: forward exact closed form, inverse exact iteration.
TOLERANCE = {"forward": 1e-9, "inverse": 1e-7, "outside_china": 0.0}
CASES = VECTORS["cases"]


def test_every_vector_kind_has_a_tolerance() -> None:
    assert len(CASES) >= 7
    assert {c["kind"] for c in CASES} <= set(TOLERANCE)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['from']}-{c['to']}-{c['kind']}")
def test_reference_vector(case: dict) -> None:
    tol = TOLERANCE[case["kind"]]
    lon, lat = convert(case["input"][0], case["input"][1], case["from"], case["to"])
    assert isinstance(lon, float)
    assert abs(lon - case["expect"][0]) <= tol
    assert abs(lat - case["expect"][1]) <= tol


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['from']}-{c['to']}-{c['kind']}")
def test_reference_vector_vectorized(case: dict) -> None:
    tol = TOLERANCE[case["kind"]]
    lon = np.full((2, 3), case["input"][0])
    lat = np.full((2, 3), case["input"][1])
    rx, ry = convert(lon, lat, case["from"], case["to"])
    assert rx.shape == (2, 3) and ry.shape == (2, 3)
    assert np.all(np.abs(rx - case["expect"][0]) <= tol)
    assert np.all(np.abs(ry - case["expect"][1]) <= tol)


china = st.tuples(st.floats(73.0, 135.0), st.floats(3.0, 53.0))
systems = st.sampled_from(["wgs84", "gcj02", "bd09"])


@settings(max_examples=200)
@given(china, systems, systems)
def test_round_trip_is_exact(point: tuple[float, float], src: str, dst: str) -> None:
    x, y = convert(point[0], point[1], src, dst)
    bx, by = convert(x, y, dst, src)
    assert abs(bx - point[0]) < 1e-9
    assert abs(by - point[1]) < 1e-9


def test_mixed_inside_and_outside_array() -> None:
    lon = np.array([112.1441, 2.3522, np.nan, 116.404])
    lat = np.array([32.0423, 48.8566, 30.0, 39.915])
    rx, ry = convert(lon, lat, "wgs84", "bd09")
    assert rx[1] == 2.3522 and ry[1] == 48.8566
    assert np.isnan(rx[2])
    sx, sy = convert(lon[[0, 3]], lat[[0, 3]], "wgs84", "bd09")
    assert np.array_equal(rx[[0, 3]], sx) and np.array_equal(ry[[0, 3]], sy)
    assert lon[0] == 112.1441  # input untouched


def test_cgcs2000_is_wgs84_and_aliases() -> None:
    assert convert(112.1, 32.0, "cgcs2000", "wgs84") == (112.1, 32.0)
    assert normalize_crs(" GCJ-02 ") == "gcj02"
    assert normalize_crs("Baidu") == "bd09"
    assert normalize_crs("EPSG:4490") == "wgs84"


def test_unknown_system_is_named() -> None:
    with pytest.raises(ValueError, match="unknown coordinate system 'mercator'"):
        normalize_crs("mercator")
    with pytest.raises(ValueError, match="'bd11'"):
        convert(112.0, 32.0, "wgs84", "bd11")


def test_convert_geometry_matches_points() -> None:
    poly = shapely.Polygon([(112.1, 32.0), (112.2, 32.0), (112.2, 32.1), (112.1, 32.0)])
    out = convert_geometry(poly, "gcj02", "wgs84")
    coords = np.asarray(poly.exterior.coords)
    ex, ey = convert(coords[:, 0], coords[:, 1], "gcj02", "wgs84")
    assert np.allclose(np.asarray(out.exterior.coords), np.column_stack([ex, ey]), atol=0, rtol=0)
    assert convert_geometry(poly, "wgs84", "cgcs2000") is poly
