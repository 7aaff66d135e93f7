"""The simulator's fault table: every declared fault kind, its scenario fields and its effect.

Kinds and effects come from ``spec.injected_faults``, the fields from the scenario schema in
``sim.scenario``, so a new kind or a renamed field changes the page with it.
"""

from __future__ import annotations

from typing import get_args

from sim.scenario import FAULT_KINDS, Fault
from spec.injected_faults import FAULT_EFFECTS
from spec_docs.formatting import code, table
from spec_docs.registry import directive

_COMMON = ("kind", "at")


@directive
def fault_table() -> str:
    """A table of the fault kinds a scenario may inject: kind, fields besides ``at``, effect."""
    models = {get_args(model.model_fields["kind"].annotation)[0]: model for model in get_args(get_args(Fault)[0])}
    rows = []
    for kind in FAULT_KINDS:
        fields = [
            code(name) + ("" if info.is_required() else " (optional)")
            for name, info in models[kind].model_fields.items()
            if name not in _COMMON
        ]
        rows.append((code(str(kind)), ", ".join(fields) or "—", FAULT_EFFECTS[kind]))
    return table(("Fault kind", "Fields (besides `at`)", "Effect"), rows)
