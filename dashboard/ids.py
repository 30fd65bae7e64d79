"""Every component id of the dashboard, in one place (pages and callbacks import them from here)."""

from __future__ import annotations

# shell (app.py): navigation and the live loop shared by every page
URL = "url"
TICK = "tick"
VERSION = "data-version"
STALE_SINCE = "stale-since"
BANNER = "stale-banner"

# overview page
PAGE_STATE = "page-state"
PAGE_VERSION = "page-version"
ROOT = "page-root"
MAP = "map"
BREADCRUMB = "breadcrumb"
KPI_VALUE = "kpi-value"  # pattern id: {"type": KPI_VALUE, "key": name}
KPI_DELTA = "kpi-delta"  # pattern id: {"type": KPI_DELTA, "key": name}
TREND_24H = "trend-24h"
TREND_30D = "trend-30d"
CATEGORY_CHART = "category-chart"
CHARTS = "charts"  # store: the three charts' figures, drawn into them after the map
RANKING = "ranking"
RANK_ROW = "rank-row"  # pattern id: {"type": RANK_ROW, "code": code}
TICKER = "ticker"
CLOCK = "clock"
CLOCK_TICK = "clock-tick"

# controls (URL state)
WINDOW = "ctl-window"
DATE_RANGE = "ctl-dates"
CHANNEL = "ctl-channel"
MAJOR = "ctl-major"
STATUS = "ctl-status"
METRIC = "ctl-metric"
CAMERAS = "ctl-cameras"
THEME = "ctl-theme"
LANG = "ctl-lang"

# grid page
GRID_STATE = "grid-state"
GRID_VERSION = "grid-version"
GRID_TABLE = "grid-cases"
GRID_MAP = "grid-map"
GRID_KPI_VALUE = "grid-kpi-value"
GRID_KPI_DELTA = "grid-kpi-delta"

# case page
CASE_MAP = "case-map"
CASE_TIMELINE = "case-timeline"

# meeting page (领导会商)
MEETING_STATE = "meeting-state"
MEETING_VERSION = "meeting-version"
MEETING_MAP = "meeting-map"
MEETING_RANKING = "meeting-ranking"
MEETING_ROW = "meeting-row"  # pattern id: {"type": MEETING_ROW, "code": code}
MEETING_HOTSPOTS = "meeting-hotspots"
MEETING_SPOT = "meeting-spot"  # pattern id: {"type": MEETING_SPOT, "code": grid code}
MEETING_WINDOW = "meeting-window"
MEETING_EXPORT = "meeting-export"  # pattern id: {"type": MEETING_EXPORT, "file": name}
MEETING_DOWNLOAD = "meeting-download"

# kiosk (shell): ?kiosk=1&rotate=60&playlist=…
SHELL = "shell"
KIOSK_TICK = "kiosk-tick"
KIOSK_PLAYLIST = "kiosk-playlist"
