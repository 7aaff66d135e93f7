"""Machines declared as data, and bound to `transitions` for execution.

Each workflow of the seed is a :class:`MachineSpec`: a table of states and a table of
transitions, each transition carrying the messages that cross between participants when it
fires. The same object is

* executed by the runtime and the simulator (:meth:`MachineSpec.bind` builds a real
  ``transitions.Machine`` for one model),
* checked as a graph (`spec.checks`), and
* drawn (`spec.render`), which reads the tables and never touches `transitions`.

One ``transitions.Machine`` is built per model rather than one shared machine with many models:
``Machine.add_model`` scans a list, so a shared machine gets slower as models accumulate, while a
per-model machine costs a constant ~0.2 ms to build.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from transitions import Machine, MachineError

from spec.errors import IllegalTransitionError, SpecError, UnknownTriggerError
from spec.messages import Message
from spec.participants import Participant

#: Marker for a transition that leaves the machine in the state it was fired from
#: (heartbeats, progress reports). Rendered as a self-loop.
SAME = "="


class StateRole(StrEnum):
    """What a state means for the graph checks."""

    TRANSIENT = "transient"  # work is under way; must be able to reach a terminal or resting state
    RESTING = "resting"  # the machine may legitimately stay here forever (running, idle, closed)
    TERMINAL = "terminal"  # no transitions leave it
    TRAP = "trap"  # deliberately cannot reach a terminal state; must say why in its description


@dataclass(frozen=True)
class StateSpec:
    """One state, with a description a reader understands without the seed."""

    name: str
    description: str
    role: StateRole = StateRole.TRANSIENT
    #: For startup-like machines: the service this state initialises (see `spec.services`).
    service: str | None = None

    def __post_init__(self) -> None:
        # A machine module's StrEnum member is stored as its plain value: `transitions` treats Enum
        # states by their *names*, and traces, renderers and checks compare plain strings.
        object.__setattr__(self, "name", str(self.name))


@dataclass(frozen=True)
class TransitionSpec:
    """One row of a machine's transition table."""

    trigger: str
    source: tuple[str, ...]
    dest: str
    description: str
    messages: tuple[Message, ...] = ()

    @property
    def is_reflexive(self) -> bool:
        return self.dest == SAME

    def destination_from(self, source: str) -> str:
        """The state this transition leads to when fired from `source`."""
        return source if self.dest == SAME else self.dest

    @property
    def participants(self) -> frozenset[Participant]:
        return frozenset(p for m in self.messages for p in (m.sender, m.receiver))


def transition(
    trigger: str,
    source: str | Iterable[str],
    dest: str,
    description: str,
    *messages: Message,
) -> TransitionSpec:
    """Table-row constructor: ``transition("start", "stopped", "loading_config", "...", msg, ...)``."""
    sources = (str(source),) if isinstance(source, str) else tuple(str(s) for s in source)
    return TransitionSpec(str(trigger), sources, str(dest), description, tuple(messages))


@dataclass(frozen=True)
class TransitionRecord:
    """What happened when a trigger fired: the unit of a runtime or simulator trace."""

    machine: str
    trigger: str
    source: str
    dest: str
    messages: tuple[Message, ...]


TransitionListener = Callable[[TransitionRecord], None]


