"""A specification as one value: machines, stories, participants, timing rules and extra checks (issue 17).

The reference platform is one :class:`Spec` (`spec.platform.PLATFORM`); a user's system is
another. Every consumer takes a catalogue instead of reading the platform's module globals:
the graph checks (:meth:`Spec.check`), the diagram catalogue (:meth:`Spec.diagrams`), the trace
checker (:meth:`Spec.check_trace`) and ``python -m spec ... --spec MODULE:ATTR``.

Participants are either declared (``participants=``) or derived from the machines' messages, in
the order they first appear. Checks that only make sense for one system (the platform's service
start order) are that catalogue's ``extra_checks``, never run on another's.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from importlib.metadata import entry_points

from spec.catalog import Diagram, build_catalog, render_diagram
from spec.checks import CheckReport, CheckResult, machine_checks, story_checks
from spec.conformance import ConformanceReport, check_trace
from spec.errors import SpecLoadError, UnknownParticipantError
from spec.machine import MachineSpec
from spec.participants import Participant
from spec.policies import DEFAULT_POLICIES, Policies
from spec.story import Story
from spec.timing_rules import TimingRuleFactory
from spec.trace import TraceEvent

#: The entry-point group an installed package names its catalogue in: ``name = "module:ATTR"``.
ENTRY_POINT_GROUP = "orchestration_spec.specs"


@dataclass(frozen=True)
class Spec:
    """One system's executable specification."""

    name: str
    machines: Mapping[str, MachineSpec]
    stories: Mapping[str, Story] = field(default_factory=dict)
    declared_participants: tuple[Participant, ...] | None = None
    timing_rules: tuple[TimingRuleFactory, ...] = ()
    extra_checks: tuple[Callable[[Spec], CheckResult], ...] = ()
    policies: Policies = DEFAULT_POLICIES
    #: Draw the platform's error-taxonomy flowchart (``error_handling``) among the diagrams.
    error_flowchart: bool = False

    @classmethod
    def of(
        cls,
        name: str,
        machines: Iterable[MachineSpec],
        stories: Iterable[Story] = (),
        *,
        participants: Iterable[Participant] | None = None,
        timing_rules: Sequence[TimingRuleFactory] = (),
        extra_checks: Sequence[Callable[[Spec], CheckResult]] = (),
        policies: Policies = DEFAULT_POLICIES,
    ) -> Spec:
        """A catalogue from lists; machines and stories are keyed by their own names."""
        return cls(name, {m.name: m for m in machines}, {s.name: s for s in stories},
                   None if participants is None else tuple(participants), tuple(timing_rules),
                   tuple(extra_checks), policies)

    @cached_property
    def participants(self) -> tuple[Participant, ...]:
        """The declared participants, or every one the machines' messages name, in first-use order."""
        if self.declared_participants is not None:
            return self.declared_participants
        seen: dict[str, Participant] = {}
        for machine in self.machines.values():
            for t in machine.transitions:
                for m in t.messages:
                    seen.setdefault(m.sender.id, m.sender)
                    seen.setdefault(m.receiver.id, m.receiver)
        return tuple(seen.values())

    @cached_property
    def _by_id(self) -> dict[str, Participant]:
        """Built once: `participant` runs for every message of a trace being drawn."""
        return {p.id: p for p in self.participants}

    def participant(self, participant_id: str) -> Participant:
        """The participant with this id, or an error listing the catalogue's ids."""
        try:
            return self._by_id[participant_id]
        except KeyError:
            raise UnknownParticipantError(participant_id, self._by_id) from None

    def render(self, name: str, kind: str | None = None) -> str:
        """Mermaid source of one of :meth:`diagrams`, as `kind` (default: its first kind)."""
        return render_diagram(name, kind, catalog=self.diagrams(), machines=self.machines, policies=self.policies)

    def is_declared(self, candidate: Participant) -> bool:
        return self._by_id.get(candidate.id) == candidate

    def check(self) -> CheckReport:
        """Every graph check on this catalogue: per machine, the stories, then its own extra checks."""
        report = CheckReport()
        for machine in self.machines.values():
            report.results.extend(machine_checks(machine, self.is_declared))
        results, notes = story_checks(self.stories, self.machines)
        report.results.extend(results)
        report.results.extend(check(self) for check in self.extra_checks)
        report.notes.extend(notes)
        return report

    def diagrams(self) -> dict[str, Diagram]:
        """The diagram catalogue of this spec: each machine, then each story without a machine."""
        return build_catalog(self.machines, self.stories, error_flowchart=self.error_flowchart)

    def check_trace(
        self,
        events: Iterable[TraceEvent],
        *,
        tolerance_s: float = 0.0,
        require_initial: bool = True,
        check_messages: bool = True,
        check_timing: bool = True,
    ) -> ConformanceReport:
        """`spec.conformance.check_trace` with this catalogue's machines, policies and timing rules."""
        return check_trace(events, machines=self.machines, policies=self.policies, tolerance_s=tolerance_s,
                           require_initial=require_initial, check_messages=check_messages,
                           check_timing=check_timing, timing_rules=self.timing_rules)


def load_spec(reference: str) -> Spec:
    """The `Spec` a ``--spec`` value names: ``package.module:ATTR``, or an installed package's
    entry-point name in the ``orchestration_spec.specs`` group."""
    if ":" not in reference:
        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == reference]
        if not found:
            raise SpecLoadError(f"--spec {reference!r}: use MODULE:ATTR (e.g. mypkg.spec:SPEC), or the name of an "
                                f"installed catalogue in the {ENTRY_POINT_GROUP!r} entry-point group")
        reference = found[0].value
    module_name, _, attr = reference.partition(":")
    if not module_name or not attr:
        raise SpecLoadError(f"--spec {reference!r}: both MODULE and ATTR are needed (MODULE:ATTR)")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SpecLoadError(f"--spec {reference!r}: cannot import {module_name!r} ({exc})") from None
    value = getattr(module, attr, None)
    if not isinstance(value, Spec):
        what = "no such attribute" if value is None else f"a {type(value).__name__}, not a spec.Spec"
        raise SpecLoadError(f"--spec {reference!r}: {module_name}.{attr} is {what}")
    return value
