"""Hotspots over the grid: Getis-Ord Gi* on shared-border neighbourhoods and emerging hotspots.

Gi* (PySAL's ``esda.G_Local`` with ``star=True`` and binary weights) finds grids whose
neighbourhood (the grid and the grids sharing a border with it) holds more cases than chance
would put there. Emerging hotspots compare a grid's count in the window with its own
baseline, the same hours of the previous weeks, as a Poisson upper-tail surprise.
Both correct for testing every grid at once with the Benjamini–Hochberg false-discovery rate.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import esda
import libpysal
import numpy as np
import shapely
from scipy import sparse, stats

from cityscreen.db import Connection
from dashboard.analysis import sql

log = logging.getLogger("cityscreen.analysis")

Rule = Literal["queen", "rook"]
Model = Literal["negbin", "poisson"]
RULES = ("queen", "rook")
Row = dict[str, Any]

DEFAULT_ALPHA = 0.05          # false-discovery rate of the default threshold
DEFAULT_WEEKS = 4             # baseline length of emerging hotspots
DEFAULT_MIN_COUNT = 3         # an emerging hotspot needs at least this many cases
DEFAULT_PRIOR = 0.5           # weight, in baseline periods, of the scope mean in a grid's rate
MODELS = ("negbin", "poisson")
DEFAULT_MODEL = "negbin"
WEEK = timedelta(days=7)
WHY_TOP = 100                 # items below this rank (and not flagged) carry no "why" text


# ------------------------------------------------------------------ multiple testing


def bh_qvalues(pvalues: Any) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values): reject where q <= alpha."""
    p = np.asarray(pvalues, dtype=float)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    # q_(i) = min over j >= i of p_(j) m / j: a running minimum from the largest p down.
    q_sorted = np.minimum.accumulate(scaled[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(q_sorted, 1.0)
    return q


def fdr_cutoff(pvalues: Any, alpha: float = DEFAULT_ALPHA) -> float:
    """esda's FDR p-value cut-off (reject p < cut-off); kept for parity with PySAL users."""
    p = np.asarray(pvalues, dtype=float)
    return float(esda.fdr(p, alpha)) if p.size else alpha


# ------------------------------------------------------------------ the grid layer


@dataclass(frozen=True)
class GridLayer:
    """The grids under a prefix and their shared-border neighbours (immutable, cacheable)."""

    prefix: str
    rule: str
    signature: str
    codes: tuple[str, ...]
    neighbours: dict[str, tuple[str, ...]]
    star: sparse.csr_matrix = field(repr=False)   # binary neighbours plus the diagonal

    def weights(self) -> libpysal.weights.W:
        """A fresh binary libpysal W (esda transforms W in place, so never share one)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # islands and disconnected parts are legitimate
            w = libpysal.weights.W({c: list(self.neighbours[c]) for c in self.codes},
                                   id_order=list(self.codes), silence_warnings=True)
        w.transform = "B"
        return w

    @property
    def islands(self) -> list[str]:
        """Grids sharing no border with any other grid."""
        return [c for c in self.codes if not self.neighbours[c]]


def neighbour_pairs(geoms: Any, rule: Rule) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i < j) of polygons sharing a border: queen any contact, rook a line.

    GEOS predicates (the same as PostGIS's ST_Intersects / ST_Relate) on an STRtree, so
    T-junctions count, unlike vertex matching; a sliver overlap counts as shared too.
    """
    geoms = np.asarray(geoms)
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if rule == "rook" and a.size:
        line = shapely.relate_pattern(geoms[a], geoms[b], "****1****")
        overlap = shapely.relate_pattern(geoms[a], geoms[b], "2********")
        a, b = a[line | overlap], b[line | overlap]
    return a, b


class _LayerCache:
    """Per-process LRU of grid layers keyed by content fingerprint: never stale, safe to share."""

    def __init__(self, size: int = 8) -> None:
        self._lock = threading.Lock()
        self._size = size
        self._items: OrderedDict[tuple[str, str, str], GridLayer] = OrderedDict()

    def get(self, key: tuple[str, str, str]) -> GridLayer | None:
        with self._lock:
            layer = self._items.get(key)
            if layer is not None:
                self._items.move_to_end(key)
            return layer

    def put(self, key: tuple[str, str, str], layer: GridLayer) -> None:
        with self._lock:
            self._items[key] = layer
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


LAYERS = _LayerCache()


def grid_layer(conn: Connection, unit: str | None = None, rule: Rule = "queen") -> GridLayer:
    """The grids under ``unit`` with neighbours from their shared borders, cached."""
    if rule not in RULES:
        raise ValueError(f"rule must be queen or rook, not {rule!r}")
    prefix = sql.unit_prefix(unit)
    sig = sql.one(conn, sql.GRID_LAYER_SIGNATURE, {"prefix": prefix}) or {"signature": ""}
    key = (prefix, rule, str(sig["signature"]))
    cached = LAYERS.get(key)
    if cached is not None:
        return cached
    started = time.perf_counter()
    found = sql.rows(conn, sql.GRID_GEOMETRIES, {"prefix": prefix})
    codes = tuple(r["code"] for r in found)
    geoms = shapely.from_wkb([bytes(r["wkb"]) for r in found])
    a, b = neighbour_pairs(geoms, rule)
    n = len(codes)
    nbrs: dict[str, list[str]] = {c: [] for c in codes}
    for i, j in zip(a.tolist(), b.tolist(), strict=True):
        nbrs[codes[i]].append(codes[j])
        nbrs[codes[j]].append(codes[i])
    diag = np.arange(n)
    star = sparse.csr_matrix((np.ones(2 * a.size + n), (np.concatenate([a, b, diag]),
                                                         np.concatenate([b, a, diag]))),
                             shape=(n, n))
    layer = GridLayer(prefix, rule, key[2], codes,
                      {c: tuple(sorted(v)) for c, v in nbrs.items()}, star)
    LAYERS.put(key, layer)
    log.info("grid layer %s %s: %d grids, %d islands, %.2f s", prefix, rule, len(codes),
             len(layer.islands), time.perf_counter() - started)
    return layer


# ------------------------------------------------------------------ counts


def _params(unit: str | None, start: datetime, end: datetime, category: str | None,
            channel: str | None) -> dict[str, Any]:
    if not end > start:
        raise ValueError("the window must end after it starts")
    return {"prefix": sql.unit_prefix(unit), "start": start, "end": end,
            "category": sql.check_category(category), "channel": sql.check_channel(channel)}


def window_counts(conn: Connection, start: datetime, end: datetime, *, unit: str | None = None,
                  category: str | None = None, channel: str | None = None) -> dict[str, int]:
    """Cases reported per grid in ``[start, end)`` (hour resolution, from ``event_hourly``)."""
    p = _params(unit, start, end, category, channel)
    found = sql.rows(conn, sql.window_counts_sql(p["category"], p["channel"]), p)
    return {r["grid_code"]: int(r["n"]) for r in found}


def _grid_info(conn: Connection, codes: list[str]) -> dict[str, Row]:
    return {r["code"]: r for r in sql.rows(conn, sql.GRID_INFO, {"codes": codes})}


# ------------------------------------------------------------------ Gi*


def gi_star(conn: Connection, start: datetime, end: datetime, *, unit: str | None = None,
            category: str | None = None, channel: str | None = None, rule: Rule = "queen",
            alpha: float = DEFAULT_ALPHA, permutations: int = 0, seed: int = 12345,
            core_only: bool = True) -> dict[str, Any]:
    """Getis-Ord Gi* hot and cold spots of the window's cases over the grid, FDR-corrected.

    Returns ``{"method", "params", "n_grids", "n_hot", "n_cold", "items"}``; ``items`` holds
    every grid ranked by z (highest first) with its why: ``count`` (own cases),
    ``local_sum`` and ``expected`` (cases in the grid plus its neighbours, and what an even
    spread would put there), ``z``, two-sided ``p`` (normal, or pseudo-p from
    ``permutations`` conditional permutations), BH ``q`` and ``kind`` (hot/cold/None).
    With ``core_only`` a grid is called hot only when its own count exceeds the mean too,
    so an empty grid next to a hotspot is not itself reported as one.
    """
    layer = grid_layer(conn, unit, rule)
    counts = window_counts(conn, start, end, unit=unit, category=category, channel=channel)
    result = gi_star_values(layer, counts, alpha=alpha, permutations=permutations, seed=seed,
                            core_only=core_only)
    info = _grid_info(conn, [r["grid_code"] for r in result["items"] if r["kind"]])
    for r in result["items"]:
        r.update(_label(info.get(r["grid_code"])))
    result["params"].update({"unit": unit, "start": start.isoformat(), "end": end.isoformat(),
                             "category": category, "channel": channel, "rule": rule})
    return result


def gi_star_z(star: sparse.spmatrix, y: np.ndarray) -> np.ndarray:
    """Analytical Gi* z-scores for binary weights with self included (Getis & Ord 1995).

    The same moments as ``esda.G_Local(y, w, transform="B", star=True).Zs`` (tests compare
    them), computed on a cached sparse matrix: esda spends seconds re-deriving W per call.
    """
    n = y.size
    total = y.sum()
    mean = total / n
    variance = (y**2).sum() / n - mean**2
    g = (star @ y) / total
    card = np.asarray(star.sum(axis=1)).ravel()
    expected = card / n
    var_g = card * (n - card) / (n - 1) / n**2 * variance / mean**2
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (g - expected) / np.sqrt(var_g)
    return np.nan_to_num(z)   # a grid neighbouring every other grid has no variance


def gi_star_values(layer: GridLayer, counts: dict[str, int], *, alpha: float = DEFAULT_ALPHA,
                   permutations: int = 0, seed: int = 12345,
                   core_only: bool = True) -> dict[str, Any]:
    """Gi* on given per-grid counts over a grid layer (the database-free half of ``gi_star``)."""
    codes = list(layer.codes)
    n = len(codes)
    y = np.array([counts.get(c, 0) for c in codes], dtype=float)
    k = np.asarray(layer.star.sum(axis=1)).ravel() if n else np.zeros(0)   # self included
    local = layer.star @ y if n else np.zeros(0)
    mean = y.mean() if n else 0.0
    if n < 3 or y.sum() == 0 or np.all(y == y[0]):
        z = np.zeros(n)
        p = np.ones(n)
    elif permutations:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            g = esda.G_Local(y, layer.weights(), transform="B", star=True,
                             permutations=permutations, seed=seed, keep_simulations=False)
        z = np.nan_to_num(np.asarray(g.Zs, dtype=float))
        # Two-sided: hot and cold spots are both tested, so both tails spend alpha.
        p = np.minimum(1.0, 2 * np.asarray(g.p_sim, dtype=float))
    else:
        z = gi_star_z(layer.star, y)
        p = 2 * stats.norm.sf(np.abs(z))
    q = bh_qvalues(p)
    significant = q <= alpha
    hot = significant & (z > 0) & ((y > mean) if core_only else True)
    cold = significant & (z < 0)
    items = []
    for i in np.argsort(-z, kind="stable"):
        items.append({
            "grid_code": codes[i], "count": int(y[i]), "local_sum": int(local[i]),
            "neighbours": int(k[i] - 1), "expected": round(float(k[i] * mean), 3),
            "z": round(float(z[i]), 4), "p": float(p[i]), "q": float(q[i]),
            "kind": "hot" if hot[i] else ("cold" if cold[i] else None),
        })
    for rank, r in enumerate(items, 1):
        r["rank"] = rank
        # the sentence only where someone will read it (20k of them cost a second)
        r["why"] = _why_gi(r) if r["kind"] or rank <= WHY_TOP else None
    return {"method": "gi_star",
            "params": {"alpha": alpha, "permutations": permutations, "seed": seed,
                       "core_only": core_only, "two_sided": True, "correction": "fdr_bh"},
            "n_grids": n, "n_hot": int(hot.sum()), "n_cold": int(cold.sum()), "items": items}


def _why_gi(r: Row) -> str:
    return (f"本格 {r['count']} 起，本格及相邻 {r['neighbours']} 格共 {r['local_sum']} 起"
            f"（均匀期望 {r['expected']:.1f}），Gi* z={r['z']:.2f}，FDR q={_fmt_p(r['q'])}")


# ------------------------------------------------------------------ emerging


def baseline_period(start: datetime, end: datetime) -> timedelta:
    """Shift between the window and each baseline copy: whole weeks, at least the window."""
    return WEEK * max(1, math.ceil((end - start) / WEEK))


def baseline_weeks(conn: Connection, prefix: str, start: datetime, period: timedelta,
                   weeks: int) -> int:
    """How many of the ``weeks`` baseline copies lie wholly after the scope's first data."""
    row = sql.one(conn, sql.DATA_START, {"prefix": prefix})
    first = row["first"] if row else None
    if first is None:
        return 0
    return max(0, min(weeks, int((start - first) // period)))


def negbin_surprise(count: Any, shape: Any, periods: Any) -> tuple[np.ndarray, np.ndarray]:
    """Upper-tail Gamma–Poisson predictive p and -log10 p.

    A rate with a Gamma(``shape``, rate ``periods``) posterior gives a count that is
    negative binomial with n = shape and p = periods / (periods + 1); its mean is
    shape / periods, like the Poisson's, but its variance grows as the baseline shrinks.
    """
    x = np.asarray(count, dtype=float)
    n = np.asarray(shape, dtype=float)
    prob = np.asarray(periods, dtype=float) / (np.asarray(periods, dtype=float) + 1.0)
    p = np.where(x > 0, stats.nbinom.sf(x - 1, n, prob), 1.0)
    logp = np.where(x > 0, stats.nbinom.logsf(x - 1, n, prob), 0.0)
    return p, -logp / math.log(10)


def poisson_surprise(count: Any, expected: Any) -> tuple[np.ndarray, np.ndarray]:
    """Upper-tail Poisson p = P(X >= count | expected) and its score -log10 p."""
    x = np.asarray(count, dtype=float)
    lam = np.asarray(expected, dtype=float)
    p = np.where(x > 0, stats.poisson.sf(x - 1, lam), 1.0)
    logp = np.where(x > 0, stats.poisson.logsf(x - 1, lam), 0.0)
    return p, -logp / math.log(10)


def emerging_hotspots(conn: Connection, start: datetime, end: datetime, *,
                      unit: str | None = None, category: str | None = None,
                      channel: str | None = None, weeks: int = DEFAULT_WEEKS,
                      alpha: float = DEFAULT_ALPHA, min_count: int = DEFAULT_MIN_COUNT,
                      prior: float = DEFAULT_PRIOR, adjust: bool = True,
                      model: Model = DEFAULT_MODEL) -> dict[str, Any]:
    """Grids whose count in the window is surprising against their own baseline (FDR-corrected).

    The baseline is the same hours ``weeks`` times back (shifted by whole weeks, at least
    the window length); copies before the roll-up's first hour are left out (``params.weeks``
    says how many were used; with none, nothing is flagged).
    Expected = (baseline cases + ``prior`` × the scope's mean baseline per grid) /
    (weeks + ``prior``), floored at half a case over the baseline, so a grid with an empty
    history is compared with the typical grid rather than with zero; with ``adjust`` it is
    then scaled by the scope's total now over its baseline total (``params.scope_factor``),
    so a city-wide rise (season, trend, weather) does not light up every busy grid.
    Returns ``{"method", "params", "n_grids", "n_emerging", "items"}``; ``items`` every grid
    ranked by score (-log10 p) with ``count``, ``baseline`` (mean per period), ``expected``,
    ``ratio``, ``score``, ``p``, ``q`` and ``kind`` ("emerging" or None).
    """
    if weeks < 1:
        raise ValueError("weeks must be >= 1")
    layer = grid_layer(conn, unit)
    p = _params(unit, start, end, category, channel)
    current = window_counts(conn, start, end, unit=unit, category=category, channel=channel)
    period = baseline_period(start, end)
    used = baseline_weeks(conn, p["prefix"], start, period, weeks)
    base: dict[str, int] = {}
    if used:
        found = sql.rows(conn, sql.baseline_counts_sql(p["category"], p["channel"]),
                         {**p, "weeks": used, "period": period})
        base = {r["grid_code"]: int(r["n"]) for r in found}
    result = emerging_values(layer.codes, current, base, weeks=max(used, 1), alpha=alpha,
                             min_count=min_count, prior=prior, adjust=adjust, model=model)
    if not used:   # no history yet: nothing can be called surprising
        for r in result["items"]:
            r["kind"] = None
        result["n_emerging"] = 0
    result["params"]["weeks_requested"] = weeks
    result["params"]["weeks"] = used
    info = _grid_info(conn, [r["grid_code"] for r in result["items"] if r["kind"]])
    for r in result["items"]:
        r.update(_label(info.get(r["grid_code"])))
    result["params"].update({"unit": unit, "start": start.isoformat(), "end": end.isoformat(),
                             "category": category, "channel": channel,
                             "baseline_shift_days": period.days})
    return result


def emerging_values(codes: Any, current: dict[str, int], baseline: dict[str, int], *,
                    weeks: int = DEFAULT_WEEKS, alpha: float = DEFAULT_ALPHA,
                    min_count: int = DEFAULT_MIN_COUNT, prior: float = DEFAULT_PRIOR,
                    adjust: bool = True, model: Model = DEFAULT_MODEL) -> dict[str, Any]:
    """Emerging-hotspot scores from per-grid counts (the database-free half).

    Each grid's rate per period has a Gamma prior worth ``prior`` periods of the scope's mean
    rate, updated by its ``weeks`` baseline copies: rate = (B + prior·m) / (weeks + prior).
    ``model="poisson"`` tests the count against that rate as if it were known;
    ``"negbin"`` (default) uses the Gamma–Poisson predictive, a negative binomial that also
    carries the baseline's own sampling noise (wider when there are few baseline weeks).
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, not {model!r}")
    codes = list(codes)
    x = np.array([current.get(c, 0) for c in codes], dtype=float)
    b = np.array([baseline.get(c, 0) for c in codes], dtype=float)
    periods = weeks + prior
    mean_rate = b.mean() / weeks if len(codes) else 0.0
    shape = b + prior * mean_rate              # Gamma posterior shape; rate = shape / periods
    # The scope's own change (season, trend, a rainy day) is not a hotspot: scale every
    # grid's expectation by the scope-wide ratio of this window to the baseline.
    total_rate = shape.sum() / periods
    factor = x.sum() / total_rate if adjust and total_rate > 0 and x.sum() > 0 else 1.0
    floor = 0.5 / periods                      # half a case over the baseline
    expected = np.maximum(shape / periods * factor, floor)
    if model == "poisson":
        p, score = poisson_surprise(x, expected)
    else:
        p, score = negbin_surprise(x, np.maximum(shape, floor * periods / factor),
                                   periods / factor)
    q = bh_qvalues(p)
    flagged = (q <= alpha) & (x >= min_count)
    items = []
    for i in np.lexsort((codes, -score)):
        items.append({
            "grid_code": codes[i], "count": int(x[i]), "baseline": round(float(b[i] / weeks), 3),
            "expected": round(float(expected[i]), 3),
            "ratio": round(float(x[i] / expected[i]), 2),
            "score": round(float(score[i]), 3), "p": float(p[i]), "q": float(q[i]),
            "kind": "emerging" if flagged[i] else None,
        })
    for rank, r in enumerate(items, 1):
        r["rank"] = rank
        if not (r["kind"] or rank <= WHY_TOP):
            r["why"] = None
            continue
        r["why"] = (f"本期 {r['count']} 起，前 {weeks} 周同期平均 {r['baseline']:.1f}"
                    f"（期望 {r['expected']:.1f}，{r['ratio']:.1f} 倍），"
                    f"p={_fmt_p(r['p'])}，FDR q={_fmt_p(r['q'])}")
    return {"method": f"emerging_{model}",
            "params": {"alpha": alpha, "weeks": weeks, "min_count": min_count, "prior": prior,
                       "adjust": adjust, "model": model, "scope_factor": round(float(factor), 4),
                       "correction": "fdr_bh"},
            "n_grids": len(codes), "n_emerging": int(flagged.sum()), "items": items}


# ------------------------------------------------------------------ helpers for the map


def significant(result: dict[str, Any], limit: int | None = None) -> list[Row]:
    """The flagged items of a ``gi_star`` / ``emerging_hotspots`` result, in rank order."""
    found = [r for r in result["items"] if r["kind"] in ("hot", "emerging")]
    return found[:limit] if limit else found


def hotspot_geojson(conn: Connection, result: dict[str, Any],
                    limit: int | None = 500) -> dict[str, Any]:
    """Polygons of a result's flagged grids: ``{"fc": FeatureCollection, "bbox", "items"}``.

    ``fc`` features have ``id`` = grid code (``featureidkey="id"``); ``items`` are the flagged
    rows in rank order, for the layer's values and hover text; ``bbox`` their extent.
    """
    items = significant(result, limit)
    row = sql.one(conn, sql.GRIDS_GEOJSON, {"codes": [r["grid_code"] for r in items]})
    fc = json.loads(row["fc"]) if row else {"type": "FeatureCollection", "features": []}
    bbox = [row["xmin"], row["ymin"], row["xmax"], row["ymax"]] if row and items else None
    return {"fc": fc, "bbox": bbox, "items": items}


def unit_outline(conn: Connection, code: str) -> dict[str, Any]:
    """One unit's outline as a FeatureCollection with its extent (the map's frame)."""
    if not sql.UNIT_CODE.match(code):
        raise ValueError(f"not an admin code: {code!r}")
    row = sql.one(conn, sql.UNIT_OUTLINE, {"code": code})
    if row is None:
        return {"fc": {"type": "FeatureCollection", "features": []}, "bbox": None}
    return {"fc": json.loads(row["fc"]),
            "bbox": [row["xmin"], row["ymin"], row["xmax"], row["ymax"]]}


def _label(info: Row | None) -> Row:
    if info is None:
        return {"name": None, "lon": None, "lat": None}
    return {"name": info["name"], "lon": info["lon"], "lat": info["lat"]}


def _fmt_p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"
