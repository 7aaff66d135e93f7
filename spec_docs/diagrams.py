"""Directives that draw: Mermaid blocks from `spec.render`, and the sections built around them.

`spec.render`, `spec.catalog` and `spec.sequences` are imported when a directive runs, not when
the hook loads, so a page that draws nothing still builds while they are being written, and a
page that does draw fails with the name of the missing module instead of an empty diagram.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from spec import machines as spec_machines
from spec import policies
from spec_docs.formatting import code, inline_text, table
from spec_docs.registry import directive
from spec_docs.tables import state_table, transition_table

#: A story whose whole diagram is longer than this many Mermaid lines is drawn in parts (happy
#: path first, then each side block; `spec.story_parts`): at 1440×900 a longer one no longer
#: fits a screen or two at a legible size.
SPLIT_ABOVE_LINES = 60


def spec_module(name: str) -> ModuleType:
    """Import ``spec.<name>`` or fail with what is missing (a build error, never an empty page)."""
    try:
        return importlib.import_module(f"spec.{name}")
    except ModuleNotFoundError as exc:
        raise RuntimeError(f"spec.{name} cannot be imported ({exc}); the docs draw diagrams through it") from exc


def mermaid(source: str) -> str:
    """A fenced Mermaid block, rendered in the browser by mermaid2 and Material's loader."""
    if not source.strip():
        raise ValueError("the renderer returned an empty diagram")
    return f"```mermaid\n{source.strip()}\n```"


def _heading(level: int, text: str) -> str:
    if not 1 <= level <= 6:
        raise ValueError(f"level must be 1..6, got {level}")
    return f"{'#' * level} {text}"


def _story(name: str) -> Any:
    stories = spec_module("sequences").STORIES
    try:
        return stories[name]
    except KeyError:
        raise KeyError(f"unknown story {name!r}; stories: {', '.join(sorted(stories))}") from None


@directive
def diagram(name: str, kind: str | None = None) -> str:
    """A diagram from the catalogue (``python -m spec list``), in its default kind or the kind given."""
    catalog = spec_module("catalog")
    if name not in catalog.DIAGRAMS:
        raise KeyError(f"unknown diagram {name!r}; diagrams: {', '.join(sorted(catalog.DIAGRAMS))}")
    # Policies are passed at call time: numbers drawn in the diagram follow the current spec.
    return mermaid(catalog.render_diagram(name, kind, policies=policies.DEFAULT_POLICIES))


@directive
def machine(name: str, level: int = 3, heading: str | None = None) -> str:
    """A machine's section: heading (its title unless given), description, state diagram, states and transitions."""
    spec = spec_machines.machine(name)
    render = spec_module("render")
    parts = [
        _heading(level, heading or spec.title),
        f"Seed section {spec.seed_section} · machine {code(spec.name)} · "
        f"{len(spec.states)} states, {len(spec.transitions)} transitions, initial state {code(spec.initial)}.",
        " ".join(spec.description.split()),
        mermaid(render.render_state(spec)),
        "**States**",
        state_table(spec),
        "**Transitions**",
        transition_table(spec),
    ]
    return "\n\n".join(parts)


@directive
def story(name: str, level: int = 3, heading: str | None = None) -> str:
    """A sequence story's section: heading (its title unless given), description and sequence diagram."""
    found = _story(name)
    render = spec_module("render")
    parts = [
        _heading(level, heading or found.title),
        f"Seed section {found.seed_section} · story {code(found.name)} · machines: "
        + ", ".join(code(m) for m in found.machines)
        + ".",
        " ".join(found.description.split()),
    ]
    whole = render.render_sequence(found)
    pieces = render.render_sequence_parts(found)
    if len(whole.splitlines()) <= SPLIT_ABOVE_LINES or len(pieces) == 1:
        return "\n\n".join([*parts, mermaid(whole)])
    parts.append(
        f"Drawn in {len(pieces)} parts: the happy path, then each case off it "
        f"(`python -m spec render {found.name}` draws it whole)."
    )
    for title, source in pieces:
        parts += [f"**{inline_text(title)}**", mermaid(source)]
    return "\n\n".join(parts)


@directive
def error_flowchart() -> str:
    """The error classification and handling flowchart, drawn from the taxonomy."""
    return mermaid(spec_module("render").render_error_flowchart(policies=policies.DEFAULT_POLICIES))


@directive
def diagram_catalogue() -> str:
    """Every diagram ``python -m spec render`` knows: name, title, seed section, kinds (default first)."""
    catalog = spec_module("catalog")
    rows = []
    for name in sorted(catalog.DIAGRAMS):
        entry = catalog.DIAGRAMS[name]
        kinds = sorted(entry.kinds, key=lambda k: (k != entry.default_kind, k))
        rows.append([code(name), entry.title, str(entry.seed_section), ", ".join(kinds)])
    return table(["Name", "Title", "Seed section", "Kinds (default first)"], rows)


@directive
def story_catalogue() -> str:
    """Every sequence story: name, title, seed section and the machines it walks."""
    stories = spec_module("sequences").STORIES
    rows = [
        [code(s.name), s.title, s.seed_section, ", ".join(code(m) for m in s.machines)]
        for s in stories.values()
    ]
    return table(["Story", "Title", "Seed section", "Machines"], rows)
