"""Spec vs actual: a story merged with a recorded run of the reference runtime, and a verdict per difference.

The recordings are real runs (``nox -s record``; :data:`RECORDING_TOOLS` says which tool writes
which story) kept in ``docs/recorded/<story>.jsonl``. The ``spec_vs_actual`` directive draws one
diagram (`spec.render.comparison`) in which transitions only in the story and only in the run
are shaded and labelled, and a table of the differences: transitions (machine, trigger) the story
shows that the run did not make, transitions the run made that the story does not show, and
triggers whose first occurrences came in a different order. Each row carries a verdict: a
missing transition of a failure branch is expected of a run that succeeded; everything else is
a divergence to look at. The comparison is per machine, since a run names its own components.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from spec.story import Alt, Item, Loop, Step, Story, iter_steps
from spec.trace import TraceEvent, read_trace
from spec_docs.diagrams import _story, mermaid, spec_module
from spec_docs.formatting import code, table
from spec_docs.registry import directive

#: Where the recordings are: this checkout's docs/recorded until the plugin names the site's own
#: (``docs_dir/recorded``, `use_recordings`).
RECORDED_DIR = Path(__file__).resolve().parents[1] / "docs" / "recorded"
RECORD_COMMAND = "nox -s record (tools/record_reference_run.py, record_resilience_run.py, record_recovery_run.py)"

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


def use_recordings(directory: Path) -> None:
    """Read recordings from `directory` from now on (the plugin passes the site's ``docs_dir/recorded``)."""
    global RECORDED_DIR
    RECORDED_DIR = directory


def recording(story: str, directory: Path | None = None) -> list[TraceEvent]:
    """The recorded run for `story`, or an error saying how to record one."""
    path = (directory or RECORDED_DIR) / f"{story}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"no recording {path}; record one with {RECORD_COMMAND}")
    events = read_trace(path)
    if not events:
        raise ValueError(f"recording {path} is empty; record it again with {RECORD_COMMAND}")
    return events


#: Which tool records which stories (each tool's docstring lists the files it writes).
RECORDING_TOOLS: dict[str, tuple[str, ...]] = {
    "tools/record_reference_run.py": (
        "orchestrator_startup", "worker_registration", "task_execution", "orchestrator_shutdown", "worker_shutdown",
    ),
    "tools/record_resilience_run.py": ("retry_backoff", "circuit_breaker", "rate_limit", "auth_error"),
    "tools/record_recovery_run.py": ("orchestrator_recovery", "worker_recovery"),
}

EXPECTED = "expected: branch not exercised"
DIVERGENCE = "divergence: needs a look"


def recording_tool(story: str) -> str:
    """The tool that writes ``docs/recorded/<story>.jsonl``."""
    for tool, stories in RECORDING_TOOLS.items():
        if story in stories:
            return tool
    raise KeyError(f"no recording tool writes {story!r}; add it to RECORDING_TOOLS in {__name__}")


def branch_steps(story: Story) -> set[Transition]:
    """Transitions the story shows only inside an ``alt``/``opt`` branch: a run may skip them."""
    found: set[Transition] = set()
    main: set[Transition] = set()

    def walk(items: tuple[Item, ...], in_branch: bool) -> None:
        for item in items:
            if isinstance(item, Step):
                (found if in_branch else main).add((item.machine, item.trigger))
            elif isinstance(item, Loop):
                walk(item.items, in_branch)
            elif isinstance(item, Alt):
                for branch in item.branches:
                    walk(branch.items, True)

    walk(story.items, False)
    return found - main


def verdict_rows(story: Story, diff: Differences) -> list[list[str]]:
    """One table row per difference, each with its verdict."""
    optional = branch_steps(story)
    rows = [[code(m), code(t), "yes", "no", EXPECTED if (m, t) in optional else DIVERGENCE]
            for m, t in diff.only_in_spec]
    rows += [[code(m), code(t), "no", "yes", DIVERGENCE] for m, t in diff.only_in_recording]
    rows += [[code(m), f"{code(earlier)} before {code(later)}", "yes", "yes", DIVERGENCE]
             for m, earlier, later in diff.out_of_order]
    return rows


def differences_markdown(diff: Differences, story: Story | None = None) -> str:
    """The differences as a sentence and a table with a verdict per row (or a sentence saying there are none)."""
    if diff.agree:
        return "**Differences:** none — the run made exactly the story's transitions, in the story's order."
    rows = verdict_rows(story, diff) if story is not None else verdict_rows(_EMPTY_STORY, diff)
    divergences = sum(1 for row in rows if row[-1] == DIVERGENCE)
    summary = (f"**Differences:** {len(diff.only_in_spec)} transition(s) only in the spec, "
               f"{len(diff.only_in_recording)} only in the recording, {len(diff.out_of_order)} out of order; "
               f"{divergences} to look at.")
    return summary + "\n\n" + table(["Machine", "Trigger", "In spec", "In recording", "Verdict"], rows)


_EMPTY_STORY = Story(name="none", title="", seed_section="", description="", machines=(), items=())


def legend() -> str:
    """How the merged diagram marks the two kinds of difference, with the colours it uses."""
    comparison = spec_module("render.comparison")

    def swatch(fill: str, text: str) -> str:
        return (f'<span class="spec-vs-actual__swatch" style="background: {fill}"></span> '
                f"{text}")

    return (
        '<p class="spec-vs-actual__legend">'
        + swatch(comparison.SPEC_ONLY_FILL, f"<em>{comparison.SPEC_ONLY_NOTE}</em>")
        + " &nbsp; "
        + swatch(comparison.RUN_ONLY_FILL, f"<em>{comparison.RUN_ONLY_NOTE}</em>")
        + " &nbsp; unshaded: in the story and in the run</p>"
    )


def _components(events: Sequence[TraceEvent]) -> str:
    counts: dict[str, int] = {}
    for component in dict.fromkeys(e.component for e in events):
        machine = next(e.machine for e in events if e.component == component)
        counts[machine] = counts.get(machine, 0) + 1
    return ", ".join(f"{n} {code(m)}" for m, n in counts.items())


@directive
def spec_vs_actual(name: str, level: int = 2, heading: str = "Spec vs actual") -> str:
    """A story merged with a recorded run in one diagram, and a table of the differences with a verdict each."""
    found = _story(name)
    events = recording(name)
    comparison = spec_module("render.comparison")
    if not 1 <= level <= 6:
        raise ValueError(f"level must be 1..6, got {level}")
    intro = (
        f"Story {code(found.name)} as the spec draws it, merged with a real run recorded by "
        f"{code(recording_tool(name))} in {code(f'docs/recorded/{name}.jsonl')}: {len(events)} transitions "
        f"of {_components(events)}. Transitions are compared per machine and trigger. A transition the "
        "story shows only in a failure branch is expected to be missing from a run that succeeded; any "
        "other difference is marked as a divergence to look at."
    )
    diagram = mermaid(comparison.render_comparison(found, events))
    return "\n\n".join([f"{'#' * level} {heading}", intro, legend(), diagram,
                         differences_markdown(compare(found, events), found)])
