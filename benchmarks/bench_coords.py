"""Vectorised coordinate conversion of 1M points vs a per-point Python loop (goal: >= 50x).

RESULT lines (``benchmarks/report.py``): per conversion, the vectorised rate with the
per-point ``convert()`` loop as baseline (goal: ratio >= 50), and the ratio against a
hand-written pure-Python math loop (information).
"""

from __future__ import annotations

import math
import time

import numpy as np

from geo.coords import convert

N = 1_000_000
SAMPLE = 20_000  # the loop runs over a sample; its time is scaled to N


def _py_offset(lon: float, lat: float) -> tuple[float, float]:
    """Pure-Python GCJ-02 offset (the coordtransform style baseline, no numpy)."""
    x, y, pi = lon - 105.0, lat - 35.0, math.pi
    c = (20 * math.sin(6 * x * pi) + 20 * math.sin(2 * x * pi)) * 2 / 3
    dlat = (-100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x)) + c
            + (20 * math.sin(y * pi) + 40 * math.sin(y / 3 * pi)) * 2 / 3
            + (160 * math.sin(y / 12 * pi) + 320 * math.sin(y * pi / 30)) * 2 / 3)
    dlon = (300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x)) + c
            + (20 * math.sin(x * pi) + 40 * math.sin(x / 3 * pi)) * 2 / 3
            + (150 * math.sin(x / 12 * pi) + 300 * math.sin(x / 30 * pi)) * 2 / 3)
    rad = lat / 180 * pi
    magic = 1 - 0.00669342162296594323 * math.sin(rad) ** 2
    sm = math.sqrt(magic)
    dlat = dlat * 180 / ((6378245.0 * (1 - 0.00669342162296594323)) / (magic * sm) * pi)
    dlon = dlon * 180 / (6378245.0 / sm * math.cos(rad) * pi)
    return dlon, dlat


def _py_gcj_to_wgs(lon: float, lat: float) -> tuple[float, float]:
    """Pure-Python exact inverse by the same fixed-point iteration."""
    dx, dy = _py_offset(lon, lat)
    x, y = lon - dx, lat - dy
    for _ in range(30):
        dx, dy = _py_offset(x, y)
        ex, ey = lon - (x + dx), lat - (y + dy)
        x, y = x + ex, y + ey
        if abs(ex) < 1e-12 and abs(ey) < 1e-12:
            break
    return x, y


def _pure_python_baseline(lon: np.ndarray, lat: np.ndarray) -> None:
    """Compare against a hand-written math-module loop (the fastest honest per-point code)."""
    la, ba = lon[:SAMPLE].tolist(), lat[:SAMPLE].tolist()
    for name, fn, src, dst in (
        ("wgs84->gcj02", lambda a, b: tuple(map(sum, zip((a, b), _py_offset(a, b), strict=True))),
         "wgs84", "gcj02"),
        ("gcj02->wgs84", _py_gcj_to_wgs, "gcj02", "wgs84"),
    ):
        t0 = time.perf_counter()
        convert(lon, lat, src, dst)
        vec = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = [fn(a, b) for a, b in zip(la, ba, strict=True)]
        per_point = (time.perf_counter() - t0) / SAMPLE
        vx, _ = convert(lon[:SAMPLE], lat[:SAMPLE], src, dst)
        assert np.allclose(np.array(res)[:, 0], vx, rtol=0, atol=1e-9)
        print(f"{name}: pure-Python math loop {1 / per_point:,.0f} pts/s "
              f"(~{per_point * N:.1f} s scaled); vectorised ratio {per_point * N / vec:.0f}x")
        print(f"RESULT coords_{src}_{dst}_vs_math_loop={per_point * N / vec:.1f} x "
              f"baseline={1 / per_point:.0f} ratio={per_point * N / vec:.1f}")


def main() -> None:
    """Time each conversion both ways and print points/s and the ratio."""
    rng = np.random.default_rng(1)
    lon = rng.uniform(110.9, 113.1, N)
    lat = rng.uniform(31.2, 32.7, N)
    for src, dst in (("wgs84", "gcj02"), ("gcj02", "wgs84"), ("bd09", "wgs84")):
        t0 = time.perf_counter()
        vx, _ = convert(lon, lat, src, dst)
        vec = time.perf_counter() - t0
        t0 = time.perf_counter()
        loop = [convert(float(a), float(b), src, dst) for a, b in zip(lon[:SAMPLE], lat[:SAMPLE],
                                                                      strict=True)]
        per_point = (time.perf_counter() - t0) / SAMPLE
        assert np.allclose(np.array(loop)[:, 0], vx[:SAMPLE], rtol=0, atol=1e-9)
        loop_total = per_point * N
        print(f"{src}->{dst}: vectorised {N / vec:,.0f} pts/s ({vec:.2f} s for 1M); "
              f"per-point convert() loop {1 / per_point:,.0f} pts/s (~{loop_total:.1f} s scaled); "
              f"ratio {loop_total / vec:.0f}x (goal >= 50x)")
        print(f"RESULT coords_{src}_{dst}_speedup={loop_total / vec:.1f} x goal=>=50 "
              f"baseline={1 / per_point:.0f} ratio={loop_total / vec:.1f}")
        print(f"RESULT coords_{src}_{dst}_rate={N / vec:.0f} pts/s baseline={1 / per_point:.0f}"
              f" ratio={loop_total / vec:.1f}")
    _pure_python_baseline(lon, lat)


if __name__ == "__main__":
    main()
