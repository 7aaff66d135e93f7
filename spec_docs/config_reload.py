"""The hot-reload table: which orchestrator settings an edited file changes while running.

Read from ``runtime.config_reload.RELOAD_RULES``, the table the reload decision itself uses, so
a field made reloadable (or not) changes the page with it.
"""

from __future__ import annotations

from runtime.config_reload import RELOAD_RULES
from spec_docs.formatting import code, table
from spec_docs.registry import directive


@directive
def reload_rules() -> str:
    """A table of setting prefixes and whether a reload applies them or refuses them (restart needed)."""
    rows = [
        (code(prefix), "applied by a reload" if reloadable else "needs a restart: a reload that changes it is refused")
        for prefix, reloadable in sorted(RELOAD_RULES.rules.items())
    ]
    return table(("Setting (and everything under it)", "While running"), rows)
