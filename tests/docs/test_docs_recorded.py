"""Spec vs actual (spec_docs/recorded.py): differences between a story and a recorded run."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spec.machines import MACHINES
from spec.sequences import STORIES
from spec.story import Story, iter_steps, steps
from spec.trace import TraceEvent
from spec_docs.expand import expand
from spec_docs.recorded import (
    DIVERGENCE,
    EXPECTED,
    RECORDING_TOOLS,
    Differences,
    branch_steps,
    compare,
    differences_markdown,
    recording,
    recording_tool,
    verdict_rows,
)
from spec_docs.registry import DirectiveError

STORY = Story(
    name="hand_made", title="Hand-made", seed_section="4.2", description="for tests",
    machines=("worker_lifecycle",),
    items=steps("worker_lifecycle", "register", "capabilities_accepted", "poll", "task_received"),
)


def event(machine: str, trigger: str, time: float = 0.0, component: str = "c") -> TraceEvent:
    return TraceEvent(time=time, component=component, machine=machine, trigger=trigger, source="a", dest="b")


def test_a_run_that_makes_the_story_in_order_agrees() -> None:
    run = [event("worker_lifecycle", t, i) for i, t in
           enumerate(["register", "capabilities_accepted", "poll", "task_received", "poll"])]
    diff = compare(STORY, run)
    assert diff == Differences((), (), ())
    assert diff.agree
    assert "none" in differences_markdown(diff)


def test_missing_extra_and_reordered_triggers_are_reported_per_machine() -> None:
    run = [
        event("worker_lifecycle", "register"),
        event("worker_lifecycle", "poll"),
        event("worker_lifecycle", "capabilities_accepted"),  # after poll: the story has it before
        event("worker_lifecycle", "heartbeat"),  # not in the story
        event("task_lifecycle", "assign"),  # a machine the story does not walk: ignored
    ]
    diff = compare(STORY, run)
    assert diff.only_in_spec == (("worker_lifecycle", "task_received"),)
    assert diff.only_in_recording == (("worker_lifecycle", "heartbeat"),)
    assert diff.out_of_order == (("worker_lifecycle", "poll", "capabilities_accepted"),)
    text = differences_markdown(diff, STORY)
    assert "1 transition(s) only in the spec, 1 only in the recording, 1 out of order; 3 to look at" in text
    assert f"| `worker_lifecycle` | `task_received` | yes | no | {DIVERGENCE} |" in text  # on the main path
    assert f"| `worker_lifecycle` | `heartbeat` | no | yes | {DIVERGENCE} |" in text
    assert "`poll` before `capabilities_accepted`" in text


def test_a_failure_branch_the_run_skipped_is_expected_and_a_main_path_gap_is_not() -> None:
    found = STORIES["retry_backoff"]
    optional = branch_steps(found)
    assert ("retry", "give_up") in optional and ("retry", "attempt") not in optional
    diff = compare(found, [event("retry", "attempt"), event("retry", "succeed")])
    verdicts = {row[1]: row[-1] for row in verdict_rows(found, diff)}
    assert verdicts["`give_up`"] == EXPECTED
    assert verdicts["`fail_retryable`"] == DIVERGENCE  # the loop is on the main path


def test_every_recorded_story_names_the_tool_that_writes_it() -> None:
    root = Path(__file__).resolve().parents[2]
    recorded = sorted(p.stem for p in (root / "docs" / "recorded").glob("*.jsonl"))
    assert sorted(s for stories in RECORDING_TOOLS.values() for s in stories) == recorded
    for tool, stories in RECORDING_TOOLS.items():
        source = (root / tool).read_text(encoding="utf-8")
        for story in stories:
            assert recording_tool(story) == tool
            assert f"\"{story}\"" in source or f"``{story}``" in source, f"{tool} does not mention {story}"


@given(st.data())
def test_any_subset_of_a_story_differs_exactly_by_what_it_leaves_out(data: st.DataObject) -> None:
    story = data.draw(st.sampled_from(sorted(STORIES)))
    found = STORIES[story]
    expected = list(dict.fromkeys((s.machine, s.trigger) for s in iter_steps(found.items)))
    kept = data.draw(st.lists(st.sampled_from(expected), unique=True))
    kept.sort(key=expected.index)  # the story's order: nothing is out of order
    diff = compare(found, [event(m, t, i) for i, (m, t) in enumerate(kept)])
    assert set(diff.only_in_spec) == set(expected) - set(kept)
    assert diff.only_in_recording == ()
    assert diff.out_of_order == ()


def test_a_trigger_outside_the_story_is_reported_as_recording_only() -> None:
    found = STORIES["worker_registration"]
    in_story = {s.trigger for s in iter_steps(found.items) if s.machine == "task_lifecycle"}
    outside = sorted({t.trigger for t in MACHINES["task_lifecycle"].transitions} - in_story)[0]
    diff = compare(found, [event("task_lifecycle", outside)])
    assert diff.only_in_recording == (("task_lifecycle", outside),)


def test_a_missing_recording_names_the_file_and_the_command_to_record_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nox -s record"):
        recording("worker_registration", tmp_path)
    (tmp_path / "worker_registration.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="is empty"):
        recording("worker_registration", tmp_path)


def test_the_directive_fails_clearly_for_a_story_without_recording_or_an_unknown_story(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import spec_docs.recorded

    monkeypatch.setattr(spec_docs.recorded, "RECORDED_DIR", tmp_path)  # every shipped story has a recording
    unrecorded = sorted(STORIES)[0]
    with pytest.raises(DirectiveError) as caught:
        expand(f'{{{{ spec_vs_actual("{unrecorded}") }}}}', "docs/p.md")
    assert str(caught.value).startswith(f'docs/p.md:1: {{{{ spec_vs_actual("{unrecorded}") }}}}: no recording')
    with pytest.raises(DirectiveError, match="unknown story 'nosuch'"):
        expand('{{ spec_vs_actual("nosuch") }}', "docs/p.md")


@pytest.mark.parametrize("story", ["orchestrator_startup", "worker_registration", "task_execution",
                                   "orchestrator_shutdown", "worker_shutdown"])
def test_the_committed_recordings_render_merged_with_the_spec(story: str) -> None:
    text = expand(f'{{{{ spec_vs_actual("{story}", level=3) }}}}', "docs/p.md")
    assert text.startswith("### Spec vs actual")
    assert text.count("```mermaid\nsequenceDiagram") == 1  # one merged diagram
    assert "**Differences:**" in text
    assert "out of order" in text or "none" in text
    assert f"recorded by `{recording_tool(story)}`" in text
    components = {e.component for e in recording(story)}
    assert not [c for c in components if c in text]  # short names, not recorded component ids
