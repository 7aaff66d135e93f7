r"""Escaping text for Mermaid, shared by every renderer in `spec.render`.

Mermaid's grammars end a label at characters that are legal in our message labels: ``;`` and
``#`` end a sequence message, ``:`` splits a state transition from its label, ``"`` and ``|``
end a flowchart label, and ``{``/``}``/``<``/``>`` are read as shapes, directives or HTML.
Mermaid decodes entity codes (``#59;``) in every diagram type, so each renderer replaces the
characters its context chokes on with their decimal entity codes; the rendered text is
unchanged. Line breaks become spaces because every Mermaid statement is one line.

``:`` is escaped everywhere, not only in state diagrams: before parsing, Mermaid strips the
last ``;`` of any line matching ``style.*:\S*#.*;`` (its ``style``/``classDef`` colour
shorthand), which would cut an entity code in a label such as ``style:#1`` in half.
"""

from __future__ import annotations

import re

#: Characters that break sequence-diagram messages, notes, block labels and participant aliases.
SEQUENCE_UNSAFE = frozenset("#;:{}<>")
#: ... state-diagram transition labels and descriptions (which follow a ``:``).
STATE_UNSAFE = SEQUENCE_UNSAFE
#: ... flowchart node and edge labels, which we always quote.
FLOWCHART_UNSAFE = SEQUENCE_UNSAFE | frozenset('"|`')

_ENTITY = re.compile(r"#(\d+);")
#: Every line break Python's ``str.splitlines`` knows; JavaScript regexes treat U+2028/9 as line ends too.
_NEWLINES = re.compile("\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


def escape_text(text: str, unsafe: frozenset[str] = SEQUENCE_UNSAFE) -> str:
    """`text` with every character in `unsafe` written as a Mermaid entity code (``#59;``)."""
    flat = _NEWLINES.sub(" ", text)
    return "".join(f"#{ord(ch)};" if ch in unsafe else ch for ch in flat)


def unescape_text(text: str) -> str:
    """The inverse of :func:`escape_text` (up to newlines): what Mermaid displays."""
    return _ENTITY.sub(lambda m: chr(int(m.group(1))), text)


def safe_id(name: str, taken: set[str]) -> str:
    """A Mermaid node/state id for `name`: letters, digits and ``_`` only, unique within `taken`.

    Ids that are already safe are kept as they are, so the diagram source stays readable;
    Mermaid keywords (``end``, ``state``...) and odd characters get a prefix or replacement.
    """
    candidate = re.sub(r"\W", "_", name, flags=re.ASCII) or "_"
    if not candidate[0].isalpha() or candidate.lower() in _RESERVED:
        candidate = f"s_{candidate}"
    unique, n = candidate, 2
    while unique in taken:
        unique, n = f"{candidate}_{n}", n + 1
    taken.add(unique)
    return unique


_RESERVED = frozenset(
    {
        "end", "state", "note", "as", "direction", "class", "classdef", "style", "linkstyle", "click",
        "subgraph", "graph", "flowchart", "participant", "actor", "loop", "alt", "else", "opt", "par",
        "and", "rect", "critical", "break", "over", "left", "right", "of", "title", "default",
    }
)
