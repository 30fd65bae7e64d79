"""`cityscreen kpi`: KPIs of a unit and its children (registered by dashboard/commands.py)."""

from __future__ import annotations

import json
import unicodedata
from datetime import date, datetime, time, timedelta
from typing import Any

import click

from cityscreen import db
from cityscreen.settings import get_settings
from dashboard import kpi

RATE_KEYS = ("closure_rate", "on_time_rate", "reopen_rate", "extension_rate", "satisfaction")
TABLE_KEYS = ("received", "closed", "closure_rate", "on_time_rate", "overdue_open", "due_2h",
              "median_handling_hours", "reopen_rate", "extension_rate", "satisfaction")


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.UsageError(f"{option} {value!r} is not a date (YYYY-MM-DD)") from None


def window(start: str | None, end: str | None) -> tuple[datetime, datetime]:
    """[from, to) as local midnights; default the last 30 days including today."""
    tz = get_settings().tz
    d_to = _day(end, "--to") or (datetime.now(tz).date() + timedelta(days=1))
    d_from = _day(start, "--from") or (d_to - timedelta(days=30))
    if d_from >= d_to:
        raise click.UsageError(f"--from {d_from} must be before --to {d_to}")
    return datetime.combine(d_from, time(), tz), datetime.combine(d_to, time(), tz)


def _fmt(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key in RATE_KEYS:
        return f"{value:.1%}"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _width(text: str) -> int:
    """Terminal columns: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _table(rows: list[tuple[str, dict[str, Any]]]) -> str:
    header = ["单位"] + [kpi.KPI_LABELS[k] for k in TABLE_KEYS]
    body = [[name] + [_fmt(k, kpis[k]) for k in TABLE_KEYS] for name, kpis in rows]
    widths = [max(_width(r[i]) for r in [header, *body]) for i in range(len(header))]
    return "\n".join(
        "  ".join(c + " " * (w - _width(c)) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *body])


@click.command("kpi")
@click.argument("unit", required=False)
@click.option("--from", "start", metavar="DATE", help="First day (local), default 30 days ago.")
@click.option("--to", "end", metavar="DATE", help="Day after the last (local), default tomorrow.")
@click.option("--channel", help="Only this channel (grid_worker, hotline_12345, video_ai).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (shape in FEEDS.md).")
def kpi_cmd(unit: str | None, start: str | None, end: str | None, channel: str | None,
            as_json: bool) -> None:
    """闭环考核指标: KPIs of UNIT (an admin code; default the city) and of each unit below it,
    for cases reported in [--from, --to). Definitions: docs/KPI.md."""
    lo, hi = window(start, end)
    filters = {"channel": channel} if channel else None
    with db.transaction("reader") as conn:
        try:
            resolved = kpi.resolve_unit(conn, unit)
            mine = kpi.unit_kpis(conn, unit, lo, hi, filters)
            children = kpi.children_kpis(conn, unit, lo, hi, filters)
        except kpi.KpiError as exc:
            raise click.UsageError(str(exc)) from None
    if as_json:
        click.echo(json.dumps({"unit": resolved.code, "name": resolved.name,
                               "from": lo.isoformat(), "to": hi.isoformat(),
                               "kpis": mine, "children": children}, ensure_ascii=False))
        return
    title = resolved.name or resolved.code or "全市"
    flag = "  (含临时时限 provisional deadlines)" if mine["provisional"] else ""
    click.echo(f"{title} {lo.date()} – {(hi - timedelta(days=1)).date()}{flag}")
    rows = [(title, mine)] + [(c["name"] or c["unit"] or "无位置", c["kpis"]) for c in children]
    click.echo(_table(rows))


def register(main: click.Group) -> None:
    """Attach `kpi` to the `cityscreen` command group."""
    main.add_command(kpi_cmd, "kpi")
