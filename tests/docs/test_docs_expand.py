"""Directive expansion (spec_docs/expand.py): parsing, errors that name the page, escaping."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spec.policies import DEFAULT_POLICIES
from spec.sequences import STORIES
from spec.story_parts import story_parts
from spec_docs.expand import escape_mermaid_fences, expand, parse
from spec_docs.registry import DIRECTIVES, DirectiveError


def test_value_directive_is_replaced_by_the_policy_value() -> None:
    text = expand('Beat every {{ value("heartbeat.interval_s") }}.', "docs/x.md")
    assert text == f"Beat every {DEFAULT_POLICIES.heartbeat.interval_s:g} s."


def test_every_directive_is_documented() -> None:
    for entry in DIRECTIVES.values():
        assert entry.summary, f"directive {entry.name} has no docstring"
    table = expand("{{ directives() }}", "docs/x.md")
    for name in DIRECTIVES:
        assert f"{{{{ {name}(" in table


def test_unknown_directive_fails_naming_page_line_and_directive() -> None:
    with pytest.raises(DirectiveError) as caught:
        expand('first line\n\n{{ nosuch("x") }}\n', "docs/seed/startup.md")
    message = str(caught.value)
    assert message.startswith('docs/seed/startup.md:3: {{ nosuch("x") }}: unknown directive')
    assert "value" in message  # the known directives are listed


def test_unknown_diagram_fails_and_lists_the_known_diagrams() -> None:
    with pytest.raises(DirectiveError) as caught:
        expand('{{ diagram("nosuch") }}', "docs/p.md")
    message = str(caught.value)
    assert message.startswith('docs/p.md:1: {{ diagram("nosuch") }}: unknown diagram')
    assert "task_execution" in message


@pytest.mark.parametrize(
    ("directive", "reason"),
    [
        ('{{ value("heartbeat.nope") }}', "has no field 'nope'"),
        ('{{ value("heartbeat") }}', "whole policy"),
        ('{{ value("heartbeat.interval_s", unit="parsecs") }}', "unknown unit"),
        ('{{ policy_table("nosuch") }}', "unknown policy"),
        ('{{ machine("nosuch") }}', "unknown machine"),
        ('{{ story("nosuch") }}', "unknown story"),
        ('{{ trigger("worker_lifecycle", "nosuch") }}', "has no trigger 'nosuch'"),
        ('{{ state("worker_lifecycle", "nosuch") }}', "has no state 'nosuch'"),
        ('{{ participant("nosuch") }}', "unknown participant"),
        ('{{ figure("nosuch") }}', "unknown figure"),
        ('{{ value(1, 2, 3) }}', "usage: value(path, unit=None)"),
        ('{{ value(open("x")) }}', "arguments must be literals"),
        ("{{ 1 + 2 }}", "not a directive call"),
        ("{{ value( }}", "not a directive call"),
        ('{{ docstring("os") }}', "only spec modules"),
    ],
)
def test_bad_directives_fail_with_a_reason(directive: str, reason: str) -> None:
    with pytest.raises(DirectiveError) as caught:
        expand(f"text\n{directive}", "docs/p.md")
    assert str(caught.value).startswith(f"docs/p.md:2: {directive}: ")
    assert reason in caught.value.reason


def test_escaped_directive_is_written_literally() -> None:
    assert expand(r'Write \{{ value("x") }} on a page.', "p") == 'Write {{ value("x") }} on a page.'


def test_block_directive_keeps_the_indent_of_its_line() -> None:
    page = '!!! note\n\n    {{ transitions("circuit_breaker") }}\n'
    lines = expand(page, "p").splitlines()[2:]
    assert lines and all(line.startswith("    |") for line in lines)


def test_inline_directive_output_is_not_indented() -> None:
    assert expand('- a {{ value("progress.interval_s") }} b', "p").startswith("- a ")


@given(st.text(alphabet=st.characters(blacklist_characters="{}\\"), max_size=200))
def test_text_without_directives_passes_through_unchanged(text: str) -> None:
    assert expand(text, "p") == text


def test_parse_accepts_keywords() -> None:
    assert parse(' machine("retry", level=2, heading="H") ') == ("machine", ("retry",), {"level": 2, "heading": "H"})


def test_mermaid_fences_are_html_escaped_so_the_browser_text_is_the_source() -> None:
    page = 'x <b>\n\n```mermaid\nflowchart TD\n    a["one<br/>two"] --> b\n```\n'
    escaped = escape_mermaid_fences(page)
    assert 'a["one&lt;br/&gt;two"] --&gt; b' in escaped
    assert escaped.startswith("x <b>")  # only the fence body is touched


def test_machine_section_contains_diagram_and_both_tables() -> None:
    text = expand('{{ machine("circuit_breaker", level=2) }}', "p")
    assert text.startswith("## Circuit breaker")
    assert "```mermaid\nstateDiagram-v2" in text
    assert "| State | Role | Meaning |" in text
    assert "| Trigger | From | To | Description |" in text


def test_story_section_contains_its_sequence_diagram() -> None:
    text = expand('{{ story("task_execution") }}', "p")
    assert "```mermaid\nsequenceDiagram" in text


def test_a_big_story_is_drawn_as_its_happy_path_then_each_case_off_it() -> None:
    text = expand('{{ story("orchestrator_startup") }}', "p")
    assert "Drawn in 4 parts" in text and "`python -m spec render orchestrator_startup`" in text
    titles = [line.strip("*") for line in text.splitlines() if line.startswith("**")]
    assert titles == [part.title for part in story_parts(STORIES["orchestrator_startup"])]
    assert titles[0] == "Happy path" and titles[-1] == "Error Handling During Startup"
    assert text.count("```mermaid\nsequenceDiagram") == 4


def test_a_short_story_stays_one_diagram() -> None:
    text = expand('{{ story("retry_backoff") }}', "p")
    assert text.count("```mermaid\nsequenceDiagram") == 1 and "Drawn in" not in text
