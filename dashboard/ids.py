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
