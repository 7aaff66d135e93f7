"""Expanding ``{{ name(args) }}`` directives in a page's Markdown.

The syntax looks like a template call but is parsed with :mod:`ast` and accepts only literal
arguments, so a page cannot run code and every failure can name the page, the line and the
directive. ``\\{{`` writes a literal ``{{`` (used by the page that documents the directives).
A directive alone on an indented line (inside a list, admonition or tab) keeps that indent on
every line of its output. Mermaid fences are HTML-escaped last (see `escape_mermaid_fences`).
"""

from __future__ import annotations

import ast
import html
import re
from typing import Any

# Registration happens on import: these modules add their directives to the registry.
from spec_docs import (  # noqa: F401
    api_reference,
    asyncapi_docs,
    catalogues,
    config_reload,
    diagrams,
    faults,
    monitoring,
    openapi,
    optimisation,
    recorded,
    tables,
    values,
)
from spec_docs.registry import DirectiveError, call

_DIRECTIVE = re.compile(r"(?<!\\)\{\{(?P<body>[^\n]*?)\}\}")
_ESCAPED = re.compile(r"\\\{\{")


def parse(body: str) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    """``diagram("x", kind="state")`` → ``("diagram", ("x",), {"kind": "state"})``."""
    try:
        tree = ast.parse(body.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"not a directive call ({exc.msg}); write name(\"argument\", key=\"value\")") from None
    node = tree.body
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise ValueError('not a directive call; write name("argument", key="value")')
    try:
        args = tuple(ast.literal_eval(a) for a in node.args)
        kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg is not None}
    except ValueError:
        raise ValueError("arguments must be literals (strings, numbers, True/False/None)") from None
    if any(k.arg is None for k in node.keywords):
        raise ValueError("**kwargs are not allowed in directives")
    return node.func.id, args, kwargs


def expand(markdown: str, page: str) -> str:
    """Replace every directive in `markdown`; raise :class:`DirectiveError` at the first bad one."""

    def replace(match: re.Match[str]) -> str:
        text = match.group(0)
        line = markdown.count("\n", 0, match.start()) + 1
        try:
            name, args, kwargs = parse(match.group("body"))
            output = call(name, args, kwargs)
        except DirectiveError:
            raise
        except Exception as exc:  # every failure becomes a build error naming page and directive
            raise DirectiveError(page, line, text, _reason(exc)) from exc
        return _indent_continuation(markdown, match.start(), output)

    expanded = _DIRECTIVE.sub(replace, markdown)
    return escape_mermaid_fences(_ESCAPED.sub("{{", expanded))


_MERMAID_FENCE = re.compile(r"^(?P<indent>[ \t]*)```mermaid[ \t]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)


def escape_mermaid_fences(markdown: str) -> str:
    """HTML-escape the body of every Mermaid fence.

    mermaid2's Material fence (``fence_mermaid_custom``) writes the diagram into the page
    unescaped, and Material hands Mermaid the element's ``textContent``: a ``<br/>`` in a label
    would become an HTML element and vanish. Escaped here, the browser's text is the source.
    """

    def escape(match: re.Match[str]) -> str:
        body = html.escape(match.group("body"), quote=False)
        return match.group(0).replace(match.group("body"), body, 1)

    return _MERMAID_FENCE.sub(escape, markdown)


def _reason(exc: Exception) -> str:
    """The message of `exc`; a plain ``KeyError`` would otherwise print its argument quoted."""
    if type(exc).__str__ is KeyError.__str__ and exc.args:
        return str(exc.args[0])
    return str(exc) or type(exc).__name__


def _indent_continuation(markdown: str, start: int, output: str) -> str:
    """Indent lines 2.. of `output` like the directive's own line, if it stands alone there."""
    line_start = markdown.rfind("\n", 0, start) + 1
    prefix = markdown[line_start:start]
    if not prefix or prefix.strip():
        return output
    return output.replace("\n", "\n" + prefix)
