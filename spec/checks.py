"""Graph checks over the machine tables (networkx), run by ``python -m spec check`` and the tests.

These are the properties that make the machines safe to execute and to draw:

* every state is reachable from the initial state;
* every state can reach a terminal or resting state, unless it is marked a trap;
* terminal states have no way out;
* every message names a declared participant;
* the service start order is the unique topological order of the declared dependency graph,
  equals the seed's order, and the startup machine initialises services in exactly that order;
* every story replays on its machines (no skipped states, no illegal triggers).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import networkx as nx

from spec.errors import SpecError
from spec.machine import MachineSpec, StateRole
from spec.participants import Participant, is_declared
from spec.services import SEED_SERVICE_ORDER, startup_order
from spec.story import Story, iter_steps, replay_story


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    problems: tuple[str, ...] = ()


@dataclass
class CheckReport:
    results: list[CheckResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def problems(self) -> list[str]:
        return [f"{r.name}: {p}" for r in self.results for p in r.problems]

    def format(self) -> str:
        lines = []
        for r in self.results:
            lines.append(f"{'PASS' if r.ok else 'FAIL'}  {r.name}")
            lines.extend(f"      - {p}" for p in r.problems)
        lines.extend(f"note  {n}" for n in self.notes)
        failed = sum(1 for r in self.results if not r.ok)
        lines.append(f"{len(self.results) - failed} passed, {failed} failed")
        return "\n".join(lines)


def machine_graph(machine: MachineSpec) -> nx.MultiDiGraph:
    """States as nodes, one edge per (source, trigger), reflexive transitions as self-loops."""
    graph = nx.MultiDiGraph(name=machine.name)
    graph.add_nodes_from(machine.state_names)
    for t in machine.transitions:
        for source in t.source:
            graph.add_edge(source, t.destination_from(source), key=t.trigger)
    return graph


def check_reachability(machine: MachineSpec) -> CheckResult:
    graph = machine_graph(machine)
    reachable = nx.descendants(graph, machine.initial) | {machine.initial}
    missing = [s for s in machine.state_names if s not in reachable]
    return CheckResult(
        f"{machine.name}: every state reachable from {machine.initial!r}",
        not missing,
        tuple(f"state {s!r} is unreachable" for s in missing),
    )


def check_progress(machine: MachineSpec) -> CheckResult:
    graph = machine_graph(machine)
    goals = {s.name for s in machine.states if s.role in (StateRole.TERMINAL, StateRole.RESTING)}
    problems = []
    for state in machine.states:
        if state.role in (StateRole.TERMINAL, StateRole.RESTING, StateRole.TRAP):
            continue
        if not (nx.descendants(graph, state.name) & goals):
            problems.append(f"state {state.name!r} cannot reach a terminal or resting state (mark it TRAP if meant)")
    for state in machine.states:
        if state.role is StateRole.TERMINAL and graph.out_degree(state.name):
            problems.append(f"terminal state {state.name!r} has transitions: {machine.allowed_triggers(state.name)}")
    return CheckResult(f"{machine.name}: every state can finish or rest", not problems, tuple(sorted(set(problems))))


def check_participants(machine: MachineSpec, declared: Callable[[Participant], bool] = is_declared) -> CheckResult:
    """Every message names a participant the catalogue declares (default: the platform's)."""
    problems = []
    for t in machine.transitions:
        for m in t.messages:
            for p in (m.sender, m.receiver):
                if not declared(p):
                    problems.append(f"{t.trigger}: message {m.label!r} names undeclared participant {p.id!r}")
    return CheckResult(f"{machine.name}: messages name declared participants", not problems, tuple(problems))


def machine_checks(machine: MachineSpec, declared: Callable[[Participant], bool] = is_declared) -> list[CheckResult]:
    """The checks every machine of any catalogue must pass."""
    return [check_reachability(machine), check_progress(machine), check_participants(machine, declared)]


def story_checks(
    stories: Mapping[str, Story], machines: Mapping[str, MachineSpec]
) -> tuple[list[CheckResult], list[str]]:
    """The stories' check, and a note listing transitions no story draws (informational)."""
    undrawn = undrawn_transitions(stories, machines)
    notes = [f"{len(undrawn)} transitions appear only in state diagrams: {', '.join(undrawn)}"] if undrawn else []
    return [check_stories(stories, machines)], notes


def check_service_order(machines: Mapping[str, MachineSpec]) -> CheckResult:
    problems: list[str] = []
    try:
        order = startup_order()
    except SpecError as exc:
        return CheckResult("service start order", False, (str(exc),))
    if order != SEED_SERVICE_ORDER:
        problems.append(
            f"dependency order {' -> '.join(order)} differs from the seed's {' -> '.join(SEED_SERVICE_ORDER)}"
        )
    startup = machines.get("orchestrator_startup")
    if startup is None:
        problems.append("no orchestrator_startup machine")
    else:
        path_services = _services_along_happy_path(startup)
        if tuple(path_services) != order:
            problems.append(f"startup machine initialises {' -> '.join(path_services)}, expected {' -> '.join(order)}")
    return CheckResult("service start order is the dependency graph's topological order", not problems,
                       tuple(problems))


def _services_along_happy_path(startup: MachineSpec) -> list[str]:
    graph = machine_graph(startup)
    path = nx.shortest_path(graph, startup.initial, "running")
    return [svc for svc in (startup.state(s).service for s in path) if svc is not None]


def check_stories(stories: Mapping[str, Story], machines: Mapping[str, MachineSpec]) -> CheckResult:
    problems = []
    for story in stories.values():
        try:
            replay_story(story, machines)
        except SpecError as exc:
            problems.append(str(exc))
    return CheckResult("every sequence story replays on its machines", not problems, tuple(problems))


def undrawn_transitions(stories: Mapping[str, Story], machines: Mapping[str, MachineSpec]) -> list[str]:
    """Transitions that appear in state diagrams but in no sequence diagram (informational)."""
    drawn = {(s.machine, s.trigger) for story in stories.values() for s in iter_steps(story.items)}
    return [
        f"{m.name}.{t.trigger}" for m in machines.values() for t in m.transitions if (m.name, t.trigger) not in drawn
    ]


def run_checks(
    machines: Mapping[str, MachineSpec] | None = None, stories: Mapping[str, Story] | None = None
) -> CheckReport:
    """The platform's checks, service start order included; given other machines or stories, only
    the checks every catalogue passes (a whole catalogue of your own: `spec.Spec.check`)."""
    platform = machines is None
    if machines is None:
        from spec.machines import MACHINES

        machines = MACHINES
    if stories is None:
        from spec.sequences import STORIES

        stories = STORIES
    report = CheckReport()
    for machine in machines.values():
        report.results.extend(machine_checks(machine))
    results, notes = story_checks(stories, machines)
    report.results.extend(results)
    if platform:
        report.results.append(check_service_order(machines))
    report.notes.extend(notes)
    return report
