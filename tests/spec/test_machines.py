"""Every machine accepts the seed's happy paths, rejects illegal triggers clearly, and stays in its states."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spec import IllegalTransitionError, UnknownTriggerError
from spec.errors import UnknownMachineError
from spec.machine import MachineSpec, StateRole, TransitionRecord, transition
from spec.machines import MACHINES, machine

HAPPY_PATHS: dict[str, tuple[list[str], str]] = {
    "orchestrator_startup": (
        ["start", "config_loaded", "logger_ready", "database_ready", "task_queue_ready", "worker_pool_ready",
         "http_server_ready", "websocket_server_ready", "health_checker_ready", "listening", "websocket_attached",
         "all_healthy"],
        "running",
    ),
    "worker_lifecycle": (
        ["register", "capabilities_accepted", "heartbeat", "poll", "no_task_available", "poll", "task_received",
         "heartbeat", "task_finished", "deregister"],
        "deregistered",
    ),
    "task_lifecycle": (["assign", "start", "progress", "progress", "complete"], "completed"),
    "workflow_lifecycle": (["submit", "task_started", "complete"], "completed"),
    "websocket_session": (["connect", "authenticated", "subscribe", "event", "disconnect"], "closed"),
    "coding_pipeline": (
        ["fetch_issue", "issue_fetched", "analysis_ready", "code_chunk", "code_generated", "build_progress",
         "build_passed", "test_progress", "tests_passed", "branch_created", "committed", "pushed",
         "pull_request_opened"],
        "delivered",
    ),
    "orchestrator_shutdown": (
        ["stop", "queue_paused", "http_draining", "websockets_refused", "workflows_settled", "tasks_still_running",
         "tasks_finished", "notify_clients", "websockets_closed", "http_stopped", "queue_stopped", "database_closed"],
        "stopped",
    ),
    "worker_shutdown": (
        ["stop", "task_in_progress", "task_finished", "deregistered", "cleaned", "services_stopped"], "stopped"),
    "orchestrator_recovery": (["restart", "database_restored", "queue_recovered", "workflows_resumed"], "recovered"),
    "worker_recovery": (["restart", "workspaces_restored", "registered", "interrupted_tasks_resumed"], "recovered"),
    "retry": (["attempt", "fail_retryable", "retry", "fail_retryable", "retry", "succeed"], "succeeded"),
    "rate_limit": (["request", "limited_with_retry_after", "retry", "retry_succeeded"], "succeeded"),
    "auth_error": (["request", "unauthorized", "credentials_provided", "retry_succeeded"], "succeeded"),
    "circuit_breaker": (["admit", "trip", "reject", "probe", "trial_succeeded"], "closed"),
    "alert_rule": (["record", "breach", "sustained", "clear"], "inactive"),
    "config_reload": (["file_changed", "invalid", "file_changed", "applied"], "watching"),
    "leader_election": (["lock_busy", "lock_acquired", "lock_renewed", "lock_lost", "lock_acquired", "resign"],
                        "resigned"),
}

ERROR_PATHS: dict[str, tuple[list[str], str]] = {
    "config error": (["start", "config_failed"], "failed"),
    "database error": (["start", "config_loaded", "logger_ready", "database_attempt_failed",
                        "database_attempt_failed", "database_failed"], "failed"),
    "service error": (["start", "config_loaded", "logger_ready", "database_ready", "task_queue_failed"], "failed"),
}


def test_every_machine_has_a_happy_path_test() -> None:
    assert set(HAPPY_PATHS) == set(MACHINES)


@pytest.mark.parametrize("name", sorted(HAPPY_PATHS))
def test_happy_path(name: str) -> None:
    triggers, final = HAPPY_PATHS[name]
    records: list[TransitionRecord] = []
    instance = MACHINES[name].bind(listener=records.append)
    for trigger in triggers:
        instance.fire(trigger)
    assert instance.state == final
    assert [r.trigger for r in records] == triggers
    assert records[-1].dest == final


@pytest.mark.parametrize("label", sorted(ERROR_PATHS))
def test_startup_error_branches(label: str) -> None:
    triggers, final = ERROR_PATHS[label]
    instance = MACHINES["orchestrator_startup"].bind()
    for trigger in triggers:
        instance.fire(trigger)
    assert instance.state == final
    assert instance.is_finished


def test_illegal_trigger_is_rejected_with_a_readable_error() -> None:
    instance = MACHINES["task_lifecycle"].bind()
    with pytest.raises(IllegalTransitionError) as info:
        instance.fire("complete")
    message = str(info.value)
    assert "task_lifecycle" in message and "'complete'" in message and "'queued'" in message
    assert "assign" in message  # names what would have been legal
    assert instance.state == "queued"


def test_terminal_state_error_says_so() -> None:
    instance = MACHINES["task_lifecycle"].bind(initial="completed")
    with pytest.raises(IllegalTransitionError, match="terminal"):
        instance.fire("complete")


def test_unknown_trigger_lists_declared_triggers() -> None:
    with pytest.raises(UnknownTriggerError, match="declared triggers"):
        MACHINES["retry"].bind().fire("retyr")


def test_unknown_machine_lists_names() -> None:
    with pytest.raises(UnknownMachineError, match="task_lifecycle"):
        machine("nosuch")


def test_bind_uses_the_callers_model() -> None:
    class Task:
        state: str

    task = Task()
    MACHINES["task_lifecycle"].bind(task).fire("assign")
    assert task.state == "assigned"


def test_reflexive_transition_keeps_state_and_is_recorded() -> None:
    records: list[TransitionRecord] = []
    instance = MACHINES["task_lifecycle"].bind(initial="running", listener=records.append)
    record = instance.fire("progress")
    assert instance.state == "running"
    assert record.source == record.dest == "running"
    assert records == [record]


INTERNAL = sorted((name, source, trigger) for name, spec in MACHINES.items() for source, trigger in spec._internal)


@pytest.mark.parametrize(("name", "source", "trigger"), INTERNAL)
def test_internal_transition_shortcut_agrees_with_transitions(name: str, source: str, trigger: str) -> None:
    """``fire`` skips `transitions` for internal transitions; executing them there must be a no-op."""
    instance = MACHINES[name].bind(initial=source)
    event = instance.machine.events[trigger]
    (row,) = event.transitions[source]
    assert row.dest is None  # `transitions`' internal transition: no exit/enter, no state change
    assert not (row.prepare or row.conditions or row.before or row.after)
    machine = instance.machine
    assert not (machine.prepare_event or machine.before_state_change or machine.after_state_change
                or machine.finalize_event or machine.on_exception)
    assert event.trigger(instance.model) is True
    assert instance.state == source
    assert instance.fire(trigger).dest == source == instance.state


def test_every_reflexive_row_is_internal_and_nothing_else_is() -> None:
    for spec in MACHINES.values():
        reflexive = {(s, t.trigger) for t in spec.transitions if t.dest == "=" for s in t.source}
        assert spec._internal == reflexive


def test_invalid_tables_are_rejected() -> None:
    from spec.machine import StateSpec

    states = (StateSpec("a", "A", StateRole.RESTING), StateSpec("b", "B", StateRole.TERMINAL))
    with pytest.raises(ValueError, match="unknown destination"):
        MachineSpec("m", "M", "0", "", states, "a", (transition("go", "a", "c", ""),))
    with pytest.raises(ValueError, match="ambiguous"):
        MachineSpec("m", "M", "0", "", states, "a", (transition("go", "a", "b", ""), transition("go", "a", "a", "")))
    with pytest.raises(ValueError, match="initial"):
        MachineSpec("m", "M", "0", "", states, "z", ())


@settings(max_examples=60, deadline=None)
@given(data=st.data(), name=st.sampled_from(sorted(MACHINES)))
def test_random_trigger_sequences_stay_in_declared_states(data: st.DataObject, name: str) -> None:
    spec = MACHINES[name]
    instance = spec.bind()
    for _ in range(data.draw(st.integers(0, 30))):
        trigger = data.draw(st.sampled_from(spec.triggers))
        if instance.can_fire(trigger):
            expected = spec.next_state(instance.state, trigger)
            instance.fire(trigger)
            assert instance.state == expected
        else:
            before = instance.state
            with pytest.raises(IllegalTransitionError):
                instance.fire(trigger)
            assert instance.state == before
        assert instance.state in spec.state_names
