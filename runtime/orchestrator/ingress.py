"""Poison-proof ingress: every JSON document that enters is one the store can always serve back.

Python's ``json`` module accepts what JSON does not: ``NaN``/``Infinity`` and lone UTF-16
surrogates (``"\\ud800"``, or their raw UTF-8 bytes, which ``json.loads`` lets through). Stored,
such a value makes every later read of its row fail to serialise — one submission used to wedge
the queue. So each HTTP body and WebSocket message is first parsed by pydantic-core's strict
parser (jiter: no NaN/Infinity, no lone surrogates, at most `MAX_JSON_DEPTH` levels); only when
that refuses the document is it parsed again to say *where*: the field path in wire spelling
(``payload.x``, ``reports.0.result``) and why.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import pydantic_core

from runtime.protocol import MAX_JSON_DEPTH


@dataclass(frozen=True)
class IngressProblem:
    """Why a document was refused: HTTP status, the field (wire path) and the reason."""

    status: int
    field: str
    reason: str


def check_json(document: bytes | str, root: str = "body") -> IngressProblem | None:
    """``None`` if `document` is strict JSON; otherwise what is wrong with it and where."""
    try:
        pydantic_core.from_json(document, allow_inf_nan=False)
        return None
    except ValueError as exc:
        strict_error = str(exc)
    try:
        value = json.loads(document)
    except RecursionError:
        return _too_deep(root)
    except ValueError as exc:
        return IngressProblem(400, root, f"malformed JSON: {exc}")
    found = _find_poison(value, root)
    if found is not None:
        return found
    if "recursion limit" in strict_error:
        return _too_deep(root)
    return IngressProblem(400, root, f"malformed JSON: {strict_error}")


def _too_deep(root: str) -> IngressProblem:
    return IngressProblem(400, root, f"JSON nested deeper than {MAX_JSON_DEPTH} levels")


def _bad_string(text: str) -> str | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone UTF-16 surrogate (not valid Unicode text)"
    return None


def _find_poison(value: Any, root: str) -> IngressProblem | None:
    """The first NaN/Infinity or lone surrogate (in a key or a string), depth first; iterative."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        where = ".".join(path) or root
        if isinstance(item, float) and not math.isfinite(item):
            return IngressProblem(422, where, f"{item!r} is not a JSON number; send a finite number or null")
        if isinstance(item, str):
            reason = _bad_string(item)
            if reason is not None:
                return IngressProblem(422, where, f"string {reason}")
        elif isinstance(item, dict):
            if len(path) >= MAX_JSON_DEPTH:
                return _too_deep(root)
            for key, child in reversed(item.items()):
                reason = _bad_string(key)
                if reason is not None:
                    return IngressProblem(422, where, f"a key {reason}")
                stack.append((child, (*path, key)))
        elif isinstance(item, list):
            if len(path) >= MAX_JSON_DEPTH:
                return _too_deep(root)
            stack.extend((child, (*path, str(i))) for i, child in reversed(list(enumerate(item))))
    return None
