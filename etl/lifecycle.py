"""The case lifecycle (闭环): states, transition kinds and the one rule that checks an update.

上报 reported → 受理 accepted → 派遣 dispatched → 处置 resolved → 核查 verified → 结案 closed,
plus 回退 returned (back to an earlier state), 延期 extended (deadline moved, counted),
督办 escalated (escalation level raised) and 重办 reopened (a closed case opened again, counted).

`check_transition` is pure (no database): the ETL calls it for every status update and either
applies the returned `Outcome` or rejects the row with `Outcome.reason`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

STATES: tuple[str, ...] = ("reported", "accepted", "dispatched", "resolved", "verified", "closed")
KINDS: tuple[str, ...] = ("returned", "extended", "escalated", "reopened")
OPEN_STATES: frozenset[str] = frozenset(STATES[:-1])

STATE_LABELS: dict[str, str] = {
    "reported": "上报",
    "accepted": "受理",
    "dispatched": "派遣",
    "resolved": "处置",
    "verified": "核查",
    "closed": "结案",
}
KIND_LABELS: dict[str, str] = {
    "returned": "回退",
    "extended": "延期",
    "escalated": "督办",
    "reopened": "重办",
}
LABELS: dict[str, str] = {**STATE_LABELS, **KIND_LABELS}

# The event column stamped when a case enters each state.
STATE_COLUMNS: dict[str, str] = {s: f"{s}_at" for s in STATES}

# The event counter each counted kind bumps.
COUNTERS: dict[str, str] = {
    "extended": "extended_count",
    "escalated": "escalation_level",
    "reopened": "reopened_count",
}

# 重办 sends the case back to dispatch for rework unless the update says otherwise.
REOPEN_DEFAULT = "dispatched"


@dataclass(frozen=True)
class Outcome:
    """The result of checking one update against a case's current state.

    ``ok`` False means reject the update with ``reason``. Otherwise ``status`` is the case's
    state afterwards, ``counter`` names the event column to increment (or None), ``clear``
    lists the state timestamps to reset (states the case has to pass through again) and
    ``unchanged`` marks an exact repeat of the current state (recorded, changes nothing).
    """

    ok: bool
    status: str | None = None
    counter: str | None = None
    clear: tuple[str, ...] = ()
    unchanged: bool = False
    reason: str | None = None


def label(name: str) -> str:
    """Chinese label of a state or transition kind (the name itself when unknown)."""
    return LABELS.get(name, name)


def _reject(reason: str) -> Outcome:
    return Outcome(ok=False, reason=reason)


def _later_columns(state: str) -> tuple[str, ...]:
    """Timestamps of the states after ``state``: a case sent back must earn them again."""
    return tuple(STATE_COLUMNS[s] for s in STATES[STATES.index(state) + 1:])


def check_transition(
    current: str,
    update: str,
    *,
    to_status: str | None = None,
    deadline_at: datetime | None = None,
    current_deadline: datetime | None = None,
) -> Outcome:
    """Check one update (a state or a transition kind) against the case's ``current`` state.

    - a state later than the current one moves the case forward (steps may be skipped: many
      systems accept and dispatch in one go); the same state is an unchanged repeat; an
      earlier state, or anything after 结案 other than 重办, is rejected;
    - ``returned`` goes back one step, or to ``to_status`` when given (must be earlier);
    - ``extended`` needs a new ``deadline_at`` later than ``current_deadline``;
    - ``escalated`` raises the escalation level of an open case;
    - ``reopened`` opens a closed case again, at ``to_status`` (default dispatched).
    """
    if current not in STATES:
        return _reject(f"case has unknown status {current!r}")
    if update in STATES:
        return _check_move(current, update)
    if update not in KINDS:
        return _reject(f"unknown status {update!r}; expected one of {', '.join(STATES + KINDS)}")
    if update == "reopened":
        return _check_reopen(current, to_status)
    if current == "closed":
        return _reject(f"case is closed (结案): {label(update)} {update} is not possible; "
                       "reopen it first (reopened 重办)")
    if update == "returned":
        return _check_return(current, to_status)
    if update == "extended":
        return _check_extension(current, deadline_at, current_deadline)
    return Outcome(ok=True, status=current, counter=COUNTERS["escalated"])


def _check_move(current: str, target: str) -> Outcome:
    here, there = STATES.index(current), STATES.index(target)
    if there == here:
        return Outcome(ok=True, status=current, unchanged=True)
    if current == "closed":
        return _reject(f"case is closed (结案): cannot move to {target} ({label(target)}); "
                       "reopen it first (reopened 重办)")
    if there < here:
        return _reject(f"cannot go back from {current} ({label(current)}) to {target} "
                       f"({label(target)}) by a status update; send it back with 'returned' (回退)")
    return Outcome(ok=True, status=target)


def _check_return(current: str, to_status: str | None) -> Outcome:
    here = STATES.index(current)
    if here == 0:
        return _reject("a reported (上报) case has no earlier state to return (回退) to")
    target = to_status or STATES[here - 1]
    if target not in STATES:
        return _reject(f"returned (回退) to unknown status {target!r}")
    if STATES.index(target) >= here:
        return _reject(f"returned (回退) must go to an earlier state than {current} "
                       f"({label(current)}), not {target} ({label(target)})")
    return Outcome(ok=True, status=target, clear=_later_columns(target))


def _check_extension(current: str, deadline_at: datetime | None,
                     current_deadline: datetime | None) -> Outcome:
    if deadline_at is None:
        return _reject("extended (延期) needs the new deadline_at")
    if current_deadline is not None and deadline_at <= current_deadline:
        return _reject(f"extended (延期) deadline {deadline_at.isoformat()} is not later than "
                       f"the current one {current_deadline.isoformat()}")
    return Outcome(ok=True, status=current, counter=COUNTERS["extended"])


def _check_reopen(current: str, to_status: str | None) -> Outcome:
    if current != "closed":
        return _reject(f"only a closed (结案) case can be reopened (重办); this one is "
                       f"{current} ({label(current)})")
    target = to_status or REOPEN_DEFAULT
    if target not in OPEN_STATES:
        return _reject(f"reopened (重办) to {target!r}: must be an open state")
    return Outcome(ok=True, status=target, counter=COUNTERS["reopened"],
                   clear=_later_columns(target))
