"""Issue 11, "names once": the simulator fires and compares the spec's state and trigger names
through the machine modules' enums, never as string literals it typed itself.

An AST scan of ``sim/``: a ``fire("…")`` with a literal trigger, or a comparison of a state,
destination, source, trigger or report kind against a literal that is one of those names, is a
second copy of the name and fails here.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from enum import StrEnum
from pathlib import Path

import pytest

import spec.machines
from spec.machines import MACHINES

SIM = Path(__file__).resolve().parents[2] / "sim"
#: Every machine module, found rather than listed: a new machine is scanned for with no edit here.
_MODULES = tuple(importlib.import_module(f"spec.machines.{info.name}")
                 for info in pkgutil.iter_modules(spec.machines.__path__))
_ENUMS: tuple[type[StrEnum], ...] = tuple(dict.fromkeys(  # each once, though modules alias them (S, T)
    value for module in _MODULES for value in vars(module).values()
    if isinstance(value, type) and issubclass(value, StrEnum) and value.__module__ == module.__name__
))
NAMES = frozenset(str(member) for enum in _ENUMS for member in enum)
_NAMED = ("state", "dest", "source", "trigger", "kind")


def _literals(node: ast.expr) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.Set, ast.List)):
        return [v for element in node.elts for v in _literals(element)]
    if isinstance(node, ast.IfExp):
        return _literals(node.body) + _literals(node.orelse)
    return []


def _called(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _names_a_state(node: ast.expr) -> bool:
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
    return name.endswith(_NAMED)


def typed_names(source: str) -> list[tuple[int, str]]:
    """(line, literal) for every machine name typed as a literal where a state/trigger is meant."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and "fire" in _called(node.func):  # fire, can_fire, _fire_if_legal, ...
            found += [(node.lineno, v) for v in _literals(node.args[0])] if node.args else []
        elif isinstance(node, ast.For) and _names_a_state(node.target):  # for trigger in ("a", "b"): fire(trigger)
            found += [(node.lineno, v) for v in _literals(node.iter) if v in NAMES]
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_names_a_state(side) for side in sides):
                found += [(node.lineno, v) for side in sides for v in _literals(side) if v in NAMES]
    return found


@pytest.mark.parametrize("path", sorted(SIM.glob("*.py")), ids=lambda p: p.name)
def test_the_simulator_uses_the_machines_enums_for_their_names(path: Path) -> None:
    typed = [(line, name) for line, name in typed_names(path.read_text(encoding="utf-8")) if name in NAMES]
    assert typed == [], f"{path.name}: names typed as literals (use the spec machine's enum): {typed}"


def test_the_scan_catches_a_typed_trigger_and_a_typed_state() -> None:
    source = ('machine.fire("heartbeat")\nif worker.machine.state == "busy": pass\n'
              'if kind in ("lease_lost", "x"): pass\n'
              'if m.can_fire("poll"): self._fire_if_legal("a" if x else "idle")\n'
              'for trigger in ("queue_paused", "x"): m.fire(trigger)\n')
    assert sorted(typed_names(source)) == [(1, "heartbeat"), (2, "busy"), (3, "lease_lost"), (4, "a"), (4, "idle"),
                                           (4, "poll"), (5, "queue_paused")]
    assert typed_names("machine.fire(WorkerTrigger.HEARTBEAT)\nif state == WorkerState.BUSY: pass\n") == []


def test_every_machine_names_its_states_and_triggers_in_enums() -> None:
    """Each machine's states and triggers are all members of its module's enums, so no consumer
    has a reason to type one."""
    missing = {
        machine.name: sorted(set((*machine.state_names, *machine.triggers)) - NAMES)
        for machine in MACHINES.values()
    }
    assert {name: names for name, names in missing.items() if names} == {}
