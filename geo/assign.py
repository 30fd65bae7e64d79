"""Point → grid assignment in process: a prepared STRtree over the grid polygons.

Rule shared with PostGIS (``grid_code_at`` in geo/sql/010_geo.sql): a point belongs to the
grids it intersects (borders included); on a border shared by several grids the smallest code
wins; outside every grid the answer is None (callers report such rows, never drop them).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

from cityscreen.db import Connection
from geo import queries

log = logging.getLogger("cityscreen.geo")


class GridAssigner:
    """Assigns lon/lat points (WGS-84) to grid codes with a spatial index."""

    def __init__(self, codes: Sequence[str], geoms: Sequence[shapely.Geometry]) -> None:
        codes_arr = np.asarray(codes, dtype=object)
        order = np.argsort(codes_arr.astype(str), kind="stable")
        # Geometries in code order: the smallest tree index among hits is the smallest code.
        self.codes: NDArray[np.object_] = codes_arr[order]
        self.geoms: NDArray[np.object_] = np.asarray(geoms, dtype=object)[order]
        shapely.prepare(self.geoms)
        self.tree = shapely.STRtree(self.geoms)

    @classmethod
    def from_db(cls, conn: Connection, prefix: str = "") -> GridAssigner:
        """Build from the grid polygons in ``admin_unit`` (optionally codes under ``prefix``)."""
        with conn.cursor() as cur:
            cur.execute(queries.GRID_POLYGONS, {"prefix": prefix + "%"})
            rows = cur.fetchall()
        codes = [r[0] for r in rows]
        geoms = shapely.from_wkb([bytes(r[1]) for r in rows]) if rows else []
        log.debug("grid assigner: %d grids", len(codes))
        return cls(codes, geoms)

    def __len__(self) -> int:
        return len(self.codes)

    def assign(self, lon: ArrayLike, lat: ArrayLike) -> NDArray[np.object_]:
        """Grid code per point (same shape as the input), None outside every grid."""
        x = np.asarray(lon, dtype=np.float64)
        y = np.asarray(lat, dtype=np.float64)
        if x.shape != y.shape:
            raise ValueError(f"lon and lat differ in shape: {x.shape} vs {y.shape}")
        flat_x, flat_y = x.ravel(), y.ravel()
        out = np.full(flat_x.size, None, dtype=object)
        if flat_x.size == 0 or len(self.codes) == 0:
            return out.reshape(x.shape)
        finite = np.isfinite(flat_x) & np.isfinite(flat_y)
        idx = np.nonzero(finite)[0]
        points = shapely.points(flat_x[idx], flat_y[idx])
        hit_point, hit_grid = self.tree.query(points, predicate="intersects")
        best = np.full(idx.size, len(self.codes), dtype=np.int64)
        np.minimum.at(best, hit_point, hit_grid)
        found = best < len(self.codes)
        out[idx[found]] = self.codes[best[found]]
        return out.reshape(x.shape)
