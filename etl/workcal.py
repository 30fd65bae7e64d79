"""Deadlines in working time: the Chinese public-holiday calendar plus office hours.

A `WorkCalendar` is built once per batch (`WorkCalendar.from_db(conn)` reads the `holiday`
table once) and computes deadlines for whole arrays of report times with numpy, so the ETL's
100k rows/s is not slowed down. Days come from, in order of precedence:

1. the `holiday` table (`cityscreen load holidays FILE`): official holidays and make-up
   working days;
2. the `chinese_calendar` package (it knows 2004–2026 and raises for other years);
3. Monday–Friday. A deadline that depends on a day of a year known neither to the package nor
   to the holiday table is *provisional* (`event.deadline_provisional`).

Units: ``hours`` and ``days`` are wall-clock; ``workhours`` count office hours
(`settings.office_hours`, default 09:00–12:00 and 13:00–18:00) on working days; ``workdays``
count whole working days of office time (N × the daily office minutes), so a case reported
Friday 10:00 with 1 working day is due Monday 10:00, one reported on a Saturday is due Monday
at closing time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar
import numpy as np
import pandas as pd

from cityscreen.settings import get_settings

UNITS: tuple[str, ...] = ("hours", "workhours", "days", "workdays")
UNIT_LABELS: dict[str, str] = {
    "hours": "小时", "workhours": "工作小时", "days": "自然日", "workdays": "工作日",
}

_EPOCH = date(1970, 1, 1)
_PKG_HOLIDAYS: frozenset[date] = frozenset(chinese_calendar.constants.holidays)
_PKG_WORKDAYS: frozenset[date] = frozenset(chinese_calendar.constants.workdays)
PACKAGE_YEARS: range = range(min(_PKG_HOLIDAYS).year, max(_PKG_HOLIDAYS).year + 1)

# Years the day table spans; report times outside it get no deadline (and are flagged).
FIRST_YEAR, LAST_YEAR = 1990, 2100


@dataclass(frozen=True)
class Deadline:
    """One computed deadline; ``provisional`` when it rests on an unknown year's calendar."""

    at: datetime | None
    provisional: bool


def _day_number(d: date) -> int:
    return (d - _EPOCH).days


_FIRST_DAY = _day_number(date(FIRST_YEAR, 1, 1))


def _package_workday(d: date) -> bool:
    """Working day by the package (its years) or Monday–Friday (other years)."""
    if d.year in PACKAGE_YEARS:
        if d in _PKG_WORKDAYS:
            return True
        if d in _PKG_HOLIDAYS:
            return False
    return d.weekday() < 5


@lru_cache(maxsize=1)
def _base_working_days() -> np.ndarray:
    """Working-day flags for every day of the table without overrides (built once per process)."""
    first = date(FIRST_YEAR, 1, 1)
    n = (date(LAST_YEAR, 12, 31) - first).days + 1
    flags = np.fromiter((_package_workday(first + timedelta(i)) for i in range(n)),
                        dtype=bool, count=n)
    flags.setflags(write=False)
    return flags


