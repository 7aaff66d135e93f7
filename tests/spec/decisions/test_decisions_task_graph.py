"""`spec.decisions.task_graph`: which DAGs are accepted, and what each outcome releases, skips or cancels."""

from __future__ import annotations

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spec.decisions.task_graph import (
    FailurePolicy,
    TaskGraph,
    TaskGraphError,
    WorkflowTasks,
    interrupted_trigger,
    lease_end_trigger,
    validate_graph,
)
from spec.machines import TASK_LIFECYCLE
from spec.machines.task_lifecycle import TaskState, TaskTrigger
from spec.machines.workflow_lifecycle import WorkflowTrigger

S = TaskState


@st.composite
def dags(draw: st.DrawFn, max_size: int = 12) -> list[tuple[str, list[str]]]:
    """Random acyclic graphs: each task depends only on tasks listed before it."""
    n = draw(st.integers(1, max_size))
    tasks: list[tuple[str, list[str]]] = []
    for i in range(n):
        needs = draw(st.lists(st.integers(0, i - 1), unique=True, max_size=3)) if i else []
        tasks.append((f"t{i}", [f"t{j}" for j in needs]))
    return draw(st.permutations(tasks))


@given(dags())
def test_every_dag_is_accepted_with_its_edges(tasks: list[tuple[str, list[str]]]) -> None:
    graph = validate_graph(tasks, max_tasks=len(tasks))
    assert graph.tasks == tuple(t for t, _ in tasks)
    for task, needs in tasks:
        assert graph.depends_on[task] == tuple(needs)
        assert all(task in graph.dependents[n] for n in needs)
        assert graph.initial_state(task) == (S.BLOCKED if needs else S.QUEUED)


@given(dags(), st.data())
def test_a_back_edge_is_refused_naming_a_task_on_the_cycle(tasks: list[tuple[str, list[str]]], data: st.DataObject
                                                           ) -> None:
    edges = nx.DiGraph([(n, t) for t, needs in tasks for n in needs])  # need -> task
    edges.add_nodes_from(t for t, _ in tasks)
    # b is reachable from a (or is a): "a depends on b" closes a cycle
    a, b = data.draw(st.sampled_from([(a, b) for a in edges for b in edges if a == b or nx.has_path(edges, a, b)]))
    cyclic = [(t, [*needs, b] if t == a else needs) for t, needs in tasks]
    with pytest.raises(TaskGraphError) as caught:
        validate_graph(cyclic, max_tasks=len(tasks))
    index = int(caught.value.field.split(".")[1])
    assert caught.value.field == f"tasks.{index}.dependsOn" and "cycle" in caught.value.reason
    named = cyclic[index][0]
    assert caught.value.task_id == named
    looped = nx.DiGraph([(n, t) for t, needs in cyclic for n in needs])
    assert any(named in cycle for cycle in nx.simple_cycles(looped))


@pytest.mark.parametrize(("tasks", "field"), [
    ([("a", []), ("a", [])], "tasks.1.id"),
    ([("a", ["z"])], "tasks.0.dependsOn"),
    ([("a", []), ("b", ["a", "a"])], "tasks.1.dependsOn"),
    ([("a", ["a"])], "tasks.0.dependsOn"),
    ([("a", []), ("b", []), ("c", [])], "tasks"),
])
def test_problems_are_refused_with_their_field(tasks: list[tuple[str, list[str]]], field: str) -> None:
    with pytest.raises(TaskGraphError) as caught:
        validate_graph(tasks, max_tasks=2)
    assert caught.value.field == field
    assert str(caught.value).startswith(field)


def _run(tasks: list[tuple[str, list[str]]], outcomes: dict[str, str], policy: FailurePolicy
         ) -> tuple[dict[str, str], list[WorkflowTrigger]]:
    """Drive `WorkflowTasks` as the store does: lease every queued task, settle it per `outcomes`."""
    graph = validate_graph(tasks, max_tasks=len(tasks))
    tracker = WorkflowTasks(graph, {t: graph.initial_state(t) for t in graph.tasks}, policy)
    workflow: list[WorkflowTrigger] = []
    while not workflow or workflow[-1] not in (WorkflowTrigger.COMPLETE, WorkflowTrigger.FAIL):
        queued = [t for t, s in tracker.states.items() if s == S.QUEUED]
        if not queued:
            break
        for t in queued:
            tracker.states[t] = S.RUNNING
        for t in queued:
            if tracker.states[t] != S.RUNNING:
                continue
            settlement = tracker.settled(t, outcomes.get(t, S.COMPLETED))
            for released in settlement.release:
                assert all(tracker.states[n] == S.COMPLETED for n in graph.depends_on[released])
            for interrupted in settlement.interrupt:
                tracker.states[interrupted] = S.CANCELLED  # its worker stops it
            if settlement.workflow is not None:
                workflow.append(settlement.workflow)
                break
    return tracker.states, workflow


