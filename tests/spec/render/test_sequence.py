"""sequenceDiagram rendering of stories: arrows, blocks, notes, participants, escaping."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spec.errors import StoryError
from spec.machine import SAME, MachineSpec, StateRole, StateSpec, transition
from spec.machines import MACHINES
from spec.messages import call, push, reply, step
from spec.participants import ADMIN, CLIENT, LOGGER, MONITOR, ORCHESTRATOR, WORKER, Participant
from spec.render import render_sequence
from spec.render.mermaid_text import unescape_text
from spec.render.sequence import fill_placeholders
from spec.sequences import STORIES
from spec.story import Item, Note, Step, Story, alt, branch, iter_branch_labels, iter_steps, loop

SequenceChecker = Callable[[str], dict[str, str]]

TOY = MachineSpec(
    name="toy",
    title="Toy",
    seed_section="test",
    description="Covers every message kind.",
    initial="idle",
    states=(
        StateSpec("idle", "Nothing happening.", StateRole.RESTING),
        StateSpec("busy", "Working.", StateRole.RESTING),
        StateSpec("done", "Finished.", StateRole.TERMINAL),
    ),
    transitions=(
        transition("start", "idle", "busy", "Start work.",
                   call(ADMIN, ORCHESTRATOR, "start({job})"), step(ORCHESTRATOR, "plan(); check()"),
                   push(ORCHESTRATOR, WORKER, "work #1 {unknown}")),
        transition("tick", "busy", SAME, "Progress.", push(WORKER, CLIENT, "progress <50%>")),
        transition("finish", "busy", "done", "Done.", reply(ORCHESTRATOR, ADMIN, "done")),
        transition("silent", "busy", SAME, "No messages at all."),
    ),
)
TOYS = {"toy": TOY}


def _story(*items: Item, participants: tuple[Participant, ...] = (LOGGER,)) -> Story:
    return Story("toy_story", "Toy story", "test", "A test story.", ("toy",), items, participants=participants)


def _toy_story() -> Story:
    return _story(
        Note("Begin", (ADMIN, WORKER)),
        Step("toy", "start", {"job": "build"}),
        loop("every 5 s", Step("toy", "tick")),
        alt(branch("maybe", Note("side", (CLIENT,), side="left"))),
        alt(branch("finished", Step("toy", "finish")), branch("still busy", Step("toy", "silent"))),
        Note("End", (MONITOR,), side="right"),
    )


def test_toy_story_renders_exactly(sequence_checker: SequenceChecker) -> None:
    text = render_sequence(_toy_story(), TOYS)
    assert text == (
        "sequenceDiagram\n"
        "    participant logger as Logger\n"
        "    participant admin as Admin/Process\n"
        "    participant worker as Worker\n"
        "    participant orchestrator as Orchestrator\n"
        "    participant client as Client/UI\n"
        "    participant monitor as Monitor\n"
        "    Note over admin,worker: Begin\n"
        "    admin->>orchestrator: start(build)\n"
        "    orchestrator->>orchestrator: plan()#59; check()\n"
        "    orchestrator-)worker: work #35;1 #123;unknown#125;\n"
        "    loop every 5 s\n"
        "        worker-)client: progress #60;50%#62;\n"
        "    end\n"
        "    opt maybe\n"
        "        Note left of client: side\n"
        "    end\n"
        "    alt finished\n"
        "        orchestrator-->>admin: done\n"
        "    else still busy\n"
        "    end\n"
        "    Note right of monitor: End\n"
    )
    sequence_checker(text)


def test_rendering_is_deterministic() -> None:
    assert render_sequence(_toy_story(), TOYS) == render_sequence(_toy_story(), TOYS)


def test_arrows_follow_message_kind() -> None:
    lines = render_sequence(_toy_story(), TOYS).splitlines()
    assert "    admin->>orchestrator: start(build)" in lines  # call
    assert "        orchestrator-->>admin: done" in lines  # reply
    assert "        worker-)client: progress #60;50%#62;" in lines  # async
    assert any(line.startswith("    orchestrator->>orchestrator: ") for line in lines)  # self


def test_placeholders_fill_from_params_and_unknown_ones_stay() -> None:
    assert fill_placeholders("a {x} b {y} {x}", {"x": "1"}) == "a 1 b {y} 1"
    assert fill_placeholders("{step: 1, progress: 10}", {"step": "9"}) == "{step: 1, progress: 10}"


def test_illegal_step_is_refused_not_drawn() -> None:
    with pytest.raises(StoryError, match="toy_story.*finish"):
        render_sequence(_story(Step("toy", "finish")), TOYS)


@pytest.mark.parametrize(
    ("note", "reason"),
    [(Note("x", ()), "names no participant"), (Note("x", (ADMIN,), side="under"), "side must be one of")],
)
def test_bad_notes_are_refused(note: Note, reason: str) -> None:
    with pytest.raises(StoryError, match=reason):
        render_sequence(_story(note), TOYS)


def test_note_over_one_participant_or_more_than_two() -> None:
    text = render_sequence(_story(Note("one", (ADMIN,)), Note("three", (ADMIN, WORKER, CLIENT))), TOYS)
    assert "    Note over admin: one" in text
    assert "    Note over admin,client: three" in text


@pytest.mark.parametrize("name", list(STORIES))
def test_every_story_renders_valid_deterministic_mermaid(name: str, sequence_checker: SequenceChecker) -> None:
    story = STORIES[name]
    text = render_sequence(story)
    assert text == render_sequence(story)
    declared = sequence_checker(text)
    ids = list(declared)
    assert ids[: len(story.participants)] == [p.id for p in story.participants]
    assert [declared[p.id] for p in story.participants] == [p.name for p in story.participants]


@pytest.mark.parametrize("name", list(STORIES))
def test_every_branch_loop_and_message_of_a_story_appears(name: str) -> None:
    story = STORIES[name]
    text = unescape_text(render_sequence(story))
    lines = [line.strip() for line in text.splitlines()]
    for label in iter_branch_labels(story.items):
        assert any(line.split(" ", 1)[-1] == label and line.split(" ", 1)[0] in ("loop", "alt", "opt", "else")
                   for line in lines), f"branch {label!r} missing"
    for s in iter_steps(story.items):
        for message in MACHINES[s.machine].transition_for(_any_source(s), s.trigger).messages:
            assert f"{message.sender.id}" in text and fill_placeholders(message.label, s.params) in text


def _any_source(s: Step) -> str:
    """Some state the step's trigger is legal in (message lists are per row, so any of its sources)."""
    return next(t.source[0] for t in MACHINES[s.machine].transitions if t.trigger == s.trigger)


