"""Leader election, renewal, step-down and the failover bound (spec.decisions.leadership)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from spec.decisions.leadership import FailoverReplay, LeadershipCore, takeover_due
from spec.machines.leader_election import LEADER_ELECTION, LeaderState, LeaderTrigger
from spec.policies import LeadershipPolicy
from spec.trace import TraceEvent

POLICY = LeadershipPolicy(acquire_interval_s=1.0, renew_interval_s=2.0, lease_s=10.0)
T = LeaderTrigger

policies = st.builds(
    lambda acquire, renew, extra: LeadershipPolicy(acquire_interval_s=acquire, renew_interval_s=renew,
                                                   lease_s=min(600.0, 2 * renew + extra)),
    st.floats(0.001, 60), st.floats(0.001, 60), st.floats(0, 400))


def test_a_standby_tries_at_once_then_every_acquire_interval() -> None:
    core = LeadershipCore(POLICY, now=100.0)
    assert core.next_deadline() == 100.0 and core.state is LeaderState.STANDBY
    assert core.observe_attempt(False, 100.0) is T.LOCK_BUSY
    assert core.next_deadline() == 101.0
    assert core.observe_attempt(True, 101.0) is T.LOCK_ACQUIRED and core.leading
    assert core.next_deadline() == 103.0 and core.lease_deadline() == 111.0


def test_a_leader_renews_and_steps_down_when_the_lock_is_gone() -> None:
    core = LeadershipCore(POLICY, now=0.0)
    core.observe_attempt(True, 0.0)
    assert core.observe_renewal(True, 2.0) is T.LOCK_RENEWED and core.lease_deadline() == 12.0
    assert core.observe_renewal(False, 4.0) is T.LOCK_LOST and core.state is LeaderState.STANDBY
    with pytest.raises(ValueError, match="standby has no lease"):
        core.lease_deadline()


def test_a_leader_that_cannot_confirm_keeps_leading_until_the_lease_ends_exactly() -> None:
    core = LeadershipCore(POLICY, now=0.0)
    core.observe_attempt(True, 0.0)
    assert core.observe_unconfirmed(2.0) is None and core.leading
    assert core.next_deadline() == 4.0
    assert core.observe_unconfirmed(9.999) is None
    assert core.next_deadline() == 10.0  # the lease end caps the next renewal
    assert core.observe_unconfirmed(10.0) is T.LEASE_EXPIRED and not core.leading


def test_a_renewal_answered_after_the_lease_is_a_step_down_even_if_held() -> None:
    core = LeadershipCore(POLICY, now=0.0)
    core.observe_attempt(True, 0.0)
    assert core.observe_renewal(True, 10.0) is T.LEASE_EXPIRED


def test_observations_out_of_state_are_refused_naming_the_state() -> None:
    core = LeadershipCore(POLICY, now=0.0)
    with pytest.raises(ValueError, match="standby cannot renew the lock"):
        core.observe_renewal(True, 1.0)
    assert core.resign() is T.RESIGN
    with pytest.raises(ValueError, match="resigned cannot try the lock"):
        core.observe_attempt(True, 1.0)
    assert core.next_deadline() == float("inf")


def test_the_policy_refuses_a_lease_shorter_than_two_renewals() -> None:
    with pytest.raises(ValidationError, match="lease_s must be at least 2 x renew_interval_s"):
        LeadershipPolicy(renew_interval_s=3.0, lease_s=5.0)
    assert POLICY.failover_bound_s == POLICY.lease_s + POLICY.acquire_interval_s  # the server drops within the lease
    short = LeadershipPolicy(acquire_interval_s=0.1, renew_interval_s=0.2, lease_s=1.0)
    assert short.server_drop_s == 3 and short.failover_bound_s == 3.1  # the keepalive counts whole seconds


@given(policies)
def test_the_server_gives_up_on_a_silent_leader_within_its_lease(policy: LeadershipPolicy) -> None:
    idle, interval, count = policy.server_keepalive()
    assert idle >= 1 and interval >= 1 and count >= 1
    assert idle + interval * count == policy.server_drop_s <= max(policy.lease_s, 3)
    assert policy.failover_bound_s >= max(policy.lease_s, policy.server_drop_s) + policy.acquire_interval_s


@given(policies, st.lists(st.tuples(st.sampled_from(["held", "lost", "silent"]), st.floats(0, 30)), max_size=40))
def test_every_answer_of_the_core_is_legal_on_the_machine_and_the_lease_is_never_exceeded(
        policy: LeadershipPolicy, steps: list[tuple[str, float]]) -> None:
    """Driven by any sequence of answers at its own deadlines (or late), the core fires only legal
    triggers, leads only while its last confirmation is within the lease, and its trace replays."""
    core = LeadershipCore(policy, now=0.0)
    machine = LEADER_ELECTION.bind()
    replay = FailoverReplay(policy)
    now = 0.0
    for answer, late in steps:
        now = max(now, core.next_deadline()) + late * policy.renew_interval_s / 30
        if core.leading:
            trigger = (core.observe_unconfirmed(now) if answer == "silent"
                       else core.observe_renewal(answer == "held", now))
        else:
            trigger = core.observe_attempt(answer == "held", now)
        if trigger is None:
            continue
        machine.fire(trigger)
        assert machine.state == core.state
        assert replay.observe("replica", trigger, now) is None
        if core.leading:
            assert core.confirmed_at is not None and now - core.confirmed_at < policy.lease_s


def _event(component: str, trigger: str, time: float) -> TraceEvent:
    source = "leading" if trigger in (T.LOCK_RENEWED, T.LOCK_LOST, T.LEASE_EXPIRED) else "standby"
    return TraceEvent.from_record(LEADER_ELECTION.record_for(source, trigger), time=time, component=component)


def test_a_standby_that_takes_over_within_the_bound_conforms_and_a_late_one_does_not() -> None:
    def takeover_after(delay_s: float) -> str | None:
        replay = FailoverReplay(POLICY)
        for component, trigger, time in (("a", T.LOCK_BUSY, 0.0), ("a", T.LOCK_ACQUIRED, 1.0),
                                         ("b", T.LOCK_BUSY, 1.5), ("a", T.LOCK_RENEWED, 3.0)):
            assert replay.observe(component, trigger, time) is None
        found = replay.observe("b", T.LOCK_ACQUIRED, 3.0 + delay_s)
        return None if found is None else str(found)

    assert takeover_after(POLICY.failover_bound_s) is None
    late = takeover_after(POLICY.failover_bound_s + 0.5)
    assert late is not None and "b took over from a late" in late


def test_a_replica_started_long_after_the_leader_died_is_not_late() -> None:
    replay = FailoverReplay(POLICY)
    assert replay.observe("a", T.LOCK_ACQUIRED, 0.0) is None
    assert replay.observe("b", T.LOCK_BUSY, 100.0) is None  # b started at 100, after a died
    assert replay.observe("b", T.LOCK_ACQUIRED, 101.0) is None


def test_early_step_down_and_overlong_leading_are_violations() -> None:
    replay = FailoverReplay(POLICY)
    replay.observe("a", T.LOCK_ACQUIRED, 0.0)
    found = replay.observe("a", T.LEASE_EXPIRED, 5.0)
    assert found is not None and "gave up its lease early" in str(found)
    replay.observe("b", T.LOCK_ACQUIRED, 20.0)
    found = replay.observe("b", T.LOCK_RENEWED, 31.0)
    assert found is not None and "kept leading past its lease" in str(found)


def test_the_platform_checker_applies_the_failover_rule() -> None:
    from spec.platform import PLATFORM

    events = [_event("a", T.LOCK_ACQUIRED, 0.0), _event("b", T.LOCK_BUSY, 0.5),
              _event("b", T.LOCK_ACQUIRED, 0.5 + POLICY.failover_bound_s + 5)]
    report = PLATFORM.check_trace(events)
    assert not report.ok and "took over from a late" in report.format()
    assert PLATFORM.check_trace(events[:2]).ok


def test_a_lease_that_ends_exactly_at_its_deadline_is_not_early_in_floating_point() -> None:
    """Regression: hypothesis found the replay computing ``time - confirmed_at`` (4.0009999999999994 -
    2.001 = 1.9999999999999996 < lease_s = 2) where the core had compared ``now >= confirmed_at +
    lease_s`` (equal): the replay now uses the core's own sum."""
    policy = LeadershipPolicy(acquire_interval_s=0.5, renew_interval_s=1.0, lease_s=2.0)
    replay = FailoverReplay(policy)
    assert replay.observe("a", T.LOCK_ACQUIRED, 2.001) is None
    assert replay.observe("a", T.LEASE_EXPIRED, 2.001 + 2.0) is None


