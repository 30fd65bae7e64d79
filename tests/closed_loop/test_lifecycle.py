"""Lifecycle rules: legal moves, counted kinds, and impossible transitions with reasons."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from etl.lifecycle import STATES, check_transition, label

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 20, 10, tzinfo=TZ)


def test_full_forward_path() -> None:
    state = "reported"
    for nxt in STATES[1:]:
        out = check_transition(state, nxt)
        assert out.ok and out.status == nxt and out.counter is None
        state = nxt
    assert state == "closed"


def test_steps_may_be_skipped_and_repeats_are_unchanged() -> None:
    assert check_transition("reported", "dispatched").status == "dispatched"
    out = check_transition("dispatched", "dispatched")
    assert out.ok and out.unchanged and out.status == "dispatched"


@pytest.mark.parametrize(("current", "update", "kwargs", "reason_part"), [
    ("resolved", "dispatched", {}, "cannot go back"),
    ("closed", "resolved", {}, "case is closed"),
    ("closed", "returned", {}, "case is closed"),
    ("closed", "extended", {"deadline_at": T0}, "case is closed"),
    ("closed", "escalated", {}, "case is closed"),
    ("dispatched", "reopened", {}, "only a closed"),
    ("reported", "returned", {}, "no earlier state"),
    ("dispatched", "returned", {"to_status": "verified"}, "earlier state"),
    ("dispatched", "extended", {}, "needs the new deadline_at"),
    ("dispatched", "extended", {"deadline_at": T0, "current_deadline": T0}, "not later"),
    ("dispatched", "archived", {}, "unknown status"),
    ("closed", "reopened", {"to_status": "closed"}, "must be an open state"),
])
def test_illegal_transitions_are_rejected_with_a_reason(current: str, update: str, kwargs: dict,
                                                        reason_part: str) -> None:
    out = check_transition(current, update, **kwargs)
    assert not out.ok
    assert out.status is None
    assert reason_part in out.reason


def test_return_goes_back_one_step_and_clears_later_stamps() -> None:
    out = check_transition("resolved", "returned")
    assert out.ok and out.status == "dispatched"
    assert out.clear == ("resolved_at", "verified_at", "closed_at")
    out = check_transition("verified", "returned", to_status="accepted")
    assert out.status == "accepted" and "dispatched_at" in out.clear


def test_extension_keeps_state_and_counts() -> None:
    out = check_transition("dispatched", "extended", deadline_at=T0 + timedelta(days=2),
                           current_deadline=T0)
    assert out.ok and out.status == "dispatched" and out.counter == "extended_count"


def test_escalation_counts_level() -> None:
    out = check_transition("accepted", "escalated")
    assert out.ok and out.status == "accepted" and out.counter == "escalation_level"


def test_reopened_case_goes_back_to_dispatch_and_is_counted() -> None:
    out = check_transition("closed", "reopened")
    assert out.ok and out.status == "dispatched" and out.counter == "reopened_count"
    assert out.clear == ("resolved_at", "verified_at", "closed_at")
    # …and may be closed again afterwards.
    assert check_transition(out.status, "closed").status == "closed"


def test_chinese_labels() -> None:
    assert [label(s) for s in STATES] == ["上报", "受理", "派遣", "处置", "核查", "结案"]
    assert [label(k) for k in ("returned", "extended", "escalated", "reopened")] == [
        "回退", "延期", "督办", "重办"]