def test_alt_with_one_branch_is_opt_and_several_is_alt() -> None:
    text = render_sequence(_toy_story(), TOYS)
    assert re.search(r"^    opt maybe$", text, re.M)
    assert re.search(r"^    alt finished$\n(.*\n)*?^    else still busy$", text, re.M)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=150)
@given(label=st.text(min_size=1, max_size=60).filter(lambda s: s.strip()))
def test_any_label_is_escaped_and_round_trips(label: str, sequence_checker: SequenceChecker) -> None:
    machine = MachineSpec(
        name="toy", title="t", seed_section="t", description="d", initial="a",
        states=(StateSpec("a", "a", StateRole.RESTING),),
        transitions=(transition("go", "a", SAME, "d", call(ADMIN, WORKER, label), step(WORKER, label)),),
    )
    story = Story("s", "t", "t", "d", ("toy",), (loop(label, Step("toy", "go")), alt(branch(label)),
                                                  Note(label, (ADMIN,))))
    text = render_sequence(story, {"toy": machine})
    sequence_checker(text)  # no raw ';', '#', braces or angle brackets in any label
    flattened = " ".join(re.split("\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]", label))
    arrow = next(line for line in text.split("\n") if line.startswith("        admin->>worker: "))
    shown = arrow.split(": ", 1)[1]
    assert unescape_text(shown) == flattened
