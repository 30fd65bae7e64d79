"""Colours of the two themes (CSS carries the rest, in assets/cityscreen.css)."""

from __future__ import annotations

from typing import Any

from dashboard.components import basemap

FONT = "Noto Sans CJK SC, Source Han Sans SC, Microsoft YaHei, WenQuanYi Micro Hei, sans-serif"

THEMES: dict[str, dict[str, Any]] = {
    "wall": {
        "bg": "#07101f", "panel": "#0d1b33", "text": "#d8e6ff", "muted": "#7f93b5",
        "grid": "#1d2d4d", "accent": "#35c3ff", "line": "#6fb7ff", "border": "#9fc3ff",
        "scale": [[0, "#0f2a4a"], [0.25, "#1f6f8b"], [0.5, "#f6c343"], [0.75, "#f08a24"],
                  [1, "#e0342b"]],
        "series": ["#35c3ff", "#8a9bb8", "#5b6b88"],
        "font": FONT,
    },
    "desk": {
        "bg": "#f4f6fa", "panel": "#ffffff", "text": "#1d2433", "muted": "#5d6a80",
        "grid": "#e3e8f0", "accent": "#1768d8", "line": "#1768d8", "border": "#334155",
        "scale": [[0, "#fff5eb"], [0.25, "#fdd0a2"], [0.5, "#fd8d3c"], [0.75, "#d94801"],
                  [1, "#7f2704"]],
        "series": ["#1768d8", "#98a2b3", "#c9ced8"],
        "font": FONT,
    },
}


def colors(theme: str) -> dict[str, Any]:
    """The palette of ``theme`` (wall by default)."""
    return THEMES.get(theme, THEMES["wall"])


def map_style(theme: str) -> dict[str, Any]:
    """An offline base: a plain background (the configured tiles over it when
    ``CITYSCREEN_TILE_URL`` is set) and no glyph URL, so MapLibre draws label glyphs locally
    at once. (Plotly's "white-bg" names a remote glyph server: MapLibre waits for it before
    falling back, which offline can take long.)"""
    return basemap.style("#ffffff" if theme == "desk" else colors(theme)["bg"])
