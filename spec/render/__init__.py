"""Mermaid renderers: they read `spec`'s tables and return diagram source text, never touching `transitions`."""

from __future__ import annotations

from spec.render.comparison import render_comparison
from spec.render.flowchart import render_error_flowchart
from spec.render.sequence import render_sequence, render_sequence_parts
from spec.render.state import render_state
from spec.render.trace import render_trace

__all__ = [
    "render_comparison",
    "render_error_flowchart",
    "render_sequence",
    "render_sequence_parts",
    "render_state",
    "render_trace",
]