@dataclass(frozen=True)
class MachineSpec:
    """A workflow as a state machine: states, transitions and the seed section it implements."""

    name: str
    title: str
    seed_section: str
    description: str
    states: tuple[StateSpec, ...]
    initial: str
    transitions: tuple[TransitionSpec, ...]
    _by_trigger: Mapping[str, tuple[TransitionSpec, ...]] = field(init=False, repr=False, compare=False)
    _records: Mapping[tuple[str, str], TransitionRecord] = field(init=False, repr=False, compare=False)
    #: (source, trigger) pairs of reflexive rows: `transitions` internal transitions (``dest=None``).
    _internal: frozenset[tuple[str, str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "initial", str(self.initial))
        names = [s.name for s in self.states]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: duplicate state names")
        if self.initial not in names:
            raise ValueError(f"{self.name}: initial state {self.initial!r} is not declared")
        for t in self.transitions:
            for s in t.source:
                if s not in names:
                    raise ValueError(f"{self.name}.{t.trigger}: unknown source state {s!r}")
            if t.dest != SAME and t.dest not in names:
                raise ValueError(f"{self.name}.{t.trigger}: unknown destination state {t.dest!r}")
        by_trigger: dict[str, list[TransitionSpec]] = {}
        for t in self.transitions:
            by_trigger.setdefault(t.trigger, []).append(t)
        for trig, rows in by_trigger.items():
            seen: set[str] = set()
            for row in rows:
                overlap = seen.intersection(row.source)
                if overlap:
                    raise ValueError(f"{self.name}.{trig}: ambiguous from {sorted(overlap)}")
                seen.update(row.source)
        object.__setattr__(self, "_by_trigger", {k: tuple(v) for k, v in by_trigger.items()})
        # Every (source, trigger) pair resolved once: firing is a dict lookup, not a table scan.
        records = {
            (source, t.trigger): TransitionRecord(self.name, t.trigger, source, t.destination_from(source), t.messages)
            for t in self.transitions
            for source in t.source
        }
        object.__setattr__(self, "_records", records)
        internal = frozenset((source, t.trigger) for t in self.transitions if t.is_reflexive for source in t.source)
        object.__setattr__(self, "_internal", internal)

    # -- queries used by renderers, checks and the conformance replay -------------------------

    @property
    def state_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.states)

    @property
    def triggers(self) -> tuple[str, ...]:
        return tuple(self._by_trigger)

    def state(self, name: str) -> StateSpec:
        for s in self.states:
            if s.name == name:
                return s
        raise KeyError(f"{self.name}: no state {name!r}; states: {', '.join(self.state_names)}")

    def record_for(self, source: str, trigger: str) -> TransitionRecord:
        """What firing `trigger` in `source` does (destination and messages), or a clear error."""
        record = self._records.get((source, trigger))
        if record is None:
            self.transition_for(source, trigger)  # raises the readable error
        assert record is not None
        return record

    def transition_for(self, source: str, trigger: str) -> TransitionSpec:
        """The transition `trigger` takes from `source`, or a clear error."""
        rows = self._by_trigger.get(trigger)
        if rows is None:
            raise UnknownTriggerError(self.name, trigger, self._by_trigger)
        for row in rows:
            if source in row.source:
                return row
        raise IllegalTransitionError(self.name, source, trigger, self.allowed_triggers(source))

    def next_state(self, source: str, trigger: str) -> str:
        return self.record_for(source, trigger).dest

    def allowed_triggers(self, source: str) -> tuple[str, ...]:
        return tuple(trigger for (s, trigger) in self._records if s == source)

    @property
    def participants(self) -> frozenset[Participant]:
        return frozenset(p for t in self.transitions for p in t.participants)

    # -- execution --------------------------------------------------------------------------

    def bind(
        self,
        model: Any | None = None,
        *,
        initial: str | None = None,
        listener: TransitionListener | None = None,
    ) -> MachineInstance:
        """Build a ``transitions.Machine`` for `model` (a fresh object when omitted)."""
        return MachineInstance(self, model, initial=initial, listener=listener)


class _Model:
    """Default model object when the caller has none of its own; `transitions` adds the triggers."""

    state: str


class MachineInstance:
    """One live machine: a `transitions.Machine` bound to one model, with clear errors.

    ``fire`` is the only way the runtime and the simulator change state. It checks the trigger
    against the table first (so an illegal one raises :class:`IllegalTransitionError` naming the
    legal triggers, not `transitions`' bare ``MachineError``), executes it on the
    ``transitions.Machine``, checks that the machine landed where the table says, and reports
    the transition to the optional listener (trace writers, metrics).
    """

    def __init__(
        self,
        spec: MachineSpec,
        model: Any | None = None,
        *,
        initial: str | None = None,
        listener: TransitionListener | None = None,
    ) -> None:
        self.spec = spec
        # Any: `transitions` decorates the model with `state` and `trigger` at runtime.
        self.model: Any = model if model is not None else _Model()
        self._listener = listener
        start = initial if initial is not None else spec.initial
        if start not in spec.state_names:
            raise ValueError(f"{spec.name}: unknown initial state {start!r}; states: {', '.join(spec.state_names)}")
        self.machine = Machine(
            model=self.model,
            states=list(spec.state_names),
            transitions=[
                {"trigger": t.trigger, "source": list(t.source), "dest": None if t.is_reflexive else t.dest}
                for t in spec.transitions
            ],
            initial=start,
            auto_transitions=False,
            send_event=True,
            name=spec.name,
        )
        self._events = self.machine.events

    @property
    def state(self) -> str:
        return str(self.model.state)

    @property
    def is_finished(self) -> bool:
        return self.spec.state(self.state).role is StateRole.TERMINAL

    def can_fire(self, trigger: str) -> bool:
        return (self.model.state, trigger) in self.spec._records

    def fire(self, trigger: str, **kwargs: Any) -> TransitionRecord:
        """Fire `trigger`; return what happened or raise a `SpecError` naming the legal triggers."""
        spec, source = self.spec, self.model.state
        key = (source, trigger)
        record = spec._records.get(key)  # `record_for`, inlined: a simulator fires ~10^6 times a run
        if record is None:
            spec.transition_for(source, trigger)  # raises the readable error
            raise AssertionError("unreachable")  # pragma: no cover
        if key not in spec._internal:
            try:
                self._events[trigger].trigger(self.model, **kwargs)
            except MachineError as exc:  # pragma: no cover - record_for already validated it
                raise IllegalTransitionError(self.spec.name, source, trigger,
                                             self.spec.allowed_triggers(source)) from exc
            if self.model.state != record.dest:  # pragma: no cover - the table and the machine are built alike
                raise SpecError(f"{self.spec.name}: {trigger!r} from {source!r} reached {self.model.state!r}, "
                                f"the table says {record.dest!r}")
        # else: an internal transition (heartbeat, progress). Its `transitions` execution would run
        # no callbacks (this class registers none; observers use the listener) and change no state,
        # so it is skipped: it cost ~5 us of a ~5.5 us fire, and heartbeats are most of all fires.
        # tests/spec/test_machines.py proves both paths agree for every internal transition.
        if self._listener is not None:
            self._listener(record)
        return record
