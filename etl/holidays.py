"""Official holidays and make-up working days (`holiday` table): they override `chinese_calendar`.

A city enters a new year's schedule as soon as the State Council announces it:
``cityscreen load holidays FILE`` with a CSV ``date,kind,name`` (kind ``holiday``/``workday``,
or 休/班). Loading any day of a year makes that year's calendar known (deadlines in it are no
longer provisional), so load the whole year's list at once.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import psycopg2.extras

from etl.reader import error_summary

KINDS: dict[str, str] = {
    "holiday": "holiday", "休": "holiday", "假": "holiday", "休息": "holiday",
    "workday": "workday", "班": "workday", "上班": "workday", "补班": "workday",
}


class HolidayFileError(ValueError):
    """The holiday file is malformed; the message names the line."""


@dataclass(frozen=True)
class HolidayRow:
    """One official calendar day."""

    day: date
    kind: str
    name: str | None


def read_holidays(path: str | Path, encoding: str = "utf-8-sig") -> list[HolidayRow]:
    """Parse and validate a ``date,kind,name`` CSV (all errors reported at once)."""
    rows: list[HolidayRow] = []
    errors: list[str] = []
    seen: dict[date, int] = {}
    with open(path, encoding=encoding, newline="") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        if "date" not in header or "kind" not in header:
            raise HolidayFileError(f"{path}: header must contain date,kind[,name] (got {header})")
        reader.fieldnames = header
        for line_no, rec in enumerate(reader, start=2):
            raw_day = (rec.get("date") or "").strip()
            raw_kind = (rec.get("kind") or "").strip()
            try:
                day = date.fromisoformat(raw_day)
            except ValueError:
                errors.append(f"line {line_no}: date {raw_day!r} is not YYYY-MM-DD")
                continue
            kind = KINDS.get(raw_kind.lower())
            if kind is None:
                errors.append(f"line {line_no}: kind {raw_kind!r} must be holiday or workday")
                continue
            if day in seen:
                errors.append(f"line {line_no}: {day} repeats line {seen[day]}")
                continue
            seen[day] = line_no
            rows.append(HolidayRow(day, kind, (rec.get("name") or "").strip() or None))
    if errors:
        raise HolidayFileError(error_summary(path, errors, shown=5))
    if not rows:
        raise HolidayFileError(f"{path}: no rows")
    return rows


def upsert_holidays(conn: Any, rows: list[HolidayRow]) -> int:
    """Insert or replace the given days (caller commits); returns the number of rows written."""
    with conn.cursor() as cur:
        psycopg2.extras.execute_values(
            cur,
            "INSERT INTO holiday (day, kind, name) VALUES %s "
            "ON CONFLICT (day) DO UPDATE SET kind = EXCLUDED.kind, name = EXCLUDED.name",
            [(r.day, r.kind, r.name) for r in rows],
        )
    return len(rows)


def holiday_overrides(conn: Any) -> dict[date, str]:
    """All rows of the `holiday` table as ``{day: 'holiday'|'workday'}`` (one query)."""
    with conn.cursor() as cur:
        cur.execute("SELECT day, kind FROM holiday")
        return dict(cur.fetchall())
