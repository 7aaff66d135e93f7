"""When failing health checks degrade the orchestrator and when it is restored (spec.decisions.health)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from spec.decisions.health import HealthWatch
from spec.policies import HealthPolicy

POLICY = HealthPolicy(interval_s=1.0, failures_to_degrade=2)


def test_a_check_degrades_after_its_streak_and_one_pass_restores_it() -> None:
    watch = HealthWatch(POLICY)
    assert not watch.observe({"git": None, "database": None}, 1.0).degraded
    first = watch.observe({"git": "answered HTTP 503", "database": None}, 2.0)
    assert not first.degraded  # one failed round is not yet a streak
    second = watch.observe({"git": "answered HTTP 503", "database": None}, 3.0)
    assert second.degraded and second.degraded_now == ("git",) and second.reason() == "git: answered HTTP 503"
    third = watch.observe({"git": "unreachable (ConnectError)", "database": None}, 4.0)
    assert third.degraded_now == () and third.failing == {"git": "unreachable (ConnectError)"}  # the latest reason
    restored = watch.observe({"git": None, "database": None}, 5.0)
    assert not restored.degraded and restored.restored_now == ("git",)


def test_the_startup_round_degrades_at_once() -> None:
    verdict = HealthWatch(POLICY).observe({"git": "no answer within 5 s"}, 0.0, startup=True)
    assert verdict.degraded and verdict.degraded_now == ("git",)


def test_a_check_no_longer_configured_is_forgotten() -> None:
    watch = HealthWatch(HealthPolicy(failures_to_degrade=1))
    assert watch.observe({"git": "down"}, 1.0).degraded
    verdict = watch.observe({}, 2.0)
    assert not verdict.degraded and verdict.restored_now == ("git",)
    assert watch.next_round_at(2.0) == 2.0 + watch.policy.interval_s


@given(rounds=st.lists(st.booleans(), max_size=30), needed=st.integers(1, 5))
def test_degraded_exactly_when_the_last_rounds_all_failed(rounds: list[bool], needed: int) -> None:
    watch = HealthWatch(HealthPolicy(failures_to_degrade=needed))
    for at, ok in enumerate(rounds):
        verdict = watch.observe({"svc": None if ok else "down"}, float(at))
        streak = 0
        for passed in reversed(rounds[: at + 1]):
            if passed:
                break
            streak += 1
        assert verdict.degraded == (streak >= needed)
