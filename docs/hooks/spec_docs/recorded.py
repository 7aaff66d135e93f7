"""Spec vs actual: a story's diagram next to a recorded reference-runtime run (issue 6, §3).

The recordings are real runs of the reference runtime (``tools/record_reference_run.py``,
``nox -s record``) kept in ``docs/recorded/<story>.jsonl``. The ``spec_vs_actual`` directive
draws the story from the spec and the recording with `spec.render.render_trace`, side by side,
and lists where they differ: transitions (machine, trigger) the story shows that the run did not
exercise, transitions the run made that the story does not show, and triggers whose first
occurrences came in a different order than the story's. The comparison is per machine, i.e. per
component type, since a run has its own component names (task ids, worker ids).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from spec.story import Story, iter_steps
from spec.trace import TraceEvent, read_trace
from spec_docs.diagrams import _story, mermaid, spec_module
from spec_docs.formatting import code, table
from spec_docs.registry import directive

#: docs/recorded, next to the pages (this file is docs/hooks/spec_docs/recorded.py).
RECORDED_DIR = Path(__file__).resolve().parents[2] / "recorded"
RECORD_COMMAND = "nox -s record (python tools/record_reference_run.py)"

Transition = tuple[str, str]


@dataclass(frozen=True)
class Differences:
    """How a recorded run differs from a story; empty tuples everywhere means they agree."""

    only_in_spec: tuple[Transition, ...]
    only_in_recording: tuple[Transition, ...]
    #: ``(machine, earlier, later)``: the run fired `earlier` first, the story shows `later` first.
    out_of_order: tuple[tuple[str, str, str], ...]

    @property
    def agree(self) -> bool:
        return not (self.only_in_spec or self.only_in_recording or self.out_of_order)


def _first_occurrences(pairs: Iterable[Transition]) -> list[Transition]:
    seen: dict[Transition, None] = {}
    for pair in pairs:
        seen.setdefault(pair, None)
    return list(seen)


def compare(story: Story, events: Sequence[TraceEvent]) -> Differences:
    """Compare the (machine, trigger) transitions of `story` with those of a recorded run.

    Events of machines the story does not walk are ignored: a run does more than one story shows.
    """
    machines = set(story.machines)
    expected = _first_occurrences((s.machine, s.trigger) for s in iter_steps(story.items))
    recorded = _first_occurrences((e.machine, e.trigger) for e in events if e.machine in machines)
    expected_set, recorded_set = set(expected), set(recorded)
    rank = {pair: index for index, pair in enumerate(expected)}
    out_of_order: list[tuple[str, str, str]] = []
    for machine in story.machines:
        common = [pair for pair in recorded if pair[0] == machine and pair in expected_set]
        for earlier, later in zip(common, common[1:], strict=False):
            if rank[earlier] > rank[later]:
                out_of_order.append((machine, earlier[1], later[1]))
    return Differences(
        only_in_spec=tuple(p for p in expected if p not in recorded_set),
        only_in_recording=tuple(p for p in recorded if p not in expected_set),
        out_of_order=tuple(out_of_order),
    )


def recording(story: str, directory: Path | None = None) -> list[TraceEvent]:
    """The recorded run for `story`, or an error saying how to record one."""
    path = (directory or RECORDED_DIR) / f"{story}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"no recording {path}; record one with {RECORD_COMMAND}")
    events = read_trace(path)
    if not events:
        raise ValueError(f"recording {path} is empty; record it again with {RECORD_COMMAND}")
    return events


def differences_markdown(diff: Differences) -> str:
    """The differences as a sentence and a table (or a sentence saying there are none)."""
    if diff.agree:
        return "**Differences:** none — the run made exactly the story's transitions, in the story's order."
    rows = [[code(m), code(t), "yes", "no", "not made in this run"]
            for m, t in diff.only_in_spec]
    rows += [[code(m), code(t), "no", "yes", "made in this run, not shown by the story"]
             for m, t in diff.only_in_recording]
    rows += [[code(m), f"{code(earlier)} before {code(later)}", "yes", "yes",
              "first occurrences in the opposite order to the story's"]
             for m, earlier, later in diff.out_of_order]
    summary = (f"**Differences:** {len(diff.only_in_spec)} transition(s) only in the spec, "
               f"{len(diff.only_in_recording)} only in the recording, {len(diff.out_of_order)} out of order.")
    return summary + "\n\n" + table(["Machine", "Trigger", "In spec", "In recording", "Difference"], rows)


def _column(title: str, diagram: str) -> str:
    return f'<div markdown>\n\n{title}\n\n{diagram}\n\n</div>'


@directive
def spec_vs_actual(name: str, level: int = 2, heading: str = "Spec vs actual") -> str:
    """A story's spec diagram next to a recorded reference-runtime run, and where the two differ."""
    found = _story(name)
    events = recording(name)
    render = spec_module("render")
    components = sorted({e.component for e in events})
    if not 1 <= level <= 6:
        raise ValueError(f"level must be 1..6, got {level}")
    intro = (
        f"Left, story {code(found.name)} as the spec draws it; right, a real run of the reference runtime "
        f"(orchestrator and worker processes on 127.0.0.1) recorded by {code('tools/record_reference_run.py')} "
        f"in {code(f'docs/recorded/{name}.jsonl')}: {len(events)} transitions of "
        f"{', '.join(code(c) for c in components)}. Transitions traced by both processes are drawn once. "
        "The story also draws failure branches and, for some machines, a different workflow than the run's, "
        "so transitions only in the spec are expected; a transition only in the recording, or out of "
        "order, is a place where the runtime and the story tell different stories."
    )
    grid = (
        '<div class="spec-vs-actual" style="display: grid; grid-template-columns: repeat(auto-fit, '
        'minmax(20rem, 1fr)); gap: 1rem" markdown>\n\n'
        + _column("**Spec**", mermaid(render.render_sequence(found)))
        + "\n\n"
        + _column("**Recorded run**", mermaid(render.render_trace(events)))
        + "\n\n</div>"
    )
    return "\n\n".join([f"{'#' * level} {heading}", intro, grid, differences_markdown(compare(found, events))])
