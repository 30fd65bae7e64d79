"""The filter bar: window, channel, category, status, metric, cameras, theme, language."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from dash import dcc, html

from dashboard import ids
from dashboard.i18n import t
from dashboard.state import CHANNELS, METRICS, STATUSES, WINDOWS, ViewState


def _dd(id_: str, options: list[dict[str, Any]], value: Any, placeholder: str,
        clearable: bool = True, width: str = "8.5em") -> dcc.Dropdown:
    return dcc.Dropdown(id=id_, options=options, value=value, placeholder=placeholder,
                        clearable=clearable, searchable=False, className="ctl",
                        style={"width": width})


def controls(state: ViewState, majors: list[dict[str, Any]], *, with_metric: bool = True
             ) -> html.Div:
    """The control bar; every change becomes a new URL (see the page's navigate callback)."""
    lang = state.lang
    metric = [_dd(ids.METRIC, [{"label": t(f"m_{m}", lang), "value": m} for m in METRICS],
                  state.metric, t("metric", lang), clearable=False, width="9.5em")] \
        if with_metric else [dcc.Store(id=ids.METRIC, data=state.metric)]
    return html.Div([
        _dd(ids.WINDOW, [{"label": t(f"w_{w}", lang), "value": w} for w in WINDOWS],
            state.window, t("window", lang), clearable=False),
        dcc.DatePickerRange(id=ids.DATE_RANGE, start_date=state.start, end_date=state.end,
                            display_format="YYYY-MM-DD", className="ctl-dates",
                            style={"display": "inline-block" if state.window == "custom"
                                   else "none"}),
        _dd(ids.CHANNEL, [{"label": t(f"ch_{c}", lang), "value": c} for c in CHANNELS],
            state.channel, t("all_channels", lang), width="9.5em"),
        _dd(ids.MAJOR, [{"label": m["name_en"] if lang == "en" else m["name"],
                         "value": m["code"]} for m in majors],
            state.major, t("all_categories", lang), width="9.5em"),
        _dd(ids.STATUS, [{"label": t(f"st_{s}", lang), "value": s} for s in STATUSES],
            state.status, t("all_status", lang)),
        *metric,
        dcc.Checklist(id=ids.CAMERAS, options=[{"label": t("cameras", lang), "value": "on"}],
                      value=["on"] if state.cams else [], className="ctl-check", inline=True),
        dcc.RadioItems(id=ids.THEME, options=[{"label": t("theme_wall", lang), "value": "wall"},
                                              {"label": t("theme_desk", lang), "value": "desk"}],
                       value=state.theme, className="ctl-radio", inline=True),
        dcc.RadioItems(id=ids.LANG, options=[{"label": "中", "value": "zh"},
                                             {"label": "EN", "value": "en"}],
                       value=state.lang, className="ctl-radio", inline=True),
    ], className="controls")


def state_from_controls(base: ViewState, window: str | None, dates: tuple[Any, Any],
                        channel: str | None, major: str | None, status: str | None,
                        metric: str | None, cams: list[str] | None, theme: str | None,
                        lang: str | None, today: date) -> dict[str, Any]:
    """Control values as URL parameters (validated again when the URL is parsed).

    Choosing "custom" without dates starts from the last seven days.
    """
    start, end = dates
    window = window or "today"
    custom = window == "custom"
    if custom and not (start and end):
        start, end = today - timedelta(days=6), today
    return {
        "window": window,
        "start": str(start)[:10] if custom else None,
        "end": str(end)[:10] if custom else None,
        "channel": channel or None, "major": major or None, "status": status or None,
        "metric": metric or base.metric, "cams": bool(cams), "theme": theme or base.theme,
        "lang": lang or base.lang,
    }
