"""Administrative codes of the five-level hierarchy 市 → 区县 → 街道 → 社区 → 网格.

Codes are digit strings whose prefix is the parent's code, so roll-ups are prefix group-bys:
city ``420600`` (6 digits ending ``00``, GB/T 2260), district ``420606`` (6 digits, same first
four as its city), street 9 digits, community 12 digits (statistical zoning code 6+3+3), grid
15 digits (community code + a 3-digit sequence).
"""

from __future__ import annotations

LEVELS: tuple[str, ...] = ("city", "district", "street", "community", "grid")
LEVEL_NAMES_ZH: dict[str, str] = {
    "city": "市", "district": "区县", "street": "街道", "community": "社区", "grid": "网格",
}
CODE_LENGTHS: dict[str, int] = {"district": 6, "street": 9, "community": 12, "grid": 15}
_LENGTH_LEVEL = {9: "street", 12: "community", 15: "grid"}


def _shape_level(code: str) -> str:
    """The level a well-formed code belongs to, or ValueError saying what is wrong."""
    if not isinstance(code, str):
        raise ValueError(f"code must be a string of digits, got {type(code).__name__}")
    if not code:
        raise ValueError("code is empty")
    if not code.isascii() or not code.isdigit():
        raise ValueError(f"code {code!r} must contain only the digits 0-9")
    n = len(code)
    if n == 6:
        if code[2:4] == "00":
            raise ValueError(
                f"code {code!r} is a province code (digits 3-4 are 00); expected a city or district"
            )
        return "city" if code.endswith("00") else "district"
    level = _LENGTH_LEVEL.get(n)
    if level is None:
        raise ValueError(
            f"code {code!r} has {n} digits; expected 6 (city/district), 9 (street), "
            "12 (community) or 15 (grid)"
        )
    if code[-3:] == "000":
        raise ValueError(f"code {code!r}: the {level} sequence (last 3 digits) must not be 000")
    if code[4:6] == "00":
        raise ValueError(f"code {code!r}: its district part {code[:6]!r} ends in 00")
    return level


def level_of(code: str) -> str:
    """The level (city, district, street, community, grid) of a code; ValueError if malformed."""
    return _shape_level(code)


def parent_of(code: str) -> str | None:
    """The parent's code (None for a city); ValueError if the code is malformed."""
    level = _shape_level(code)
    if level == "city":
        return None
    if level == "district":
        return code[:4] + "00"
    return code[: len(code) - 3]


def child_level(level: str) -> str | None:
    """The level below ``level`` (None below grid)."""
    i = LEVELS.index(level)
    return LEVELS[i + 1] if i + 1 < len(LEVELS) else None


def validate_code(code: str, level: str | None = None, parent: str | None = None) -> str:
    """Check a code (and optionally its level and parent); return its level or raise ValueError."""
    actual = _shape_level(code)
    if level is not None:
        if level not in LEVELS:
            raise ValueError(f"unknown level {level!r}; expected one of {', '.join(LEVELS)}")
        if actual != level:
            raise ValueError(f"code {code!r} is a {actual} code, not a {level} code "
                             f"({_expected_shape(level)})")
    if parent is not None:
        parent_level = _shape_level(parent)
        expected = parent_of(code)
        if expected != parent:
            if child_level(parent_level) != actual:
                raise ValueError(f"code {code!r} ({actual}) cannot be a child of {parent!r} "
                                 f"({parent_level})")
            raise ValueError(f"code {code!r} does not start with its parent's code {parent!r}"
                             if actual != "district" else
                             f"district {code!r} does not share the first 4 digits of city "
                             f"{parent!r}")
    return actual


def _expected_shape(level: str) -> str:
    if level == "city":
        return "6 digits ending in 00"
    return f"{CODE_LENGTHS[level]} digits"


def make_child_code(parent: str, seq: int) -> str:
    """The code of the ``seq``-th child (1-based) of ``parent``."""
    level = _shape_level(parent)
    if level == "city":
        if not 1 <= seq <= 99:
            raise ValueError(f"district sequence {seq} out of range 1..99")
        return parent[:4] + f"{seq:02d}"
    if level == "grid":
        raise ValueError("grids have no children")
    if not 1 <= seq <= 999:
        raise ValueError(f"sequence {seq} out of range 1..999")
    return parent + f"{seq:03d}"
