"""The ``api_reference`` directive: mkdocstrings blocks for a package's public API.

The members come from the package's ``__all__``, grouped by the module that defines them, so a
name added to or dropped from ``__all__`` changes the reference page with no edit to it. The
directive writes ``::: module`` blocks; mkdocstrings (configured in mkdocs.yml) renders them
from the docstrings later in the same build.
"""

from __future__ import annotations

import importlib
import inspect
from collections import defaultdict
from types import ModuleType
from typing import Any

from spec_docs.registry import directive

#: The packages whose public API the site documents; any other name is refused.
DOCUMENTED_PACKAGES = ("spec", "runtime", "sim")


def _package(name: str) -> ModuleType:
    if name not in DOCUMENTED_PACKAGES:
        raise ValueError(f"unknown package {name!r}; documented packages: {', '.join(DOCUMENTED_PACKAGES)}")
    package = importlib.import_module(name)
    if not isinstance(getattr(package, "__all__", None), (list, tuple)):
        raise ValueError(f"package {name!r} has no __all__ list; its public API must be declared there")
    return package


def _static_paths(package: str) -> dict[str, str]:
    """Where griffe finds each exported name; used for constants, which carry no ``__module__``."""
    import griffe

    loaded = griffe.load(package, resolve_aliases=True, resolve_external=False)
    found: dict[str, str] = {}
    for exported in loaded.exports or ():
        name = str(exported)  # griffe may hold an expression for a computed __all__ entry
        member = loaded[name]
        found[name] = member.final_target.path if member.is_alias else member.path
    return found


def defining_module(package: ModuleType, name: str, static: dict[str, str]) -> str:
    """The module that defines ``package.name`` (a re-export is documented where it is written)."""
    try:
        value: Any = getattr(package, name)
    except AttributeError:
        raise ValueError(f"{package.__name__}.__all__ names {name!r}, which the package does not define") from None
    if (inspect.isclass(value) or inspect.isfunction(value)) and "." not in value.__qualname__:
        return str(value.__module__)
    if name not in static:
        raise ValueError(f"cannot tell where {package.__name__}.{name} is defined; griffe does not see it exported")
    return static[name].rsplit(".", 1)[0]


def public_api(name: str) -> dict[str, list[str]]:
    """``{module: [exported names defined there]}`` for a documented package, modules sorted."""
    package = _package(name)
    static = _static_paths(name)
    grouped: dict[str, list[str]] = defaultdict(list)
    for exported in package.__all__:
        grouped[defining_module(package, exported, static)].append(exported)
    return {module: sorted(grouped[module], key=str.lower) for module in sorted(grouped)}


@directive
def api_reference(package: str) -> str:
    """A package's public API (its ``__all__``) rendered by mkdocstrings, one section per defining module."""
    blocks = []
    for module, names in public_api(package).items():
        members = "\n".join(f"        - {n}" for n in names)
        blocks.append(f"::: {module}\n    options:\n      members:\n{members}")
    return "\n\n".join(blocks)
