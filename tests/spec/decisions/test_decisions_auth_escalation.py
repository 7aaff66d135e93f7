"""Repeated authentication failures (spec.decisions.auth_escalation)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spec.decisions.auth_escalation import REPEATED_AUTH_FAILURES, AuthFailureStreak


@given(st.lists(st.booleans(), max_size=40), st.integers(min_value=1, max_value=5))
def test_a_streak_escalates_once_when_it_reaches_the_threshold(outcomes: list[bool], threshold: int) -> None:
    """True = rejected, False = accepted: escalations are exactly the streaks that reach the threshold."""
    streak = AuthFailureStreak(threshold)
    escalations = 0
    for rejected in outcomes:
        if rejected:
            escalations += streak.failed()
        else:
            streak.succeeded()
    runs, current = [], 0
    for rejected in [*outcomes, False]:
        if rejected:
            current += 1
        else:
            runs.append(current)
            current = 0
    assert escalations == sum(1 for run in runs if run >= threshold)


def test_the_second_rejection_in_a_row_is_repeated() -> None:
    streak = AuthFailureStreak()
    assert REPEATED_AUTH_FAILURES == 2
    assert not streak.failed() and streak.failed() and not streak.failed()
    streak.succeeded()
    assert streak.count == 0 and not streak.failed()
    with pytest.raises(ValueError, match="threshold"):
        AuthFailureStreak(0)