def test_a_takeover_is_due_one_bound_after_the_leader_or_after_the_database_returns() -> None:
    """No replica can take a lock the database does not answer for (regression: ``python -m sim fuzz
    --seed 10``, a leader that crashed during a database outage was "taken over late")."""
    policy = LeadershipPolicy()
    bound = policy.failover_bound_s
    assert takeover_due(policy, 62.3, []) == 62.3 + bound
    assert takeover_due(policy, 62.3, [(59.1, 117.9)]) == 117.9 + bound  # down when the leader died
    assert takeover_due(policy, 62.3, [(65.0, 70.0)]) == 70.0 + bound  # down before the takeover was due
    assert takeover_due(policy, 62.3, [(10.0, 20.0), (62.3 + bound, 200.0)]) == 62.3 + bound  # outside it
    assert takeover_due(policy, 62.3, [(70.0 + bound - 1, 90.0), (65.0, 70.0)]) == 90.0 + bound  # one after another


_outages = st.lists(st.tuples(st.floats(0, 300), st.floats(0, 60)).map(lambda w: (w[0], w[0] + w[1])), max_size=5)


@given(st.floats(0, 300), _outages)
def test_a_takeover_is_due_a_full_bound_after_every_outage_that_held_it_up(
        ended_at: float, outages: list[tuple[float, float]]) -> None:
    policy = LeadershipPolicy()
    due = takeover_due(policy, ended_at, outages)
    # The bound runs from the leader's end or from an outage's end, and no outage cuts into it.
    start = next((t for t in [ended_at, *(end for _, end in outages)]
                  if t >= ended_at and math.isclose(t + policy.failover_bound_s, due)), None)
    assert start is not None, "the bound starts at the leader's end or when the database answers again"
    assert not any(s < due and e > start + 1e-9 for s, e in outages), "an outage cuts into the bound"
