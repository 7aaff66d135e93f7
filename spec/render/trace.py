"""A recorded trace as a Mermaid ``sequenceDiagram`` (``python -m spec render --trace FILE``).

The runtime and the simulator write one `TraceEvent` per machine transition, with the
messages that transition carries; drawing them in order shows what actually happened, in the
same notation as the seed's diagrams.

Events without messages (purely internal transitions such as a lease expiring) are drawn as a
``Note over`` the first participant of the diagram, reading ``component: trigger (source -> dest)``,
so no transition of the trace is silently dropped. A note needs a participant, so a trace with
no message at all cannot be drawn and raises :class:`~spec.trace.TraceError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from spec.errors import SpecError
from spec.messages import Message
from spec.participants import Participant, participant
from spec.render.mermaid_text import escape_text
from spec.render.sequence import INDENT, ParticipantIds, message_line
from spec.trace import TraceError, TraceEvent


def _messages(event: TraceEvent, index: int, lookup: Callable[[str], Participant]) -> list[Message]:
    try:
        return [m.to_message(lookup) for m in event.messages]
    except (SpecError, ValueError) as exc:
        raise TraceError(f"event {index} ({event.component} {event.trigger}): {exc}") from None


def render_trace(events: Iterable[TraceEvent], participants: Callable[[str], Participant] = participant) -> str:
    """The trace as a ``sequenceDiagram``, ending with a newline; `participants` resolves the
    messages' participant ids (default: the platform's; a catalogue passes ``Spec.participant``)."""
    drawn: list[TraceEvent | Message] = []
    for index, event in enumerate(events, start=1):
        messages = _messages(event, index, participants)
        drawn.extend(messages if messages else [event])
    ids = ParticipantIds(p for item in drawn if isinstance(item, Message) for p in (item.sender, item.receiver))
    if not len(ids):
        raise TraceError("nothing to draw: the trace holds no messages (every event was internal)")
    body: list[str] = []
    for item in drawn:
        if isinstance(item, Message):
            body.append(message_line(item, ids, 1))
        else:
            text = escape_text(f"{item.component}: {item.trigger} ({item.source} -> {item.dest})")
            body.append(f"{INDENT}Note over {ids[ids.first]}: {text}")
    return "\n".join(["sequenceDiagram", *ids.declarations(), *body]) + "\n"
