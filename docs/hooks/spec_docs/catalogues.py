"""Directives for any catalogue, not only the platform's (issue 17): a `spec.Spec` named ``MODULE:ATTR``.

``catalogue_diagram("payment", spec="spec.examples.payments:SPEC")`` draws one of its diagrams,
``catalogue_check(spec=...)`` shows its graph checks, and ``module_source("spec.examples.payments")``
shows a module's code, so a tutorial page shows exactly the code the test suite runs.
"""

from __future__ import annotations

import importlib
import inspect

from spec.specification import load_spec
from spec_docs.diagrams import mermaid
from spec_docs.formatting import table
from spec_docs.registry import directive


@directive
def catalogue_diagram(name: str, spec: str, kind: str | None = None) -> str:
    """A diagram of the catalogue ``spec`` names (``MODULE:ATTR``), in its default kind or the kind given."""
    return mermaid(load_spec(spec).render(name, kind))


@directive
def catalogue_check(spec: str) -> str:
    """The graph checks of the catalogue ``spec`` names, as a table; a failing check fails the build."""
    report = load_spec(spec).check()
    if not report.ok:
        raise ValueError(f"{spec} fails its checks: {'; '.join(report.problems)}")
    return table(("check", "result"), [(r.name, "passed") for r in report.results])


@directive
def module_source(module: str) -> str:
    """The source of an importable module as a Python code block (the tutorial's code is the tested code)."""
    source = inspect.getsource(importlib.import_module(module))
    return f"```python\n{source.rstrip()}\n```"


__all__ = ["catalogue_check", "catalogue_diagram", "module_source"]
