"""Scoring hotspot detection against planted ground truth (the demo's ``hotspots_truth.json``).

Protocol, per planted hotspot: run the detector on the hotspot's window (widened to whole
hours) over the truth's city, with the category filter of ``category_mode`` ("all": none,
"major": the hotspot's major class, "subitem": its subitem). A flagged grid is a true positive
when some planted hotspot (of a matching category) is active in that grid during the window;
the hotspot is recalled when its own grid is flagged. Precision and recall are pooled over runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from cityscreen.db import Connection
from dashboard.analysis import hotspots

CategoryMode = Literal["all", "major", "subitem"]
MIN_VISIBLE_EXTRA = 5   # extra planted cases below which a hotspot is reported as invisible
DETECTORS: dict[str, Callable[..., dict[str, Any]]] = {
    "emerging": hotspots.emerging_hotspots,
    "gi_star": hotspots.gi_star,
}


def load_truth(path: Path) -> dict[str, Any]:
    """Read a ground-truth file written by ``cityscreen demo events``."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _hour_floor(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def _hour_ceil(t: datetime) -> datetime:
    floor = _hour_floor(t)
    return floor if floor == t else floor + timedelta(hours=1)


def _category(h: dict[str, Any], mode: CategoryMode) -> str | None:
    return {"all": None, "major": h.get("major"), "subitem": h.get("category")}[mode]


def score(conn: Connection, truth: dict[str, Any], *, detector: str = "emerging",
          category_mode: CategoryMode = "all", **options: Any) -> dict[str, Any]:
    """Precision and recall of a detector at its default threshold (or ``options``)."""
    detect = DETECTORS[detector]
    planted = [{**h, "t0": datetime.fromisoformat(h["start"]),
                "t1": datetime.fromisoformat(h["end"])} for h in truth["hotspots"]]
    runs = []
    for h in planted:
        start, end = _hour_floor(h["t0"]), _hour_ceil(h["t1"])
        category = _category(h, category_mode)
        result = detect(conn, start, end, unit=truth["city"], category=category, **options)
        flagged = {r["grid_code"] for r in hotspots.significant(result)}
        active = {o["grid_code"] for o in planted
                  if o["t0"] < end and o["t1"] > start
                  and (category is None or _category(o, category_mode) == category)}
        runs.append({"id": h["id"], "grid_code": h["grid_code"],
                     "extra_events": h.get("extra_events"), "start": start.isoformat(),
                     "end": end.isoformat(), "category": category,
                     "found": h["grid_code"] in flagged, "flagged": len(flagged),
                     "true_positives": len(flagged & active),
                     "false_positives": sorted(flagged - active)})
    n_flagged = sum(r["flagged"] for r in runs)
    n_tp = sum(r["true_positives"] for r in runs)
    # Planted hotspots that received (almost) no extra cases cannot be found by any method;
    # say how recall looks without them, next to (never instead of) the full figure.
    visible = [r for r in runs if (r["extra_events"] or 0) >= MIN_VISIBLE_EXTRA]
    return {"detector": detector, "category_mode": category_mode, "options": options,
            "recall_visible": (sum(r["found"] for r in visible) / len(visible)
                               if visible else None), "visible": len(visible),
            "hotspots": len(planted), "recalled": sum(r["found"] for r in runs),
            "recall": sum(r["found"] for r in runs) / len(planted) if planted else None,
            "flagged": n_flagged, "true_positives": n_tp,
            "precision": n_tp / n_flagged if n_flagged else None, "runs": runs}


def score_sweep(conn: Connection, truth: dict[str, Any], *, days: int = 28,
                window_hours: int = 24, detector: str = "emerging",
                min_active_hours: float = 12.0, **options: Any) -> dict[str, Any]:
    """Precision/recall over consecutive windows ending at the truth's ``end`` (all categories).

    Every window counts, with or without a planted hotspot, so false positives on quiet days
    are measured too. A flagged grid is a true positive when a planted hotspot is active in
    it during the window; a (hotspot, window) pair is expected when the hotspot is active for
    at least ``min_active_hours`` of the window, and recalled when its grid is flagged.
    """
    detect = DETECTORS[detector]
    planted = [{**h, "t0": datetime.fromisoformat(h["start"]),
                "t1": datetime.fromisoformat(h["end"])} for h in truth["hotspots"]]
    end = _hour_floor(datetime.fromisoformat(truth["end"]))
    step = timedelta(hours=window_hours)
    flagged_total = tp_total = expected = recalled = 0
    false_positive_windows = 0
    for k in range(int(days * 24 / window_hours)):
        w1 = end - k * step
        w0 = w1 - step
        result = detect(conn, w0, w1, unit=truth["city"], **options)
        flagged = {r["grid_code"] for r in hotspots.significant(result)}
        active = {h["grid_code"] for h in planted if h["t0"] < w1 and h["t1"] > w0}
        flagged_total += len(flagged)
        tp_total += len(flagged & active)
        false_positive_windows += bool(flagged - active)
        for h in planted:
            overlap = (min(w1, h["t1"]) - max(w0, h["t0"])) / timedelta(hours=1)
            if overlap >= min_active_hours:
                expected += 1
                recalled += h["grid_code"] in flagged
    return {"detector": detector, "windows": int(days * 24 / window_hours),
            "window_hours": window_hours, "flagged": flagged_total, "true_positives": tp_total,
            "precision": tp_total / flagged_total if flagged_total else None,
            "expected": expected, "recalled": recalled,
            "recall": recalled / expected if expected else None,
            "windows_with_false_positives": false_positive_windows}