@settings(max_examples=200)
@given(dags(), st.data())
def test_finish_independent_runs_exactly_what_does_not_depend_on_a_failure(
    tasks: list[tuple[str, list[str]]], data: st.DataObject
) -> None:
    failing = set(data.draw(st.lists(st.sampled_from([t for t, _ in tasks]), unique=True)))
    states, workflow = _run(tasks, dict.fromkeys(failing, S.FAILED), FailurePolicy.FINISH_INDEPENDENT)
    edges = nx.DiGraph([(n, t) for t, needs in tasks for n in needs])
    edges.add_nodes_from(t for t, _ in tasks)
    ran = {t for t in edges if not any(a in failing for a in nx.ancestors(edges, t))}
    assert {t for t, s in states.items() if s in (S.COMPLETED, S.FAILED)} == ran
    assert {t for t, s in states.items() if s == S.SKIPPED} == set(edges) - ran
    assert workflow == [WorkflowTrigger.FAIL if failing & ran else WorkflowTrigger.COMPLETE]


@settings(max_examples=200)
@given(dags(), st.data())
def test_fail_fast_ends_the_workflow_at_the_first_failure(tasks: list[tuple[str, list[str]]], data: st.DataObject
                                                          ) -> None:
    failing = set(data.draw(st.lists(st.sampled_from([t for t, _ in tasks]), unique=True)))
    states, workflow = _run(tasks, dict.fromkeys(failing, S.FAILED), FailurePolicy.FAIL_FAST)
    assert all(TASK_LIFECYCLE.state(s).role.value == "terminal" for s in states.values())
    if failing:
        assert workflow == [WorkflowTrigger.FAIL]
        assert sum(s == S.FAILED for s in states.values()) >= 1
        assert S.SKIPPED not in states.values()
    else:
        assert workflow == [WorkflowTrigger.COMPLETE] and set(states.values()) == {S.COMPLETED}


def test_cancel_cancels_waiting_tasks_and_interrupts_leased_ones() -> None:
    graph = TaskGraph.of({"a": [], "b": ["a"], "c": [], "d": []})
    tracker = WorkflowTasks(graph, {"a": S.RUNNING, "b": S.BLOCKED, "c": S.QUEUED, "d": S.ASSIGNED},
                            FailurePolicy.FINISH_INDEPENDENT)
    settlement = tracker.cancel()
    assert settlement.workflow is WorkflowTrigger.CANCEL
    assert set(settlement.cancel) == {"b", "c"} and set(settlement.interrupt) == {"a", "d"}


def test_a_completion_releases_only_dependents_whose_every_dependency_completed() -> None:
    graph = TaskGraph.of({"a": [], "b": [], "c": ["a", "b"], "d": ["a"]})
    tracker = WorkflowTasks(graph, {"a": S.RUNNING, "b": S.RUNNING, "c": S.BLOCKED, "d": S.BLOCKED},
                            FailurePolicy.FAIL_FAST)
    assert tracker.settled("a", S.COMPLETED).release == ("d",)
    assert tracker.settled("b", S.COMPLETED).release == ("c",)


def test_a_lease_ending_after_the_workflow_is_over_cancels_the_task() -> None:
    assert lease_end_trigger(True) is TaskTrigger.LEASE_LOST and lease_end_trigger(False) is TaskTrigger.ABANDON
    assert interrupted_trigger(True) is TaskTrigger.REQUEUE and interrupted_trigger(False) is TaskTrigger.CANCEL
    for state in (S.ASSIGNED, S.RUNNING):
        assert TASK_LIFECYCLE.next_state(state, lease_end_trigger(False)) == S.CANCELLED
    assert TASK_LIFECYCLE.next_state(S.INTERRUPTED, interrupted_trigger(False)) == S.CANCELLED
