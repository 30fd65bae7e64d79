"""A synthetic but plausible 襄阳市 (420600): nine real county-level units, then streets,
communities and grids as irregular polygons that tile their parents exactly.

How the tiling stays exact: the grid level is ONE Voronoi diagram of seeded points (denser in
the urban core and the county seats) clipped to the city outline on a fixed precision grid;
every upper level is the coverage union of its children. Neighbours therefore share their
vertices at every level, a parent is exactly the union of its children, and coverage
simplification for display keeps shared borders. With ``districts`` given (real boundaries
from a file) each district is filled by its own Voronoi diagram clipped to it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from cityscreen.db import Connection
from geo.codes import LEVELS, make_child_code
from geo.units import Unit, as_multipolygon, store_units

log = logging.getLogger("cityscreen.geo")

CITY_CODE = "420600"
CITY_NAME = "襄阳市"
GRID_SIZE = 1e-7  # degrees (~1 cm): every vertex lives on this precision grid
TOTAL_POPULATION = 5_260_000  # Xiangyang, 7th census (2020), rounded
COS_LAT = math.cos(math.radians(32.0))  # lon scale for distances at this latitude

# (code, name, shape seed lon/lat, weight for the weighted-nearest split, seat lon/lat)
DISTRICTS: tuple[tuple[str, str, tuple[float, float], float, tuple[float, float]], ...] = (
    ("420602", "襄城区", (112.02, 31.93), 0.55, (112.13, 32.01)),
    ("420606", "樊城区", (112.02, 32.12), 0.55, (112.13, 32.05)),
    ("420607", "襄州区", (112.33, 32.20), 1.0, (112.20, 32.09)),
    ("420624", "南漳县", (111.75, 31.65), 1.0, (111.84, 31.77)),
    ("420625", "谷城县", (111.52, 32.15), 1.0, (111.65, 32.26)),
    ("420626", "保康县", (111.15, 31.80), 1.0, (111.26, 31.88)),
    ("420682", "老河口市", (111.78, 32.47), 0.9, (111.67, 32.39)),
    ("420683", "枣阳市", (112.80, 32.15), 1.1, (112.77, 32.13)),
    ("420684", "宜城市", (112.35, 31.65), 1.0, (112.26, 31.72)),
)
URBAN_CORE = (112.13, 32.03)
BBOX = (110.9, 31.2, 113.1, 32.7)

# Real street names where we know them (the rest are composed from the syllables below).
KNOWN_STREETS: dict[str, tuple[str, ...]] = {
    "420602": ("古城街道", "庞公街道", "真武山街道", "檀溪街道", "隆中街道", "余家湖街道",
               "卧龙镇", "尹集乡", "欧庙镇"),
    "420606": ("中原路街道", "定中门街道", "米公街道", "屏襄门街道", "汉江街道", "清河口街道",
               "王寨街道", "柿铺街道", "紫贤街道", "牛首镇", "太平店镇"),
    "420607": ("张湾街道", "肖湾街道", "刘集街道", "东津镇", "双沟镇", "黄集镇", "伙牌镇",
               "古驿镇", "朱集镇", "程河镇"),
}
FIRST = "东西南北新安和兴平清长丰太龙凤青白石花桃柳金玉明光宏永福康文华建民团胜利鹿马古卧仁义锦春"
SECOND = "山湖河桥岗湾营店集坪庄岭口港园林门城阳溪泉台坡埠"


@dataclass
class DemoCity:
    """The generated city: all units top-down, with helpers for tests and loaders."""

    code: str
    name: str
    units: list[Unit]
    codes: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.codes = {level: [u.code for u in self.units if u.level == level] for level in LEVELS}

    def level(self, level: str) -> list[Unit]:
        """Units of one level, in code order."""
        return [u for u in self.units if u.level == level]


# ---------------------------------------------------------------- shapes


def _bump(x: np.ndarray, y: np.ndarray, cx: float, cy: float, sigma: float) -> np.ndarray:
    d2 = ((x - cx) * COS_LAT) ** 2 + (y - cy) ** 2
    return np.exp(-d2 / (2 * sigma * sigma))


def density(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Relative grid density (1 = countryside); the urban core and county seats are denser."""
    w = 1.0 + 40.0 * _bump(x, y, *URBAN_CORE, 0.07)
    for *_, seat in DISTRICTS[2:]:
        w += 8.0 * _bump(x, y, *seat, 0.025)
    return w


