"""Conformance testing for any catalogue, in a user's own pytest suite (issue 17).

Needs the ``test`` extra (hypothesis). Two pieces:

* :func:`assert_conforms` — replay a trace on a catalogue and fail with the first divergence;
  with ``complete=True`` (the default) a component left in a state that is neither terminal nor
  resting fails too, since a trace that stops halfway proves nothing about how it ends;
* :func:`trigger_paths` and :func:`traces` — hypothesis strategies of legal walks through any
  machine (random triggers from the initial state) and of their traces, with gaps between events,
  so a property test can drive an implementation through every path the spec allows and
  compare what it recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from hypothesis import strategies as st

from spec.conformance import ConformanceReport
from spec.machine import MachineSpec, StateRole, TransitionRecord
from spec.specification import Spec
from spec.trace import TraceEvent, TraceMessage

#: Longest walk `trigger_paths` draws unless told otherwise (machines with loops never end by themselves).
MAX_STEPS = 20


class ConformanceFailure(AssertionError):
    """A trace does not conform: the first divergence, or the components it left unfinished."""


def assert_conforms(
    events: Iterable[TraceEvent],
    spec: Spec,
    *,
    complete: bool = True,
    allow_unfinished: Sequence[str] = (),
    tolerance_s: float = 0.0,
    require_initial: bool = True,
) -> ConformanceReport:
    """Replay `events` on `spec` and raise :class:`ConformanceFailure` at the first divergence.

    With ``complete``, every component must end resting or terminal, except those named in
    `allow_unfinished` (component ids). Returns the report for further assertions.
    """
    recorded = list(events)
    report = spec.check_trace(recorded, tolerance_s=tolerance_s, require_initial=require_initial)
    if report.divergence is not None:
        raise ConformanceFailure(str(report.divergence))
    if complete:
        machine_of = {event.component: spec.machines[event.machine] for event in recorded}
        unfinished = {
            component: state for component, state in report.final_states.items()
            if component not in allow_unfinished and not _finished(machine_of[component], state)
        }
        if unfinished:
            listed = ", ".join(f"{c} in {s!r}" for c, s in sorted(unfinished.items()))
            raise ConformanceFailure(f"components left unfinished (neither resting nor terminal): {listed}")
    return report


def _finished(machine: MachineSpec, state: str) -> bool:
    return machine.state(state).role in (StateRole.TERMINAL, StateRole.RESTING)


@st.composite
def trigger_paths(draw: st.DrawFn, machine: MachineSpec, max_steps: int = MAX_STEPS) -> list[TransitionRecord]:
    """A legal walk through `machine` from its initial state: at each state one of its allowed
    triggers, until a terminal state or `max_steps` transitions."""
    state, path = machine.initial, []
    for _ in range(draw(st.integers(0, max_steps))):
        allowed = machine.allowed_triggers(state)
        if not allowed:
            break
        trigger = draw(st.sampled_from(sorted(allowed)))
        row = machine.transition_for(state, trigger)
        dest = row.destination_from(state)
        path.append(TransitionRecord(machine.name, trigger, state, dest, row.messages))
        state = dest
    return path


@st.composite
def traces(draw: st.DrawFn, machine: MachineSpec, component: str = "c1", max_steps: int = MAX_STEPS,
           max_gap_s: float = 60.0) -> list[TraceEvent]:
    """The trace of one :func:`trigger_paths` walk of `component`, events `max_gap_s` apart at most."""
    time, events = 0.0, []
    for record in draw(trigger_paths(machine, max_steps)):
        time += draw(st.floats(0.0, max_gap_s, allow_nan=False))
        events.append(TraceEvent(time=time, component=component, machine=record.machine, trigger=record.trigger,
                                 source=record.source, dest=record.dest,
                                 messages=tuple(TraceMessage.from_message(m) for m in record.messages)))
    return events


__all__ = ["MAX_STEPS", "ConformanceFailure", "assert_conforms", "trigger_paths", "traces"]
