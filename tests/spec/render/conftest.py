"""Structural Mermaid validity checks shared by the renderer tests.

These do not replace Mermaid's parser (see test_mermaid_parse.py, which runs it when Node and
the ``mermaid`` package are available); they catch the mistakes a renderer can make on its
own: an unbalanced ``alt``/``end``, an arrow to an undeclared participant, a raw character
that ends a Mermaid label early.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

ENTITY = re.compile(r"#\d+;")
SEQUENCE_FORBIDDEN = set("#;:{}<>\n")
STATE_FORBIDDEN = SEQUENCE_FORBIDDEN
FLOWCHART_FORBIDDEN = SEQUENCE_FORBIDDEN | {'"', "|", "`"}

_PARTICIPANT = re.compile(r"^    participant (\w+) as (.+)$")
_ARROW = re.compile(r"^\s*(\w+)(->>|-->>|-\))(\w+): (.+)$")
_NOTE_OVER = re.compile(r"^\s*Note over (\w+)(?:,(\w+))?: (.+)$")
_NOTE_SIDE = re.compile(r"^\s*Note (?:left|right) of (\w+): (.+)$")
_BLOCK = re.compile(r"^\s*(loop|alt|opt|else|end)\b ?(.*)$")
#: A shaded block (spec vs actual): a colour, never a label.
_RECT = re.compile(r"^\s*rect rgba\(\d+, \d+, \d+, [\d.]+\)$")


def assert_clean(text: str, forbidden: set[str]) -> None:
    """`text` has no character from `forbidden` except inside entity codes like ``#59;``."""
    bare = ENTITY.sub("", text)
    found = sorted(set(bare) & forbidden)
    assert not found, f"raw {found} in label {text!r}"


def check_sequence(diagram: str) -> dict[str, str]:
    """Validate a sequenceDiagram's structure; return declared participant id -> display name."""
    lines = diagram.rstrip("\n").split("\n")
    assert lines[0] == "sequenceDiagram"
    assert diagram.endswith("\n")
    declared: dict[str, str] = {}
    stack: list[str] = []
    body_started = False
    for line in lines[1:]:
        if m := _PARTICIPANT.match(line):
            assert not body_started, f"participant declared after the body began: {line!r}"
            assert m.group(1) not in declared, f"participant declared twice: {line!r}"
            assert_clean(m.group(2), SEQUENCE_FORBIDDEN)
            declared[m.group(1)] = m.group(2)
            continue
        body_started = True
        if m := _ARROW.match(line):
            assert m.group(1) in declared and m.group(3) in declared, f"undeclared participant in {line!r}"
            assert_clean(m.group(4), SEQUENCE_FORBIDDEN)
        elif m := _NOTE_OVER.match(line):
            assert m.group(1) in declared and (m.group(2) is None or m.group(2) in declared), line
            assert_clean(m.group(3), SEQUENCE_FORBIDDEN)
        elif m := _NOTE_SIDE.match(line):
            assert m.group(1) in declared, line
            assert_clean(m.group(2), SEQUENCE_FORBIDDEN)
        elif _RECT.match(line):
            stack.append("rect")
        elif m := _BLOCK.match(line):
            keyword, label = m.groups()
            assert_clean(label, SEQUENCE_FORBIDDEN)
            if keyword in ("loop", "alt", "opt"):
                stack.append(keyword)
            elif keyword == "else":
                assert stack and stack[-1] == "alt", f"'else' outside an alt block: {line!r}"
            else:
                assert stack, f"'end' without an open block: {line!r}"
                stack.pop()
        else:
            raise AssertionError(f"line is not a known sequenceDiagram statement: {line!r}")
    assert not stack, f"unclosed blocks: {stack}"
    return declared


_STATE_LINE = re.compile(
    r"^    (?:"
    r"\[\*\] --> (?P<initial>\w+)"
    r"|(?P<final>\w+) --> \[\*\]"
    r"|(?P<src>\w+) --> (?P<dst>\w+) : (?P<trigger>.+)"
    r"|(?P<bare_src>\w+) --> (?P<bare_dst>\w+)"
    r"|note left of (?P<noted>\w+) : (?P<note>.+)"
    r'|state "(?P<shown>[^"]+)" as (?P<alias>\w+)'
    r"|(?P<described>\w+) : (?P<description>.+)"
    r")$"
)


def check_state(diagram: str) -> list[tuple[str, str, str]]:
    """Validate a stateDiagram-v2's structure; return its (source, dest, trigger) edges.

    An edge labelled with several triggers (``a<br/>b``) counts once per trigger; an
    unlabelled edge counts once, with the trigger ``""``.
    """
    lines = diagram.rstrip("\n").split("\n")
    assert lines[0] == "stateDiagram-v2"
    assert diagram.endswith("\n")
    edges = []
    for line in lines[1:]:
        m = _STATE_LINE.match(line)
        assert m, f"line is not a known stateDiagram-v2 statement: {line!r}"
        if m.group("trigger") is not None:
            for trigger in m.group("trigger").split("<br/>"):
                assert_clean(trigger, STATE_FORBIDDEN)
                edges.append((m.group("src"), m.group("dst"), trigger))
        if m.group("bare_src") is not None:
            edges.append((m.group("bare_src"), m.group("bare_dst"), ""))
        if m.group("note") is not None:
            assert_clean(m.group("note"), STATE_FORBIDDEN)
        if m.group("description") is not None:
            assert_clean(m.group("description"), STATE_FORBIDDEN)
        if m.group("shown") is not None:
            assert_clean(m.group("shown"), STATE_FORBIDDEN | {'"'})
    return edges


@pytest.fixture
def sequence_checker() -> Callable[[str], dict[str, str]]:
    return check_sequence


@pytest.fixture
def state_checker() -> Callable[[str], list[tuple[str, str, str]]]:
    return check_state
