"""Deadlines in working time — every expectation below is counted by hand on a calendar."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from etl.holidays import HolidayRow, read_holidays, upsert_holidays
from etl.workcal import Deadline, WorkCalendar

TZ = ZoneInfo("Asia/Shanghai")


def t(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return WorkCalendar(office_hours=((9 * 60, 12 * 60), (13 * 60, 18 * 60)), tz=TZ)


@pytest.mark.parametrize(("start", "value", "unit", "expected"), [
    # Fri 2026-11-20: one working day later is Monday at the same time.
    (t(2026, 11, 20, 10), 1, "workdays", t(2026, 11, 23, 10)),
    # Reported on Saturday: the clock starts Monday 09:00, one working day = Monday closing time.
    (t(2026, 11, 21, 10), 1, "workdays", t(2026, 11, 23, 18)),
    # Fri 17:30 + 4 working hours: 0.5 h Friday, 3 h Monday morning, 0.5 h after lunch.
    (t(2026, 11, 20, 17, 30), 4, "workhours", t(2026, 11, 23, 13, 30)),
    # 5 working days from Friday 10:00 = next Friday 10:00.
    (t(2026, 11, 20, 10), 5, "workdays", t(2026, 11, 27, 10)),
    # Lunch break does not count: 11:00 + 2 h = 14:00; reported at 12:30 + 1 h = 14:00.
    (t(2026, 11, 24, 11), 2, "workhours", t(2026, 11, 24, 14)),
    (t(2026, 11, 24, 12, 30), 1, "workhours", t(2026, 11, 24, 14)),
    # Reported at closing time Friday: a working day later is Monday closing time.
    (t(2026, 11, 20, 18), 1, "workdays", t(2026, 11, 23, 18)),
    # Wall-clock units ignore the calendar.
    (t(2026, 11, 21, 10), 2, "hours", t(2026, 11, 21, 12)),
    (t(2026, 11, 21, 10), 3, "days", t(2026, 11, 24, 10)),
])
def test_deadlines_across_a_weekend(cal: WorkCalendar, start: datetime, value: float,
                                    unit: str, expected: datetime) -> None:
    d = cal.deadline(start, value, unit)
    assert d.at == expected
    assert d.provisional is False


@pytest.mark.parametrize(("start", "value", "unit", "expected"), [
    # Wed 30 Sep 17:00 + 2 working hours: 1 h on the 30th, 1–7 Oct off, 1 h on Thu 8 Oct.
    (t(2026, 9, 30, 17), 2, "workhours", t(2026, 10, 8, 10)),
    # Wed 30 Sep 10:00 + 3 working days: Thu 8 Oct, Fri 9 Oct, Sat 10 Oct (make-up working day).
    (t(2026, 9, 30, 10), 3, "workdays", t(2026, 10, 10, 10)),
    # Reported during the holiday: clock starts Thu 8 Oct 09:00; 2 working days end Fri 9 Oct 18:00.
    (t(2026, 10, 3, 15), 2, "workdays", t(2026, 10, 9, 18)),
    # Fri 9 Oct 17:00 + 2 working hours: 1 h Friday, 1 h on make-up Saturday 10 Oct.
    (t(2026, 10, 9, 17), 2, "workhours", t(2026, 10, 10, 10)),
    # Sat 19 Sep + 1 working day: Sun 20 Sep is a make-up working day (closing time).
    (t(2026, 9, 19, 10), 1, "workdays", t(2026, 9, 20, 18)),
])
def test_deadlines_across_national_day_2026(cal: WorkCalendar, start: datetime, value: float,
                                            unit: str, expected: datetime) -> None:
    d = cal.deadline(start, value, unit)
    assert d.at == expected
    assert d.provisional is False


def test_year_end_without_a_2027_schedule_is_provisional(cal: WorkCalendar) -> None:
    # Thu 31 Dec 2026 10:00 + 6 working days, 2027 unknown → Mon–Fri:
    # Fri 1 Jan, Mon 4, Tue 5, Wed 6, Thu 7, Fri 8 Jan.
    d = cal.deadline(t(2026, 12, 31, 10), 6, "workdays")
    assert d.at == t(2027, 1, 8, 10)
    assert d.provisional is True
    # Inside 2026 nothing is provisional; wall-clock hours never are.
    assert cal.deadline(t(2026, 12, 30, 10), 1, "workdays").provisional is False
    assert cal.deadline(t(2026, 12, 31, 20), 24, "hours") == Deadline(t(2027, 1, 1, 20), False)
    # A case reported in 2027 does not crash either.
    assert cal.deadline(t(2027, 3, 1, 10), 1, "workdays") == Deadline(t(2027, 3, 2, 10), True)


def test_year_end_with_a_loaded_2027_schedule(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # A test schedule: 1 Jan 2027 holiday, Sat 9 Jan 2027 a make-up working day.
    f = tmp_path / "h2027.csv"
    f.write_text("date,kind,name\n2027-01-01,holiday,元旦\n2027-01-09,班,测试补班\n", "utf-8")
    rows = read_holidays(f)
    cal = WorkCalendar({r.day: r.kind for r in rows}, tz=TZ)
    # 6 working days from Thu 31 Dec: Mon 4, Tue 5, Wed 6, Thu 7, Fri 8, Sat 9 Jan.
    d = cal.deadline(t(2026, 12, 31, 10), 6, "workdays")
    assert d.at == t(2027, 1, 9, 10)
    assert d.provisional is False


def test_holiday_table_overrides_package(conn) -> None:  # type: ignore[no-untyped-def]
    # Mon 23 Nov 2026 declared a holiday in the table: Fri + 1 working day → Tue.
    upsert_holidays(conn, [HolidayRow(date(2026, 11, 23), "holiday", "test")])
    cal = WorkCalendar.from_db(conn, tz=TZ)
    assert cal.deadline(t(2026, 11, 20, 10), 1, "workdays").at == t(2026, 11, 24, 10)
    assert not cal.is_workday(date(2026, 11, 23))
    assert cal.is_workday(date(2026, 10, 10))  # package make-up day still there


def test_configurable_office_hours() -> None:
    cal = WorkCalendar(office_hours=((8 * 60, 12 * 60), (14 * 60, 17 * 60 + 30)), tz=TZ)
    # Fri 16:00 + 3 working hours: 1.5 h Friday, Monday 08:00–09:30.
    assert cal.deadline(t(2026, 11, 20, 16), 3, "workhours").at == t(2026, 11, 23, 9, 30)
    # A working day is 7.5 office hours here: Fri 10:00 + 1 day = Mon 10:00.
    assert cal.deadline(t(2026, 11, 20, 10), 1, "workdays").at == t(2026, 11, 23, 10)


def _brute_force(cal: WorkCalendar, start: datetime, minutes: int) -> datetime:
    """Walk minute by minute, counting only office minutes of working days."""
    spans = ((9 * 60, 12 * 60), (13 * 60, 18 * 60))
    now = start.replace(second=0)
    left = minutes
    while left > 0:
        m = now.hour * 60 + now.minute
        if cal.is_workday(now.date()) and any(a <= m < b for a, b in spans):
            left -= 1
        now += timedelta(minutes=1)
    return now


def test_vectorised_matches_a_minute_walk(cal: WorkCalendar) -> None:
    rng = random.Random(7)
    starts = [t(2026, 9, 15) + timedelta(minutes=rng.randrange(0, 60 * 24 * 40))
              for _ in range(40)]
    hours = [rng.choice([1, 2, 4, 8, 13, 24]) for _ in starts]
    got, prov = cal.deadlines(starts, hours, ["workhours"] * len(starts))
    for s, h, g in zip(starts, hours, got, strict=True):
        assert g.to_pydatetime() == _brute_force(cal, s, h * 60), (s, h)
    assert not prov.any()


def test_rows_without_a_rule_get_no_deadline(cal: WorkCalendar) -> None:
    at, prov = cal.deadlines([t(2026, 11, 20, 10)] * 2, [None, 2], [None, "hours"])
    assert at[0] is None or str(at[0]) == "NaT"
    assert at[1] == t(2026, 11, 20, 12)
    assert list(prov) == [False, False]
