"""The directives a page may use, by name, and the error a bad one raises.

A directive is a function from literal arguments to Markdown. Registering them here (rather
than letting pages call arbitrary Python) keeps the page language small enough to document
in one table, which ``{{ directives() }}`` generates from these docstrings.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DirectiveFunction = Callable[..., str]


@dataclass(frozen=True)
class Directive:
    name: str
    function: DirectiveFunction

    @property
    def signature(self) -> str:
        params = []
        for p in inspect.signature(self.function).parameters.values():
            if p.kind is p.VAR_KEYWORD:
                params.append(f"{p.name}=...")
            elif p.default is p.empty:
                params.append(p.name)
            else:
                params.append(f"{p.name}={p.default!r}".replace("'", '"'))
        return f"{self.name}({', '.join(params)})"

    @property
    def summary(self) -> str:
        doc = inspect.getdoc(self.function) or ""
        return doc.split("\n\n")[0].replace("\n", " ")


DIRECTIVES: dict[str, Directive] = {}


def directive(function: DirectiveFunction) -> DirectiveFunction:
    """Register `function` as a directive under its own name."""
    name = function.__name__
    if name in DIRECTIVES:
        raise ValueError(f"directive {name!r} is registered twice")
    DIRECTIVES[name] = Directive(name, function)
    return function


class DirectiveError(Exception):
    """A directive on a page could not be expanded; says which page, line and directive, and why."""

    def __init__(self, page: str, line: int, text: str, reason: str) -> None:
        self.page = page
        self.line = line
        self.text = text
        self.reason = reason
        super().__init__(page, line, text, reason)

    def __str__(self) -> str:
        return f"{self.page}:{self.line}: {self.text}: {self.reason}"


def call(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """Run one directive; an unknown name or wrong arguments raise an error showing the usage."""
    entry = DIRECTIVES.get(name)
    if entry is None:
        raise LookupError(f"unknown directive {name!r}; directives: {', '.join(sorted(DIRECTIVES))}")
    try:
        inspect.signature(entry.function).bind(*args, **kwargs)
    except TypeError as exc:
        raise TypeError(f"{exc}; usage: {entry.signature}") from None
    return entry.function(*args, **kwargs)
