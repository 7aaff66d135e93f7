"""The diagram catalogue behind ``python -m spec list/render`` and the docs."""

from __future__ import annotations

import re

import pytest

from spec.catalog import DIAGRAMS, ERROR_HANDLING, KINDS, build_catalog, list_diagrams, render_diagram
from spec.errors import UnknownDiagramError
from spec.machines import MACHINES
from spec.participants import PARTICIPANTS
from spec.policies import BackoffPolicy, Policies
from spec.render import render_error_flowchart, render_sequence, render_state
from spec.render.mermaid_text import escape_text
from spec.sequences import STORIES
from spec.story import iter_branch_labels


def test_catalogue_holds_every_machine_story_and_the_flowchart() -> None:
    assert list(DIAGRAMS)[: len(MACHINES)] == list(MACHINES)
    assert list(DIAGRAMS)[-1] == ERROR_HANDLING
    for name in MACHINES:
        assert DIAGRAMS[name].kinds == (("sequence", "state") if name in STORIES else ("state",))
        assert DIAGRAMS[name].default_kind == ("sequence" if name in STORIES else "state")
    for name in STORIES:
        assert "sequence" in DIAGRAMS[name].kinds
        assert DIAGRAMS[name].story is STORIES[name]
    assert DIAGRAMS[ERROR_HANDLING].kinds == ("flowchart",)
    assert set(DIAGRAMS) == set(MACHINES) | set(STORIES) | {ERROR_HANDLING}
    for diagram in DIAGRAMS.values():
        assert diagram.default_kind == diagram.kinds[0]
        assert set(diagram.kinds) <= set(KINDS)


def test_render_diagram_dispatches_to_the_renderers() -> None:
    plain = next(name for name in MACHINES if name not in STORIES)
    assert render_diagram(plain) == render_state(MACHINES[plain])
    both = next(name for name in MACHINES if name in STORIES)
    assert render_diagram(both) == render_sequence(STORIES[both])
    assert render_diagram(both, "state") == render_state(MACHINES[both])
    story = next(iter(STORIES))
    assert render_diagram(story, "sequence") == render_sequence(STORIES[story])
    assert render_diagram(ERROR_HANDLING) == render_error_flowchart()
    policies = Policies(backoff=BackoffPolicy(max_retries=4))
    assert render_diagram(ERROR_HANDLING, policies=policies) == render_error_flowchart(policies=policies)


@pytest.mark.parametrize(("name", "kind"), [(n, k) for n, d in DIAGRAMS.items() for k in d.kinds])
def test_every_diagram_renders_deterministically(name: str, kind: str) -> None:
    text = render_diagram(name, kind)
    assert text == render_diagram(name, kind)
    assert text.split("\n", 1)[0] == {"state": "stateDiagram-v2", "sequence": "sequenceDiagram",
                                      "flowchart": "flowchart TD"}[kind]


def test_unknown_name_lists_every_known_diagram() -> None:
    with pytest.raises(UnknownDiagramError) as info:
        render_diagram("nosuch")
    message = str(info.value)
    assert "'nosuch'" in message
    for name in DIAGRAMS:
        assert name in message


def test_unknown_kind_for_a_name_lists_the_diagrams_that_have_it() -> None:
    only_flowchart = r"unknown flowchart diagram 'retry'; known diagrams: error_handling$"
    with pytest.raises(UnknownDiagramError, match=only_flowchart):
        render_diagram("retry", "flowchart")
    with pytest.raises(UnknownDiagramError, match=r"unknown pie diagram .*error_handling \(flowchart\)"):
        render_diagram("retry", "pie")


def test_list_has_one_aligned_line_per_diagram_with_name_first() -> None:
    lines = list_diagrams()
    assert len(lines) == len(DIAGRAMS)
    for line, diagram in zip(lines, DIAGRAMS.values(), strict=True):
        fields = line.split()
        assert fields[0] == diagram.name
        assert fields[1] == ",".join(diagram.kinds)
        assert fields[2] == diagram.seed_section
        assert line.endswith(diagram.title)
    assert len({line.index(line.split()[1], len(line.split()[0])) for line in lines}) == 1  # kinds column aligned


def test_build_catalog_from_given_machines_and_stories() -> None:
    retry = MACHINES["retry"]
    story = next(iter(STORIES.values()))
    catalog = build_catalog({"retry": retry}, {"retry": story, "other": story})
    assert list(catalog) == ["retry", "other", ERROR_HANDLING]
    assert catalog["retry"].kinds == ("sequence", "state")
    assert catalog["other"].kinds == ("sequence",) and catalog["other"].default_kind == "sequence"
    assert build_catalog({}, {}).keys() == {ERROR_HANDLING}


def test_every_branch_label_of_every_story_is_drawn() -> None:
    for name, story in STORIES.items():
        text = render_diagram(name, "sequence")
        for label in iter_branch_labels(story.items):
            assert re.search(rf"^\s*(loop|alt|opt|else) {re.escape(escape_text(label))}$", text, re.M), (name, label)


def test_every_participant_of_a_machine_message_appears_in_a_sequence_diagram() -> None:
    sequences = "".join(render_diagram(n, "sequence") for n, d in DIAGRAMS.items() if "sequence" in d.kinds)
    declared = set(re.findall(r"^    participant (\w+) as ", sequences, re.M))
    used = {p.id for m in MACHINES.values() for p in m.participants}
    assert used <= declared
    assert declared <= {p.id for p in PARTICIPANTS}