def people_per_km2(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Relative population density used to give grids their people."""
    p = 120.0 + 9000.0 * _bump(x, y, *URBAN_CORE, 0.06)
    for *_, seat in DISTRICTS[2:]:
        p += 2500.0 * _bump(x, y, *seat, 0.02)
    return p


def city_outline(rng: np.random.Generator) -> shapely.Polygon:
    """An irregular city outline inside Xiangyang's bounding box."""
    cx, cy, rx, ry = 112.0, 31.95, 0.97, 0.66
    t = np.linspace(0, 2 * np.pi, 240, endpoint=False)
    r = np.ones_like(t)
    for k in range(2, 9):
        r += rng.normal(0, 0.06 / k**0.6) * np.cos(k * t + rng.uniform(0, 2 * np.pi))
    r = np.clip(r, 0.7, 1.0)
    x = np.clip(cx + rx * r * np.cos(t), BBOX[0], BBOX[2])
    y = np.clip(cy + ry * r * np.sin(t), BBOX[1], BBOX[3])
    poly = shapely.Polygon(np.column_stack([x, y]))
    return shapely.set_precision(shapely.make_valid(poly), GRID_SIZE)


def sample_points(region: BaseGeometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points inside ``region``, distributed by :func:`density` (rejection sampling)."""
    xmin, ymin, xmax, ymax = region.bounds
    shapely.prepare(region)
    out: list[np.ndarray] = []
    have = 0
    wmax = 49.0
    while have < n:
        m = max(4096, (n - have) * 60)
        x = rng.uniform(xmin, xmax, m)
        y = rng.uniform(ymin, ymax, m)
        keep = rng.uniform(0, wmax, m) < density(x, y)
        x, y = x[keep], y[keep]
        inside = shapely.contains_xy(region, x, y)
        pts = np.column_stack([x[inside], y[inside]])
        out.append(pts)
        have += len(pts)
    return np.concatenate(out)[:n]


def voronoi_cells(points: np.ndarray, region: BaseGeometry) -> np.ndarray:
    """Voronoi cells of ``points`` (in input order) clipped to ``region`` on the precision grid."""
    if len(points) == 1:
        return np.array([as_multipolygon(region)], dtype=object)
    cells = shapely.voronoi_polygons(shapely.multipoints(points), extend_to=region, ordered=True)
    parts = np.asarray(shapely.get_parts(cells), dtype=object)
    clipped = shapely.intersection(parts, region, grid_size=GRID_SIZE)
    return np.array([as_multipolygon(g) for g in clipped], dtype=object)


# ---------------------------------------------------------------- grouping


def kmeans_labels(pts: np.ndarray, k: int, rng: np.random.Generator, iters: int = 10) -> np.ndarray:
    """Cluster points into ``k`` non-empty compact groups (plain k-means, seeded)."""
    n = len(pts)
    if k >= n:
        return np.arange(n)
    if k <= 1:
        return np.zeros(n, dtype=int)
    scaled = pts * np.array([COS_LAT, 1.0])
    centers = scaled[rng.choice(n, k, replace=False)]
    labels = np.zeros(n, dtype=int)
    for _ in range(iters):
        d = ((scaled[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
        labels = d.argmin(axis=1)
        counts = np.bincount(labels, minlength=k)
        for j in np.nonzero(counts == 0)[0]:  # refill an empty cluster with the worst-fit point
            far = d[np.arange(n), labels].argmax()
            labels[far] = j
            d[far, :] = 0
        for j in range(k):
            centers[j] = scaled[labels == j].mean(axis=0)
    return labels


def _ordered_groups(pts: np.ndarray, labels: np.ndarray) -> list[np.ndarray]:
    """Member indices per label, ordered north-west first (codes read like a map)."""
    groups = [np.nonzero(labels == j)[0] for j in np.unique(labels)]
    groups = [g for g in groups if g.size]
    return sorted(groups, key=lambda g: (-round(pts[g, 1].mean(), 2), pts[g, 0].mean()))


def _name_pool(rng: np.random.Generator, used: set[str]) -> list[str]:
    stems = [a + b for a in FIRST for b in SECOND if a + b not in used]
    order = rng.permutation(len(stems))
    return [stems[i] for i in order]


def _street_names(district: str, count: int, rng: np.random.Generator,
                  rural: bool) -> list[str]:
    names = list(KNOWN_STREETS.get(district, ()))[:count]
    pool = _name_pool(rng, {n[:2] for n in names})
    i = 0
    while len(names) < count:
        suffix = "镇" if rural and len(names) > 1 else "街道"
        names.append(pool[i] + suffix)
        i += 1
    return names


def _community_names(count: int, rng: np.random.Generator, rural: bool) -> list[str]:
    pool = _name_pool(rng, set())
    return [pool[i] + ("村" if rural and i % 3 else "社区") for i in range(count)]


# ---------------------------------------------------------------- the generator


def _district_cells(n: int, rng: np.random.Generator,
                    outline: BaseGeometry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid seeds, their Voronoi cells and district labels for the synthetic districts."""
    seeds = np.array([d[2] for d in DISTRICTS])
    # One forced seed at each district's shape seed keeps every district non-empty.
    forced = np.array([p for p in seeds if outline.contains(shapely.Point(p))])
    pts = np.concatenate([forced, sample_points(outline, max(n - len(forced), 0), rng)])[:n]
    weights = np.array([d[3] for d in DISTRICTS])
    d = np.sqrt((((pts[:, None, :] - seeds[None, :, :]) * np.array([COS_LAT, 1.0])) ** 2)
                .sum(axis=2)) / weights
    labels = d.argmin(axis=1)
    cells = voronoi_cells(pts, outline)
    return pts, cells, labels


def _split_counts(n: int) -> int:
    """How many streets a district with ``n`` grids gets (and communities per street)."""
    return max(min(2, n), round(n / 80))


def generate(grids: int = 2000, seed: int = 1,
             districts: Sequence[tuple[str, str, BaseGeometry]] | None = None) -> DemoCity:
    """Build the demo city with about ``grids`` grids, deterministically from ``seed``."""
    if grids < 9:
        raise ValueError("the demo city needs at least 9 grids (one per district)")
    rng = np.random.default_rng(seed)
    if districts is None:
        outline = city_outline(rng)
        pts, cells, labels = _district_cells(grids, rng, outline)
        district_specs = [(code, name, np.nonzero(labels == i)[0])
                          for i, (code, name, *_rest) in enumerate(DISTRICTS)]
    else:
        pts_list, cell_list, district_specs, offset = [], [], [], 0
        geoms = [shapely.set_precision(shapely.make_valid(g), GRID_SIZE) for _, _, g in districts]
        anchors = shapely.get_coordinates(shapely.point_on_surface(geoms))
        weight = shapely.area(geoms) * density(anchors[:, 0], anchors[:, 1])
        for (code, name, _), geom, w in zip(districts, geoms, weight, strict=True):
            p = sample_points(geom, max(1, round(grids * w / weight.sum())), rng)
            pts_list.append(p)
            cell_list.append(voronoi_cells(p, geom))
            district_specs.append((code, name, np.arange(offset, offset + len(p))))
            offset += len(p)
        pts = np.concatenate(pts_list)
        cells = np.concatenate(cell_list)
    return _assemble(pts, cells, district_specs, rng)


def _assemble(pts: np.ndarray, cells: np.ndarray,
              district_specs: Sequence[tuple[str, str, np.ndarray]],
              rng: np.random.Generator) -> DemoCity:
    """Group grid cells into communities, streets and districts and name/number everything."""
    km2 = shapely.area(cells) * (111.32**2) * COS_LAT
    pop_raw = km2 * people_per_km2(pts[:, 0], pts[:, 1]) * rng.lognormal(0, 0.3, len(pts))
    pop = np.round(pop_raw * TOTAL_POPULATION / pop_raw.sum()).astype(np.int64)

    city = Unit(CITY_CODE, "city", None, CITY_NAME, shapely.MultiPolygon())
    units: list[Unit] = [city]
    district_geoms = []
    for dcode, dname, members in district_specs:
        if members.size == 0:
            continue
        rural = dname.endswith(("县", "市"))
        dunit = Unit(dcode, "district", CITY_CODE, dname, shapely.MultiPolygon())
        units.append(dunit)
        street_groups = _ordered_groups(pts[members], kmeans_labels(
            pts[members], _split_counts(len(members)), rng))
        snames = _street_names(dcode, len(street_groups), rng, rural)
        street_geoms = []
        for si, sg in enumerate(street_groups, start=1):
            s_members = members[sg]
            scode = make_child_code(dcode, si)
            sunit = Unit(scode, "street", dcode, snames[si - 1], shapely.MultiPolygon())
            units.append(sunit)
            n_comm = max(min(2, len(s_members)), round(len(s_members) / 10))
            comm_groups = _ordered_groups(pts[s_members], kmeans_labels(
                pts[s_members], n_comm, rng))
            cnames = _community_names(len(comm_groups), rng, rural and snames[si - 1][-1] != "道")
            comm_geoms = []
            for ci, cg in enumerate(comm_groups, start=1):
                c_members = s_members[cg]
                ccode = make_child_code(scode, ci)
                cunit = Unit(ccode, "community", scode, cnames[ci - 1], shapely.MultiPolygon())
                units.append(cunit)
                grid_order = _ordered_groups(pts[c_members], np.arange(len(c_members)))
                for gi, go in enumerate(grid_order, start=1):
                    g = c_members[go[0]]
                    units.append(Unit(make_child_code(ccode, gi), "grid", ccode,
                                      f"{cnames[ci - 1]}第{gi}网格", cells[g], int(pop[g]),
                                      {"seed": [round(float(pts[g, 0]), 6),
                                                round(float(pts[g, 1]), 6)]}))
                cunit.geom = _union(cells[c_members])
                cunit.population = int(pop[c_members].sum())
                comm_geoms.append(cunit.geom)
            sunit.geom = _union(np.array(comm_geoms, dtype=object))
            sunit.population = int(pop[s_members].sum())
            street_geoms.append(sunit.geom)
        dunit.geom = _union(np.array(street_geoms, dtype=object))
        dunit.population = int(pop[members].sum())
        district_geoms.append(dunit.geom)
    city.geom = _union(np.array(district_geoms, dtype=object))
    city.population = int(sum(u.population or 0 for u in units if u.level == "district"))
    units.sort(key=lambda u: (LEVELS.index(u.level), u.code))
    log.info("demo city: %d units, %d grids", len(units), len(pts))
    return DemoCity(CITY_CODE, CITY_NAME, units)


def _union(geoms: np.ndarray) -> shapely.MultiPolygon:
    """Exact union of polygons that share edges (a coverage); an overlay union otherwise."""
    if len(geoms) == 1:
        return as_multipolygon(geoms[0])
    try:
        return as_multipolygon(shapely.coverage_union_all(geoms))
    except shapely.errors.GEOSException:  # pieces of separately clipped districts
        return as_multipolygon(shapely.union_all(geoms, grid_size=GRID_SIZE))


def load(conn: Connection, city: DemoCity) -> int:
    """Replace the demo city's units in ``admin_unit`` (no commit: the caller's transaction)."""
    n = store_units(conn, city.units, replace_prefix=city.code[:4])
    with conn.cursor() as cur:
        cur.execute("SELECT bump_data_version(NULL)")
    return n


class CityInfo(dict):
    """What tests need about a loaded city: ``code``, ``name``, code lists per level
    (``city["grid"]`` or ``city.grid``) and ``points``: one point inside each grid."""

    def __getattr__(self, name: str) -> object:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def info(city: DemoCity) -> CityInfo:
    """A small summary of a generated city (codes per level, an inner point per grid)."""
    grids = city.level("grid")
    inner = shapely.get_coordinates(shapely.point_on_surface([u.geom for u in grids]))
    return CityInfo(
        code=city.code, name=city.name, codes=city.codes, **city.codes,
        points={u.code: (float(x), float(y)) for u, (x, y) in zip(grids, inner, strict=True)},
    )
