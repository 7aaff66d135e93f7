"""A griffe extension for the API reference: Sphinx roles read as code spans, no project-tracker references.

The packages' docstrings name other objects the Sphinx way (``:class:`TraceEvent```,
``:mod:`spec```), which mkdocstrings would print literally. Rewriting them to plain code spans
when griffe loads the docstrings keeps the reference readable without editing the sources.
Developers' docstrings also cite the project's issues ("(seed 4.4, issue 3 §7)"), which mean
nothing to a reader of the site: :func:`without_issue_refs` drops them (the HTTP API page
applies it to the route docstrings too). Wired in mkdocs.yml under the python handler's
``extensions``.
"""

from __future__ import annotations

import ast
import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:mod|class|func|meth|data|attr|exc|obj|const):`~?(?P<target>[^`]+)`")


#: One reference to a project issue: ``issue 3``, ``issue 3 §6–8``, ``issue 5, §3-4``, ``issue 3 "Performance"``.
_ISSUE = r'issue \d+(?:,? ?§[\d–-]+(?:, ?§[\d–-]+)*|,? ?"[^"]*")?'
_ISSUE_REF = re.compile(_ISSUE, re.IGNORECASE)
#: "Issue 3 §1 asks for X": the sentence is about X.
_ISSUE_ASKS = re.compile(rf"\b{_ISSUE} asks for ", re.IGNORECASE)
_PARENS = re.compile(r" ?\(([^()]*)\)")


def _drop_from_parentheses(match: re.Match[str]) -> str:
    inner = match.group(1)
    if not _ISSUE_REF.search(inner):
        return match.group(0)
    parts = [" ".join(_ISSUE_REF.sub("", part).split()).strip(" ,:") for part in inner.split(";")]
    kept = "; ".join(part for part in parts if part)
    return f" ({kept})" if kept else ""


def without_issue_refs(text: str) -> str:
    """``Drives X (seed 4.4, issue 3 §7).`` → ``Drives X (seed 4.4).``; ``(issue 6 §2)`` disappears."""
    text = _ISSUE_ASKS.sub("The runtime provides ", text)
    return _PARENS.sub(_drop_from_parentheses, text)


def plain_roles(text: str) -> str:
    """``:class:`~spec.trace.TraceEvent``` → ```spec.trace.TraceEvent```."""
    return _ROLE.sub(lambda m: f"`{m.group('target')}`", text)


class SphinxRolesAsCode(griffe.Extension):
    """Rewrites the roles in every docstring griffe loads."""

    def on_instance(self, *, node: ast.AST | griffe.ObjectNode, obj: griffe.Object,
                    agent: griffe.Visitor | griffe.Inspector, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = without_issue_refs(plain_roles(obj.docstring.value))
