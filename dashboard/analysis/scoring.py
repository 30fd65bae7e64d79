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
        runs.append({"id": h["id"], "grid_code": h["grid_code"], "start": start.isoformat(),
                     "end": end.isoformat(), "category": category,
                     "found": h["grid_code"] in flagged, "flagged": len(flagged),
                     "true_positives": len(flagged & active),
                     "false_positives": sorted(flagged - active)})
    n_flagged = sum(r["flagged"] for r in runs)
    n_tp = sum(r["true_positives"] for r in runs)
    return {"detector": detector, "category_mode": category_mode, "options": options,
            "hotspots": len(planted), "recalled": sum(r["found"] for r in runs),
            "recall": sum(r["found"] for r in runs) / len(planted) if planted else None,
            "flagged": n_flagged, "true_positives": n_tp,
            "precision": n_tp / n_flagged if n_flagged else None, "runs": runs}