class WorkCalendar:
    """Working days and office hours, precomputed as arrays for vectorised deadline arithmetic."""

    def __init__(
        self,
        overrides: Mapping[date, str] | None = None,
        office_hours: Sequence[tuple[int, int]] | None = None,
        tz: ZoneInfo | None = None,
    ) -> None:
        settings = get_settings()
        self.tz = tz or settings.tz
        spans = tuple(office_hours or settings.office_hours)
        if not spans:
            raise ValueError("office hours are empty")
        self.overrides = dict(overrides or {})
        # Office spans in seconds of the day, and cumulative office seconds at each span start.
        self._span_start = np.array([a * 60 for a, _ in spans], dtype=np.int64)
        self._span_end = np.array([b * 60 for _, b in spans], dtype=np.int64)
        lengths = self._span_end - self._span_start
        self._cum_start = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        self.day_seconds = int(lengths.sum())  # office seconds in one working day

        self.known_years = frozenset(PACKAGE_YEARS) | {d.year for d in self.overrides}
        years = np.arange(FIRST_YEAR, LAST_YEAR + 2)
        unknown = np.array([y not in self.known_years for y in years], dtype=np.int64)
        self._unknown_cum = np.cumsum(unknown)  # index y - FIRST_YEAR; count of unknown years <= y

        working = _base_working_days().copy()
        for d, kind in self.overrides.items():
            if FIRST_YEAR <= d.year <= LAST_YEAR:
                working[_day_number(d) - _FIRST_DAY] = kind == "workday"
        self._first_day = _FIRST_DAY
        self._workdays = np.flatnonzero(working).astype(np.int64) + _FIRST_DAY

    @classmethod
    def from_db(cls, conn: Any, office_hours: Sequence[tuple[int, int]] | None = None,
                tz: ZoneInfo | None = None) -> WorkCalendar:
        """Build the calendar from the `holiday` table (one query) and the settings."""
        from etl.holidays import holiday_overrides

        return cls(holiday_overrides(conn), office_hours=office_hours, tz=tz)

    # ------------------------------------------------------------ days

    def _is_workday(self, d: date) -> bool:
        kind = self.overrides.get(d)
        if kind is not None:
            return kind == "workday"
        return _package_workday(d)

    def is_workday(self, d: date) -> bool:
        """True when ``d`` is a working day (holiday table, then package, then Mon–Fri)."""
        return bool(self._is_workday(d))

    def is_known(self, d: date) -> bool:
        """True when the official calendar of ``d``'s year is known (package or holiday table)."""
        return d.year in self.known_years

    # ------------------------------------------------------------ deadlines

    def deadline(self, start: datetime, value: float | None, unit: str | None) -> Deadline:
        """The deadline of one case reported at ``start`` (aware; naive means local time)."""
        at, provisional = self.deadlines([start], [value], [unit])
        ts = at[0]
        return Deadline(None if pd.isna(ts) else ts.to_pydatetime(), bool(provisional[0]))

    def deadlines(
        self,
        starts: Iterable[Any],
        values: Iterable[float | None],
        units: Iterable[str | None],
    ) -> tuple[pd.DatetimeIndex, np.ndarray]:
        """Deadlines for arrays of report times, values and units (NaT where no rule applies).

        Returns ``(deadlines in the calendar's time zone, provisional flags)``.
        """
        idx = pd.DatetimeIndex(starts)
        idx = idx.tz_localize(self.tz) if idx.tz is None else idx.tz_convert(self.tz)
        vals = pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce").to_numpy(float)
        unit_arr = np.asarray(list(units), dtype=object)
        if not len(idx) == len(vals) == len(unit_arr):
            raise ValueError("starts, values and units must have the same length")

        # Local wall-clock seconds since 1970 (the zone's offset folded in).
        local = idx.tz_localize(None).as_unit("s").asi8
        out = np.full(len(idx), np.iinfo(np.int64).min, dtype=np.int64)  # local seconds or NaT
        provisional = np.zeros(len(idx), dtype=bool)
        ok = ~np.isnan(vals) & ~idx.isna()

        wall = ok & np.isin(unit_arr, ("hours", "days"))
        factor = np.where(unit_arr == "days", 86400, 3600)
        out[wall] = local[wall] + np.round(vals[wall] * factor[wall]).astype(np.int64)

        work = ok & np.isin(unit_arr, ("workhours", "workdays"))
        if work.any():
            need = np.where(unit_arr[work] == "workdays", vals[work] * self.day_seconds,
                            vals[work] * 3600)
            at, prov = self._add_working_seconds(local[work], np.round(need).astype(np.int64))
            out[work] = at
            provisional[work] = prov

        # int64 min is numpy's NaT, so rows without a rule stay NaT.
        result = pd.DatetimeIndex(out.astype("datetime64[s]"))
        result = result.tz_localize(self.tz, ambiguous="NaT", nonexistent="shift_forward")
        return result, provisional

    def _office_seconds_before(self, sod: np.ndarray) -> np.ndarray:
        """Office seconds of a working day that lie before second-of-day ``sod``."""
        inside = np.clip(sod[:, None] - self._span_start[None, :], 0,
                         (self._span_end - self._span_start)[None, :])
        return inside.sum(axis=1)

    def _second_of_day_at(self, office: np.ndarray) -> np.ndarray:
        """The second of day at which ``office`` (in (0, day_seconds]) office seconds are done."""
        cum_end = self._cum_start + (self._span_end - self._span_start)
        k = np.searchsorted(cum_end, office, side="left")
        return self._span_start[k] + (office - self._cum_start[k])

    def _add_working_seconds(self, local: np.ndarray, need: np.ndarray
                             ) -> tuple[np.ndarray, np.ndarray]:
        """Local times ``need`` office seconds after ``local``; flags for unknown-year calendars."""
        m = self.day_seconds
        day, sod = np.divmod(local, 86400)
        pos = np.searchsorted(self._workdays, day, side="left")
        in_range = (pos < len(self._workdays)) & (day >= self._first_day)
        pos_c = np.minimum(pos, len(self._workdays) - 1)
        on_workday = in_range & (self._workdays[pos_c] == day)
        # Working-time clock: office seconds since the first working day of the table.
        clock = pos_c * m + np.where(on_workday, self._office_seconds_before(sod), 0)
        target = clock + need
        # Take (0, m] rather than [0, m): a deadline at closing time stays on that day.
        i = (target - 1) // m
        in_range &= i < len(self._workdays)
        i = np.minimum(i, len(self._workdays) - 1)
        end_day = self._workdays[i]
        end = end_day * 86400 + self._second_of_day_at(target - i * m)
        end = np.where(in_range, end, np.iinfo(np.int64).min)
        provisional = ~in_range | self._unknown_between(day, end_day)
        return end, provisional

    def _unknown_between(self, day_a: np.ndarray, day_b: np.ndarray) -> np.ndarray:
        """True where some year from day_a's to day_b's is outside the known calendar."""
        ya = pd.DatetimeIndex((day_a * 86400).astype("datetime64[s]")).year.to_numpy()
        yb = pd.DatetimeIndex((day_b * 86400).astype("datetime64[s]")).year.to_numpy()
        ya = np.clip(ya, FIRST_YEAR, LAST_YEAR + 1) - FIRST_YEAR
        yb = np.clip(yb, FIRST_YEAR, LAST_YEAR + 1) - FIRST_YEAR
        before = np.where(ya > 0, self._unknown_cum[np.maximum(ya - 1, 0)], 0)
        return (self._unknown_cum[yb] - before) > 0

    def deadlines_for_categories(
        self,
        starts: Iterable[Any],
        categories: Iterable[str],
        rules: Mapping[str, tuple[float | None, str | None]],
    ) -> tuple[pd.DatetimeIndex, np.ndarray]:
        """Deadlines from each case's category rule (``categories.deadline_rules(conn)``)."""
        cats = list(categories)
        values = [rules.get(c, (None, None))[0] for c in cats]
        units = [rules.get(c, (None, None))[1] for c in cats]
        return self.deadlines(starts, values, units)
