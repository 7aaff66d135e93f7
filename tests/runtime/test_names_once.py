"""Issue 11, "names once", for the runtime: machine states and triggers through the spec's enums.

The same AST scan as the simulator's (`tests.sim.test_names_once`), over every module of
`runtime/`: a ``fire("…")``/``can_fire("…")`` with a literal, or a comparison of a state, source,
destination, trigger or kind with a literal machine name, is a second copy of the name.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sim.test_names_once import NAMES, typed_names

RUNTIME = Path(__file__).resolve().parents[2] / "runtime"


@pytest.mark.parametrize("path", sorted(RUNTIME.rglob("*.py")), ids=lambda p: str(p.relative_to(RUNTIME)))
def test_the_runtime_uses_the_machines_enums_for_their_names(path: Path) -> None:
    typed = [(line, name) for line, name in typed_names(path.read_text(encoding="utf-8")) if name in NAMES]
    assert typed == [], f"{path.relative_to(RUNTIME)}: names typed as literals (use the spec machine's enum): {typed}"
