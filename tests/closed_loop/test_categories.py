"""The taxonomy: the shipped default, validation of a file, replacement in one transaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.categories import (
    CategoryFileError,
    deadline_rules,
    default_path,
    read_categories,
    replace_categories,
)
from etl.workcal import UNITS


def test_default_taxonomy_shape() -> None:
    rows = read_categories(default_path())
    majors = [r for r in rows if r.parent is None]
    assert [m.code for m in majors] == [f"{i:02d}" for i in range(1, 13)]
    assert [m.name for m in majors][:4] == ["市容环境", "街面秩序", "施工管理", "突发事件"]
    subs = [r for r in rows if r.parent is not None]
    for m in majors:
        mine = [s for s in subs if s.parent == m.code]
        assert len(mine) >= 9, m.code
        assert all(len(s.code) == 4 and s.code.startswith(m.code) for s in mine)
    assert all(r.deadline_unit in UNITS and r.deadline_value > 0 for r in rows)
    by_code = {r.code: r for r in rows}
    # 12345 practice: urgent 2 h, utilities 24 h, general 5 working days, complex 15.
    assert (by_code["0401"].deadline_value, by_code["0401"].deadline_unit) == (2, "hours")
    assert by_code["0401"].priority == 1
    assert (by_code["1101"].deadline_value, by_code["1101"].deadline_unit) == (24, "hours")
    assert (by_code["0801"].deadline_value, by_code["0801"].deadline_unit) == (5, "workdays")
    assert (by_code["0802"].deadline_value, by_code["0802"].deadline_unit) == (15, "workdays")
    assert by_code["0703"].parent == "07"


def test_migrate_seeded_the_default(conn) -> None:  # type: ignore[no-untyped-def]
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM category")
        assert cur.fetchone()[0] == len(read_categories(default_path()))


def test_bad_file_is_refused_with_line_numbers(tmp_path: Path) -> None:
    f = tmp_path / "bad.csv"
    f.write_text("code,parent,name,deadline_value,deadline_unit,priority\n"
                 "01,,市容,2,weeks,3\n"
                 "0101,02,暴露垃圾,2,hours,3\n"
                 "0102,01,积存垃圾,,hours,9\n"
                 "0101,01,重复,2,hours,3\n", "utf-8")
    with pytest.raises(CategoryFileError) as err:
        read_categories(f)
    msg = str(err.value)
    assert "line 2: deadline_unit 'weeks'" in msg
    assert "line 3: code 0101 does not start with its parent 02" in msg
    assert "line 4: priority '9'" in msg
    assert "line 5: code 0101 repeats line 3" not in msg  # line 3 was already invalid


def test_unknown_parent_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "orphan.csv"
    f.write_text("code,parent,name\n01,,a\n0301,03,b\n", "utf-8")
    with pytest.raises(CategoryFileError, match="parent 03 of 0301 is not in the file"):
        read_categories(f)


def test_replace_and_rules_with_parent_fallback(conn, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "mini.csv"
    f.write_text("code,parent,name,name_en,deadline_value,deadline_unit,priority\n"
                 "A1,,甲,,3,workdays,3\nA101,A1,甲一,,2,hours,1\nA102,A1,甲二,,,,\n", "utf-8")
    assert replace_categories(conn, read_categories(f)) == 3
    rules = deadline_rules(conn)
    assert rules == {"A1": (3.0, "workdays"), "A101": (2.0, "hours"), "A102": (3.0, "workdays")}
