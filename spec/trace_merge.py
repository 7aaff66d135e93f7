"""One trace from the traces of several processes whose clocks order their events only roughly.

Each process writes its own trace in the order its transitions happened, but a transition is
stamped when its line is written: after the commit, so a process descheduled between its commit
and its write stamps a transition later than the one it caused on another process (a replica's
submit traced after another replica started the task it queued). Sorting the merged events by
time then breaks a component's chain of states, and the checker reports a divergence that did
not happen.

`merge_traces` merges in time order but, among the events stamped within `slack_s` of the
earliest one left, takes first the one that continues its component's chain: each file's own
order is kept, and no event moves by more than `slack_s`, the tolerance the checker then applies
to the times. An event that continues no chain within the slack is taken in time order, and the
checker reports it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from spec.machine import MachineSpec
from spec.trace import TraceEvent


def merge_traces(streams: Sequence[Sequence[TraceEvent]], machines: Mapping[str, MachineSpec], *,
                 slack_s: float) -> list[TraceEvent]:
    """The events of every stream (each in its written order) as one trace, causally ordered within `slack_s`."""
    heads = [0] * len(streams)
    state: dict[str, str] = {}
    merged: list[TraceEvent] = []

    def continues(event: TraceEvent) -> bool:
        current = state.get(event.component)
        if current is None:
            spec = machines.get(event.machine)
            return spec is None or event.source == spec.initial
        return event.source == current

    total = sum(len(stream) for stream in streams)
    while len(merged) < total:
        waiting = [(streams[i][heads[i]].time, i) for i in range(len(streams)) if heads[i] < len(streams[i])]
        earliest, first = min(waiting)
        chosen = first
        if not continues(streams[first][heads[first]]):
            fitting = [(t, i) for t, i in waiting if t <= earliest + slack_s and continues(streams[i][heads[i]])]
            if fitting:
                chosen = min(fitting)[1]
        event = streams[chosen][heads[chosen]]
        heads[chosen] += 1
        state[event.component] = event.dest
        merged.append(event)
    return merged
