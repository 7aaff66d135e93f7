"""The `sim` package's exceptions: one small hierarchy whose messages say what to fix."""

from __future__ import annotations


class SimError(Exception):
    """Base class of every error raised by :mod:`sim`."""


class ScenarioError(SimError):
    """A scenario file is unreadable or invalid; raised before any simulation starts.

    The message always names the file, the field (as a dotted path) and the reason, e.g.
    ``sim/scenarios/x.yaml: field 'faults[0].at': Input should be greater than or equal to 0``.
    """

    def __init__(self, source: str, field: str, reason: str) -> None:
        self.source = source
        self.field = field
        self.reason = reason
        super().__init__(source, field, reason)

    def __str__(self) -> str:
        return f"{self.source}: field {self.field!r}: {self.reason}"


class UnknownScenarioError(SimError):
    """A scenario name that is neither in the catalogue nor an existing file."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        super().__init__(name)

    def __str__(self) -> str:
        return f"unknown scenario {self.name!r}: not a file, and the catalogue holds: {', '.join(self.known)}"
