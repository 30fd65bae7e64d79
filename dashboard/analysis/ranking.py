"""Meeting mode (领导会商): rank the child units of any unit by a configurable composite score,
with 环比 (against the previous period of the same length) and 同比 (the same window a year
earlier) for every metric and for the rank itself.

The KPIs come from ``dashboard.kpi.children_kpis`` (the closed-loop engineer's definitions);
this module only adds population, normalisation, weighting and the comparisons.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cityscreen.db import Connection
from dashboard import kpi
from dashboard.analysis import sql

Row = dict[str, Any]

# metric -> (label, direction): +1 higher is better, -1 lower is better.
METRICS: dict[str, tuple[str, int]] = {
    "volume_per_10k": ("万人案件量", -1),
    "on_time_rate": ("按期结案率", +1),
    "overdue_open": ("超期未结", -1),
    "satisfaction": ("满意率", +1),
    "closure_rate": ("结案率", +1),
    "received": ("受理量", -1),
}
DEFAULT_WEIGHTS: dict[str, float] = {
    "volume_per_10k": 0.2, "on_time_rate": 0.4, "overdue_open": 0.2, "satisfaction": 0.2,
}


def check_weights(weights: Mapping[str, float] | None) -> dict[str, float]:
    """Validated weights (default ``DEFAULT_WEIGHTS``): known metrics, non-negative, sum > 0."""
    w = dict(DEFAULT_WEIGHTS if weights is None else weights)
    unknown = set(w) - set(METRICS)
    if unknown:
        raise ValueError(f"unknown ranking metrics: {sorted(unknown)}; known: {list(METRICS)}")
    if any(v < 0 for v in w.values()) or sum(w.values()) <= 0:
        raise ValueError("weights must be non-negative and not all zero")
    return {k: float(v) for k, v in w.items() if v > 0}


def shift_year(t: datetime, years: int = -1) -> datetime:
    """The same wall-clock time ``years`` away (29 Feb falls back to 28 Feb)."""
    try:
        return t.replace(year=t.year + years)
    except ValueError:
        return t.replace(year=t.year + years, day=28)


def periods(start: datetime, end: datetime) -> dict[str, tuple[datetime, datetime]]:
    """The window, the previous window of the same length (环比) and a year earlier (同比)."""
    return {"current": (start, end), "previous": (start - (end - start), start),
            "year_ago": (shift_year(start), shift_year(end))}


def _children(conn: Connection, unit: str | None) -> tuple[str | None, list[Row]]:
    code = unit
    if code is None:
        root = sql.one(conn, sql.ROOT_CITY)
        code = root["code"] if root else None
    if code is None:
        return None, []
    return code, sql.rows(conn, sql.CHILD_UNITS, {"parent": code})


def _metrics(kpis: Mapping[str, Any], population: int | None) -> dict[str, Any]:
    received = kpis.get("received", 0)
    return {
        "received": received,
        "volume_per_10k": round(received / population * 10_000, 3) if population else None,
        "on_time_rate": kpis.get("on_time_rate"),
        "overdue_open": kpis.get("overdue_open", 0),
        "satisfaction": kpis.get("satisfaction"),
        "closure_rate": kpis.get("closure_rate"),
    }


def composite_scores(metrics: Mapping[str, Mapping[str, Any]],
                     weights: Mapping[str, float]) -> dict[str, float | None]:
    """0–100 score per unit: each metric min–max scaled across units (best = 100), weighted.

    A metric a unit lacks (no rated cases, no population) drops out of that unit's weighted
    mean; a metric on which all units are equal gives everyone 100 (it does not separate).
    """
    scaled: dict[str, dict[str, float]] = {code: {} for code in metrics}
    for name in weights:
        direction = METRICS[name][1]
        values = {c: float(m[name]) for c, m in metrics.items() if m.get(name) is not None}
        if not values:
            continue
        lo, hi = min(values.values()), max(values.values())
        for code, v in values.items():
            if hi == lo:
                scaled[code][name] = 100.0
            else:
                s = (v - lo) / (hi - lo) if direction > 0 else (hi - v) / (hi - lo)
                scaled[code][name] = 100.0 * s
    scores: dict[str, float | None] = {}
    for code, parts in scaled.items():
        total = sum(weights[n] for n in parts)
        scores[code] = (round(sum(weights[n] * s for n, s in parts.items()) / total, 2)
                        if total else None)
    return scores


def _ranks(scores: Mapping[str, float | None]) -> dict[str, int | None]:
    ordered = sorted((c for c, s in scores.items() if s is not None),
                     key=lambda c: (-float(scores[c] or 0), c))
    ranks: dict[str, int | None] = dict.fromkeys(scores)
    ranks.update({c: i for i, c in enumerate(ordered, 1)})
    return ranks


def trend(delta: float | None, direction: int) -> dict[str, Any]:
    """Arrow for a change and whether it is good news: ``{"arrow", "better"}``."""
    if delta is None:
        return {"arrow": None, "better": None}
    if delta == 0:
        return {"arrow": "→", "better": None}
    return {"arrow": "↑" if delta > 0 else "↓", "better": (delta > 0) == (direction > 0)}


def _compare(now: Mapping[str, Any], then: Mapping[str, Any] | None) -> dict[str, Any]:
    out = {}
    for name, (_, direction) in METRICS.items():
        a = now.get(name)
        b = then.get(name) if then else None
        delta = None if a is None or b is None else round(a - b, 6)
        pct = round(delta / b, 4) if delta is not None and b else None
        out[name] = {"then": b, "delta": delta, "pct": pct, **trend(delta, direction)}
    return out


def rank_children(conn: Connection, unit: str | None, start: datetime, end: datetime, *,
                  weights: Mapping[str, float] | None = None,
                  filters: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Ranking of the units directly below ``unit`` (None = the city) for ``[start, end)``.

    Returns ``{"unit", "start", "end", "weights", "periods", "items"}``; items in rank order,
    each ``{"rank", "code", "name", "population", "score", "metrics": {...},
    "previous": {...}, "year_ago": {...}, "rank_previous", "rank_year_ago", "rank_change"}``.
    ``previous`` / ``year_ago`` map each metric to ``{"then", "delta", "pct", "arrow",
    "better"}`` (arrow ↑/↓/→; ``better`` says whether the change is good news).
    Cases without a location are not ranked (they belong to no child).
    """
    w = check_weights(weights)
    code, children = _children(conn, unit)
    windows = periods(start, end)
    per_period: dict[str, dict[str, dict[str, Any]]] = {}
    for label, (s, e) in windows.items():
        by_code = {r["unit"]: r["kpis"] for r in kpi.children_kpis(conn, code, s, e, filters)
                   if r["unit"] is not None}
        per_period[label] = {c["code"]: _metrics(by_code.get(c["code"], {}), c["population"])
                             for c in children}
    scores = {label: composite_scores(m, w) for label, m in per_period.items()}
    ranks = {label: _ranks(s) for label, s in scores.items()}
    items = []
    for c in children:
        k = c["code"]
        now = per_period["current"][k]
        r_now, r_prev, r_yoy = ranks["current"][k], ranks["previous"][k], ranks["year_ago"][k]
        items.append({
            "rank": r_now, "code": k, "name": c["name"], "population": c["population"],
            "score": scores["current"][k], "metrics": now,
            "previous": _compare(now, per_period["previous"][k]),
            "year_ago": _compare(now, per_period["year_ago"][k]),
            "score_previous": scores["previous"][k], "score_year_ago": scores["year_ago"][k],
            "rank_previous": r_prev, "rank_year_ago": r_yoy,
            # positive = climbed (a smaller rank number is better)
            "rank_change": None if r_now is None or r_prev is None else r_prev - r_now,
        })
    items.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, r["code"]))
    return {"unit": code, "start": start.isoformat(), "end": end.isoformat(), "weights": w,
            "periods": {k: [a.isoformat(), b.isoformat()] for k, (a, b) in windows.items()},
            "items": items}


