"""Messages exchanged between participants, attached to machine transitions.

A transition in `spec.machines` is not only "state A becomes state B": it says which messages
cross the wire when it happens. Sequence diagrams are generated from these, so the diagram and
the machine cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from spec.participants import Participant


class MessageKind(StrEnum):
    """How a message travels; the Mermaid arrow follows from it."""

    CALL = "call"  # synchronous request; the caller waits for a reply
    REPLY = "reply"  # the answer to an earlier call
    ASYNC = "async"  # fire-and-forget push (WebSocket events, progress streams)
    SELF = "self"  # a participant's own step, shown as an arrow to itself


@dataclass(frozen=True)
class Message:
    """One arrow of a sequence diagram."""

    sender: Participant
    receiver: Participant
    label: str
    kind: MessageKind = MessageKind.CALL

    def __post_init__(self) -> None:
        if self.kind is MessageKind.SELF and self.sender != self.receiver:
            raise ValueError(f"self message {self.label!r} must have sender == receiver")
        if not self.label.strip():
            raise ValueError("message label must not be empty")


def call(sender: Participant, receiver: Participant, label: str) -> Message:
    """A synchronous request from `sender` to `receiver`."""
    return Message(sender, receiver, label, MessageKind.CALL)


def reply(sender: Participant, receiver: Participant, label: str) -> Message:
    """The reply to an earlier :func:`call`."""
    return Message(sender, receiver, label, MessageKind.REPLY)


def push(sender: Participant, receiver: Participant, label: str) -> Message:
    """An asynchronous event the sender does not wait on."""
    return Message(sender, receiver, label, MessageKind.ASYNC)


def step(actor: Participant, label: str) -> Message:
    """A participant's internal step (an arrow to itself in the seed's diagrams)."""
    return Message(actor, actor, label, MessageKind.SELF)
