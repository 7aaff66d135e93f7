"""A griffe extension for the API reference: Sphinx cross-reference roles read as code spans.

The packages' docstrings name other objects the Sphinx way (``:class:`TraceEvent```,
``:mod:`spec```), which mkdocstrings would print literally. Rewriting them to plain code spans
when griffe loads the docstrings keeps the reference readable without editing the sources.
Wired in mkdocs.yml under the python handler's ``extensions``.
"""

from __future__ import annotations

import ast
import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:mod|class|func|meth|data|attr|exc|obj|const):`~?(?P<target>[^`]+)`")


def plain_roles(text: str) -> str:
    """``:class:`~spec.trace.TraceEvent``` → ```spec.trace.TraceEvent```."""
    return _ROLE.sub(lambda m: f"`{m.group('target')}`", text)


class SphinxRolesAsCode(griffe.Extension):
    """Rewrites the roles in every docstring griffe loads."""

    def on_instance(self, *, node: ast.AST | griffe.ObjectNode, obj: griffe.Object,
                    agent: griffe.Visitor | griffe.Inspector, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = plain_roles(obj.docstring.value)
