"""The event taxonomy (`category` table): 12 major classes and their subitems, with deadlines.

The taxonomy is data: a realistic default ships in ``etl/data/categories.csv`` and is seeded
into an empty table after ``db migrate``; ``cityscreen load categories FILE`` replaces it in
one transaction. File columns: ``code,parent,name,name_en,deadline_value,deadline_unit,priority``
(``deadline_unit`` one of hours, workhours, days, workdays; ``priority`` 1 urgent … 4 low).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg2.extras

from etl.reader import error_summary
from etl.workcal import UNITS

REQUIRED_COLUMNS = ("code", "parent", "name")
_CODE = re.compile(r"^[0-9A-Za-z]{1,16}$")


class CategoryFileError(ValueError):
    """The taxonomy file is malformed; the message names the lines."""


@dataclass(frozen=True)
class Category:
    """One taxonomy row."""

    code: str
    parent: str | None
    name: str
    name_en: str | None
    deadline_value: Decimal | None
    deadline_unit: str | None
    priority: int


def default_path() -> Path:
    """The packaged default taxonomy."""
    return Path(str(resources.files("etl").joinpath("data/categories.csv")))


def _parse_row(rec: dict[str, str], line_no: int, errors: list[str]) -> Category | None:
    def field(name: str) -> str:
        return (rec.get(name) or "").strip()

    code, parent, name = field("code"), field("parent") or None, field("name")
    bad = len(errors)
    if not _CODE.match(code):
        errors.append(f"line {line_no}: code {code!r} must be 1–16 letters or digits")
    if not name:
        errors.append(f"line {line_no}: name is empty")
    if parent is not None and not code.startswith(parent):
        errors.append(f"line {line_no}: code {code} does not start with its parent {parent}")
    raw_value, unit = field("deadline_value"), field("deadline_unit") or None
    value: Decimal | None = None
    if raw_value:
        try:
            value = Decimal(raw_value)
            if not value > 0:
                raise InvalidOperation
        except InvalidOperation:
            errors.append(f"line {line_no}: deadline_value {raw_value!r} must be a positive number")
    if unit is not None and unit not in UNITS:
        errors.append(f"line {line_no}: deadline_unit {unit!r} must be one of {', '.join(UNITS)}")
    if (value is None) != (unit is None) and len(errors) == bad:
        errors.append(f"line {line_no}: deadline_value and deadline_unit go together")
    raw_priority = field("priority") or "3"
    if raw_priority not in {"1", "2", "3", "4"}:
        errors.append(f"line {line_no}: priority {raw_priority!r} must be 1, 2, 3 or 4")
    if len(errors) > bad:
        return None
    return Category(code, parent, name, field("name_en") or None, value, unit, int(raw_priority))


def read_categories(path: str | Path, encoding: str = "utf-8-sig") -> list[Category]:
    """Parse and validate a taxonomy CSV: codes, parents (must exist, prefix), units, priorities."""
    rows: list[Category] = []
    errors: list[str] = []
    lines: dict[str, int] = {}
    with open(path, encoding=encoding, newline="") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise CategoryFileError(f"{path}: missing column(s) {', '.join(missing)}")
        reader.fieldnames = header
        for line_no, rec in enumerate(reader, start=2):
            row = _parse_row(rec, line_no, errors)
            if row is None:
                continue
            if row.code in lines:
                errors.append(f"line {line_no}: code {row.code} repeats line {lines[row.code]}")
                continue
            lines[row.code] = line_no
            rows.append(row)
    for row in rows:
        if row.parent is not None and row.parent not in lines:
            errors.append(f"line {lines[row.code]}: parent {row.parent} of {row.code}"
                          " is not in the file")
    if errors:
        raise CategoryFileError(error_summary(path, errors, shown=8))
    if not rows:
        raise CategoryFileError(f"{path}: no rows")
    return rows


def replace_categories(conn: Any, rows: list[Category]) -> int:
    """Replace the whole taxonomy with ``rows`` (caller commits: one transaction)."""
    with conn.cursor() as cur:
        cur.execute("DELETE FROM category")
        psycopg2.extras.execute_values(
            cur,
            "INSERT INTO category (code, parent, name, name_en, deadline_value, deadline_unit,"
            " priority) VALUES %s",
            [(r.code, r.parent, r.name, r.name_en, r.deadline_value, r.deadline_unit, r.priority)
             for r in rows],
            page_size=1000,
        )
    return len(rows)


def seed_if_empty(conn: Any) -> int:
    """Load the default taxonomy when the table is empty; returns the rows loaded (0 if not)."""
    with conn.cursor() as cur:
        cur.execute("SELECT EXISTS (SELECT 1 FROM category)")
        if cur.fetchone()[0]:
            return 0
    return replace_categories(conn, read_categories(default_path()))


def deadline_rules(conn: Any) -> dict[str, tuple[float | None, str | None]]:
    """``{code: (deadline_value, deadline_unit)}``; a subitem without a rule takes its class's."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT c.code, coalesce(c.deadline_value, p.deadline_value),"
            " CASE WHEN c.deadline_value IS NULL THEN p.deadline_unit ELSE c.deadline_unit END"
            " FROM category c LEFT JOIN category p ON p.code = c.parent"
        )
        return {code: (float(v) if v is not None else None, u) for code, v, u in cur.fetchall()}


def after_migrate(conn: Any) -> None:
    """Seed the default taxonomy into an empty `category` table."""
    seed_if_empty(conn)
