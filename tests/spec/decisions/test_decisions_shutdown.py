"""The shutdown drain core (`spec.decisions.shutdown`): when a graceful shutdown stops waiting."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spec.decisions.shutdown import ORCHESTRATOR_DRAIN, WORKER_DRAIN, DrainReplay, DrainTriggers, ShutdownDrain
from spec.machines import ORCHESTRATOR_SHUTDOWN, WORKER_SHUTDOWN
from spec.machines.shutdown import OrchestratorShutdownTrigger as OT
from spec.machines.shutdown import WorkerShutdownTrigger as KT
from spec.policies import ShutdownPolicy

SECONDS = st.floats(min_value=0.05, max_value=100, allow_nan=False, allow_infinity=False)
MACHINES = {ORCHESTRATOR_DRAIN.machine: ORCHESTRATOR_SHUTDOWN, WORKER_DRAIN.machine: WORKER_SHUTDOWN}
#: The triggers that bring each machine to the state where the wait begins.
BEFORE_WAIT = {
    ORCHESTRATOR_DRAIN.machine: (OT.STOP, OT.QUEUE_PAUSED, OT.HTTP_DRAINING, OT.WEBSOCKETS_REFUSED,
                                 OT.WORKFLOWS_SETTLED),
    WORKER_DRAIN.machine: (KT.STOP,),
}


def drive(triggers: DrainTriggers, policy: ShutdownPolicy, running: list[int], began: float = 0.0
          ) -> list[tuple[float, str | None, bool, bool]]:
    """A driver that looks exactly when the core asks; `running[i]` is the work at the i-th look
    (the last value repeats)."""
    drain = ShutdownDrain(triggers, policy, began=began)
    now, looks = began, []
    for i in range(10_000):
        decision = drain.observe(running[min(i, len(running) - 1)], now)
        looks.append((now, decision.trigger, decision.cancel, decision.take_back))
        if decision.wake_at is None:
            return looks
        assert decision.wake_at >= now
        now = decision.wake_at
    raise AssertionError("the wait never ended")


@given(drain_s=SECONDS, check_s=SECONDS, grace_s=SECONDS, worker_s=SECONDS,
       running=st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=30),
       which=st.sampled_from([ORCHESTRATOR_DRAIN, WORKER_DRAIN]))
def test_the_wait_is_a_legal_path_and_never_outlasts_deadline_plus_grace(
    drain_s: float, check_s: float, grace_s: float, worker_s: float, running: list[int], which: DrainTriggers
) -> None:
    policy = ShutdownPolicy(drain_deadline_s=drain_s, check_interval_s=check_s, cancel_grace_s=grace_s,
                            worker_task_deadline_s=worker_s)
    deadline_s = float(getattr(policy, which.deadline_field))
    looks = drive(which, policy, running, began=10.0)
    machine = MACHINES[which.machine].bind()
    for trigger in BEFORE_WAIT[which.machine]:
        machine.fire(trigger)
    for _, trigger, _, _ in looks:
        if trigger is not None:
            machine.fire(trigger)  # raises on an illegal trigger
    end, last, _, _ = looks[-1]
    assert end <= 10.0 + deadline_s + grace_s + 1e-9
    assert last in (which.idle_at_once, which.settled, which.interrupted)
    fired = [(t, trigger) for t, trigger, _, _ in looks if trigger == which.deadline_reached]
    if fired:  # on time: exactly at the deadline, never a check interval late
        assert fired == [(pytest.approx(10.0 + deadline_s), which.deadline_reached)]
        assert [cancel for _, trigger, cancel, _ in looks if trigger == which.deadline_reached] == [True]
    else:
        assert not any(cancel for _, _, cancel, _ in looks)
    assert not any(take_back for *_, take_back in looks[:-1]), "work is taken back only when the wait ends"


def test_a_check_interval_that_does_not_divide_the_deadline_still_stops_on_time() -> None:
    """Regression (issue 11): the simulator slept whole check intervals, so with a 0.7 s check it
    reached a 1.0 s deadline at 1.4 s; the runtime capped its sleep at the deadline."""
    policy = ShutdownPolicy(drain_deadline_s=1.0, check_interval_s=0.7, cancel_grace_s=0.5)
    looks = drive(ORCHESTRATOR_DRAIN, policy, [1])
    assert [(t, trigger) for t, trigger, _, _ in looks] == [
        (0.0, OT.TASKS_STILL_RUNNING), (0.7, OT.TASKS_STILL_RUNNING), (1.0, OT.DRAIN_DEADLINE_REACHED),
        (1.5, OT.TASKS_INTERRUPTED),
    ]
    assert looks[-1][3], "what still runs after the grace is taken back"


def test_work_that_stops_during_the_grace_ends_the_wait_without_taking_back() -> None:
    policy = ShutdownPolicy(drain_deadline_s=1.0, check_interval_s=1.0, cancel_grace_s=5.0)
    looks = drive(ORCHESTRATOR_DRAIN, policy, [2, 2, 0])
    assert [(t, trigger, take_back) for t, trigger, _, take_back in looks] == [
        (0.0, OT.TASKS_STILL_RUNNING, False), (1.0, OT.DRAIN_DEADLINE_REACHED, False),
        (2.0, OT.TASKS_INTERRUPTED, False),
    ]


def test_a_worker_fires_task_in_progress_once_then_waits_silently() -> None:
    policy = ShutdownPolicy(worker_task_deadline_s=2.5, check_interval_s=1.0, cancel_grace_s=1.0)
    looks = drive(WORKER_DRAIN, policy, [1, 1, 1, 0])
    assert [(t, trigger) for t, trigger, _, _ in looks] == [
        (0.0, KT.TASK_IN_PROGRESS), (1.0, None), (2.0, None), (2.5, KT.TASK_FINISHED)]
    assert drive(WORKER_DRAIN, policy, [0]) == [(0.0, KT.NO_CURRENT_TASK, False, False)]


def test_observing_after_the_end_is_refused() -> None:
    drain = ShutdownDrain(ORCHESTRATOR_DRAIN, began=0.0)
    assert drain.observe(0, 0.0).done
    with pytest.raises(ValueError, match="over"):
        drain.observe(0, 1.0)


@given(drain_s=SECONDS, check_s=SECONDS, grace_s=SECONDS,
       running=st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=30),
       which=st.sampled_from([ORCHESTRATOR_DRAIN, WORKER_DRAIN]))
def test_every_wait_the_core_drives_passes_its_replay(
    drain_s: float, check_s: float, grace_s: float, running: list[int], which: DrainTriggers
) -> None:
    policy = ShutdownPolicy(drain_deadline_s=drain_s, check_interval_s=check_s, cancel_grace_s=grace_s,
                            worker_task_deadline_s=drain_s)
    replay = DrainReplay(which, policy, tolerance_s=1e-9)
    for time, trigger, _, _ in drive(which, policy, running, began=5.0):
        if trigger is not None:
            assert replay.observe(trigger, time) is None


def _replay(events: list[tuple[str, float]], tolerance_s: float = 0.1) -> list[str]:
    policy = ShutdownPolicy(drain_deadline_s=1.0, check_interval_s=0.7, cancel_grace_s=0.5)
    replay = DrainReplay(ORCHESTRATOR_DRAIN, policy, tolerance_s)
    return [found[2] for trigger, time in events if (found := replay.observe(trigger, time)) is not None]


def test_the_replay_catches_an_early_cancellation_a_late_deadline_and_a_grace_overrun() -> None:
    # drain 1.0 s, checks every 0.7 s, grace 0.5 s, tolerance 0.1 s: one look's latency is allowed
    on_time = [(OT.TASKS_STILL_RUNNING, 0.0), (OT.TASKS_STILL_RUNNING, 0.7), (OT.DRAIN_DEADLINE_REACHED, 1.0),
               (OT.TASKS_INTERRUPTED, 1.5)]
    assert _replay(on_time) == []
    assert _replay([(OT.TASKS_STILL_RUNNING, 0.0), (OT.DRAIN_DEADLINE_REACHED, 1.4)]) == []  # one look late
    assert _replay([(OT.TASKS_STILL_RUNNING, 0.0), (OT.DRAIN_DEADLINE_REACHED, 0.5)]) == [
        "the shutdown cancelled running work before its deadline"]
    assert _replay([(OT.TASKS_STILL_RUNNING, 0.0), (OT.DRAIN_DEADLINE_REACHED, 2.0)]) == [
        "the shutdown declared its deadline late"]
    assert _replay([(OT.TASKS_STILL_RUNNING, 0.0), (OT.TASKS_STILL_RUNNING, 1.9)]) == [
        "the shutdown kept waiting past its deadline"]
    assert _replay([*on_time[:3], (OT.TASKS_INTERRUPTED, 2.5)]) == ["the shutdown waited longer than its grace"]
