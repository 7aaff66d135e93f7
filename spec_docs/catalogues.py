"""Directives for any catalogue, not only the platform's (issue 17): a `spec.Spec` named ``MODULE:ATTR``.

``catalogue_diagram("payment", spec="spec.examples.payments:SPEC")`` draws one of its diagrams,
``catalogue_check(spec=...)`` shows its graph checks, and ``module_source("spec.examples.payments")``
shows a module's code, so a tutorial page shows exactly the code the test suite runs. Without
``spec=``, both draw the site's catalogue: the plugin's ``spec`` option (`use_catalogue`).
"""

from __future__ import annotations

import importlib
import inspect

from spec.specification import Spec, load_spec
from spec_docs.diagrams import mermaid
from spec_docs.formatting import table
from spec_docs.registry import directive

_site_catalogue: str | None = None


def use_catalogue(reference: str | None) -> None:
    """Make `reference` (``MODULE:ATTR`` or an entry-point name) the catalogue drawn when a page names none."""
    global _site_catalogue
    _site_catalogue = reference


def _catalogue(spec: str | None) -> tuple[str, Spec]:
    reference = spec if spec is not None else _site_catalogue
    if reference is None:
        raise ValueError("no catalogue: pass spec=\"MODULE:ATTR\" or set the plugin's option "
                         "(plugins: - orchestration-spec: {spec: MODULE:ATTR})")
    return reference, load_spec(reference)


@directive
def catalogue_diagram(name: str, spec: str | None = None, kind: str | None = None) -> str:
    """A diagram of the catalogue ``spec`` names (default: the plugin's), in its default kind or the kind given."""
    return mermaid(_catalogue(spec)[1].render(name, kind))


@directive
def catalogue_check(spec: str | None = None) -> str:
    """The graph checks of the catalogue ``spec`` names (default: the plugin's); a failing check fails the build."""
    reference, catalogue = _catalogue(spec)
    report = catalogue.check()
    if not report.ok:
        raise ValueError(f"{reference} fails its checks: {'; '.join(report.problems)}")
    return table(("check", "result"), [(r.name, "passed") for r in report.results])


@directive
def module_source(module: str) -> str:
    """The source of an importable module as a Python code block (the tutorial's code is the tested code)."""
    source = inspect.getsource(importlib.import_module(module))
    return f"```python\n{source.rstrip()}\n```"


__all__ = ["catalogue_check", "catalogue_diagram", "module_source"]
