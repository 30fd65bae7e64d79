"""Property tests for the admin code rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geo.codes import LEVELS, level_of, make_child_code, parent_of, validate_code

digits = st.text(alphabet="0123456789", min_size=1, max_size=18)
prov = st.integers(10, 99).map(str)
city_part = st.integers(1, 99).map(lambda n: f"{n:02d}")
seq3 = st.integers(1, 999).map(lambda n: f"{n:03d}")


@st.composite
def codes_by_level(draw: st.DrawFn) -> tuple[str, str]:
    """A valid code of a random level, built top-down."""
    city = draw(prov) + draw(city_part) + "00"
    level = draw(st.sampled_from(LEVELS))
    code = city
    if level == "city":
        return code, level
    code = city[:4] + draw(city_part)
    for lv in LEVELS[2:]:
        if LEVELS.index(lv) > LEVELS.index(level):
            break
        code += draw(seq3)
    return code, level


@given(codes_by_level())
def test_level_of_matches_construction(item: tuple[str, str]) -> None:
    code, level = item
    assert level_of(code) == level
    assert validate_code(code, level=level) == level


@given(codes_by_level())
def test_parent_is_prefix_one_level_up(item: tuple[str, str]) -> None:
    code, level = item
    parent = parent_of(code)
    if level == "city":
        assert parent is None
        return
    assert parent is not None
    assert level_of(parent) == LEVELS[LEVELS.index(level) - 1]
    prefix = 4 if level == "district" else len(parent)
    assert code.startswith(parent[:prefix])
    assert validate_code(code, parent=parent) == level


@given(codes_by_level(), st.integers(1, 99))
def test_child_code_roundtrip(item: tuple[str, str], seq: int) -> None:
    code, level = item
    if level == "grid":
        with pytest.raises(ValueError, match="no children"):
            make_child_code(code, seq)
        return
    child = make_child_code(code, seq)
    assert parent_of(child) == code
    assert level_of(child) == LEVELS[LEVELS.index(level) + 1]


@given(digits)
def test_random_digit_strings_either_valid_or_clear_reason(code: str) -> None:
    try:
        level = level_of(code)
    except ValueError as exc:
        assert str(exc)  # a reason is given
        assert len(code) not in (6, 9, 12, 15) or "00" in str(exc) or "000" in str(exc)
    else:
        assert len(code) == {"city": 6, "district": 6, "street": 9, "community": 12,
                             "grid": 15}[level]


@given(codes_by_level(), st.sampled_from(LEVELS))
def test_wrong_level_rejected(item: tuple[str, str], other: str) -> None:
    code, level = item
    if other == level:
        return
    with pytest.raises(ValueError, match=f"is a {level} code, not a {other} code"):
        validate_code(code, level=other)


@pytest.mark.parametrize(
    ("code", "kwargs", "message"),
    [
        ("", {}, "empty"),
        ("42060A", {}, "only the digits"),
        ("4206001", {}, "has 7 digits"),
        ("420000", {}, "province code"),
        ("420606000", {}, "must not be 000"),
        ("420600001", {}, "district part"),
        ("420606", {"level": "town"}, "unknown level"),
        ("420606001", {"parent": "420602"}, "does not start with its parent's code '420602'"),
        ("420506", {"parent": "420600"}, "first 4 digits of city '420600'"),
        ("420606001001", {"parent": "420606"}, "cannot be a child of '420606'"),
        (420606, {}, "must be a string"),
    ],
)
def test_malformed_codes_have_clear_reason(code: str, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        validate_code(code, **kwargs)


def test_real_xiangyang_codes() -> None:
    assert level_of("420600") == "city"
    for d in ("420602", "420606", "420607", "420624", "420625", "420626", "420682", "420683",
              "420684"):
        assert validate_code(d, level="district", parent="420600") == "district"
