"""The `spec` package's exceptions: one small hierarchy whose messages say what to do next."""

from __future__ import annotations

from collections.abc import Iterable


class SpecError(Exception):
    """Base class of every error raised by :mod:`spec`."""


class UnknownParticipantError(SpecError, KeyError):
    """A message or scenario named a participant that `spec.participants` does not declare."""

    def __init__(self, participant_id: str, known: Iterable[str]) -> None:
        self.participant_id = participant_id
        self.known = sorted(known)
        super().__init__(participant_id)

    def __str__(self) -> str:
        return f"unknown participant {self.participant_id!r}; declared participants: {', '.join(self.known)}"


class UnknownDiagramError(SpecError, KeyError):
    """`render` was asked for a diagram (or a kind of it) that the catalogue does not hold."""

    def __init__(self, name: str, known: Iterable[str], kind: str | None = None) -> None:
        self.name = name
        self.kind = kind
        self.known = sorted(known)
        super().__init__(name)

    def __str__(self) -> str:
        what = f"{self.kind} diagram {self.name!r}" if self.kind else f"diagram {self.name!r}"
        return f"unknown {what}; known diagrams: {', '.join(self.known)}"


class UnknownMachineError(SpecError, KeyError):
    """A machine name that no module in `spec.machines` defines."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.known = sorted(known)
        super().__init__(name)

    def __str__(self) -> str:
        return f"unknown machine {self.name!r}; known machines: {', '.join(self.known)}"


class IllegalTransitionError(SpecError):
    """A trigger was fired in a state that has no transition for it.

    The runtime turns this into a 409 for HTTP callers; the message lists what *would* have
    been legal so a reader can see which step was skipped.
    """

    def __init__(self, machine: str, state: str, trigger: str, allowed: Iterable[str]) -> None:
        self.machine = machine
        self.state = state
        self.trigger = trigger
        self.allowed = sorted(allowed)
        super().__init__(machine, state, trigger)

    def __str__(self) -> str:
        allowed = ", ".join(self.allowed) if self.allowed else "none (terminal state)"
        return (
            f"{self.machine}: trigger {self.trigger!r} is not allowed in state {self.state!r}; "
            f"allowed triggers there: {allowed}"
        )


class UnknownTriggerError(SpecError):
    """A trigger name that the machine does not declare at all (usually a typo)."""

    def __init__(self, machine: str, trigger: str, known: Iterable[str]) -> None:
        self.machine = machine
        self.trigger = trigger
        self.known = sorted(known)
        super().__init__(machine, trigger)

    def __str__(self) -> str:
        return f"{self.machine}: unknown trigger {self.trigger!r}; declared triggers: {', '.join(self.known)}"


class StoryError(SpecError):
    """A sequence story references a trigger its machine cannot take at that point."""


class ServiceOrderError(SpecError):
    """The declared service dependency graph has a cycle or names an undeclared service."""


class SpecLoadError(SpecError):
    """``--spec`` names no catalogue: a bad reference, a missing module or attribute, or not a `spec.Spec`."""