RANKING_COLUMNS: list[tuple[str, str]] = [
    ("rank", "排名"), ("name", "单位"), ("score", "综合得分"), ("received", "受理量"),
    ("volume_per_10k", "万人案件量"), ("on_time_rate", "按期结案率"),
    ("overdue_open", "超期未结"), ("satisfaction", "满意率"),
    ("received_prev", "受理量环比"), ("received_yoy", "受理量同比"),
    ("on_time_prev", "按期结案率环比"), ("rank_change", "名次变化"),
]


def ranking_table(result: Mapping[str, Any]) -> tuple[list[Row], list[tuple[str, str]]]:
    """Flat rows and (key, label) columns of a ranking for CSV/XLSX/HTML export and tables."""
    rows = []
    for it in result["items"]:
        m = it["metrics"]
        rows.append({
            "rank": it["rank"], "code": it["code"], "name": it["name"], "score": it["score"],
            "received": m["received"], "volume_per_10k": m["volume_per_10k"],
            "on_time_rate": _pct(m["on_time_rate"]), "overdue_open": m["overdue_open"],
            "satisfaction": _pct(m["satisfaction"]),
            "received_prev": _change(it["previous"]["received"]),
            "received_yoy": _change(it["year_ago"]["received"]),
            "on_time_prev": _change(it["previous"]["on_time_rate"], points=True),
            "rank_change": _rank_change(it["rank_change"]),
        })
    return rows, RANKING_COLUMNS


def _pct(x: float | None) -> str | None:
    return None if x is None else f"{x * 100:.1f}%"


def _change(c: Mapping[str, Any], points: bool = False) -> str | None:
    if c["delta"] is None:
        return None
    if points:     # a rate: the change in percentage points
        return f"{c['arrow']}{abs(c['delta']) * 100:.1f}个百分点"
    if c["pct"] is None:
        return f"{c['arrow']}{abs(c['delta']):g}"
    return f"{c['arrow']}{abs(c['pct']) * 100:.1f}%"


def _rank_change(d: int | None) -> str | None:
    if d is None:
        return None
    return "→" if d == 0 else (f"↑{d}" if d > 0 else f"↓{-d}")


