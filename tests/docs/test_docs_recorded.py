"""Spec vs actual (docs/hooks/spec_docs/recorded.py): differences between a story and a recorded run."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from spec_docs import DirectiveError, expand
from spec_docs.recorded import Differences, compare, differences_markdown, recording

from spec.machines import MACHINES
from spec.sequences import STORIES
from spec.story import Story, iter_steps, steps
from spec.trace import TraceEvent

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
    text = differences_markdown(diff)
    assert "1 transition(s) only in the spec, 1 only in the recording, 1 out of order" in text
    assert "| `worker_lifecycle` | `task_received` | yes | no |" in text
    assert "| `worker_lifecycle` | `heartbeat` | no | yes |" in text
    assert "`poll` before `capabilities_accepted`" in text


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
def test_the_committed_recordings_render_next_to_the_spec(story: str) -> None:
    text = expand(f'{{{{ spec_vs_actual("{story}", level=3) }}}}', "docs/p.md")
    assert text.startswith("### Spec vs actual")
    assert text.count("```mermaid\nsequenceDiagram") == 2
    assert "**Differences:**" in text
    assert "out of order" in text or "none" in text
