"""The trace format: one JSON object per line, one line per machine transition.

The reference runtime and the simulator write it; `spec.conformance` replays it on the
machines; ``python -m spec render --trace FILE`` draws it as a sequence diagram. Users' own
runtimes can write it too, so it is versioned: readers accept every ``version`` they know and
refuse others with a clear message.

Line format (version 1)::

    {"version": 1, "time": 12.5, "component": "task:42", "machine": "task_lifecycle",
     "trigger": "start", "source": "assigned", "dest": "running",
     "messages": [{"sender": "worker", "receiver": "orchestrator",
                   "label": "POST /api/v1/tasks/started", "kind": "call"}],
     "data": {"workerId": "w-1"}}

``time`` is seconds on the writer's clock (wall clock for the runtime, simulated time for the
simulator); only differences matter. ``component`` names one machine instance. The keys of
``data`` are the :class:`TraceKey` vocabulary, written by the runtime and the simulator alike and
read by the checkers: a key spelt differently would make a timing rule silently unchecked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from spec.errors import SpecError
from spec.machine import TransitionRecord
from spec.messages import Message, MessageKind
from spec.participants import Participant, participant

TRACE_VERSION = 1
SUPPORTED_VERSIONS = frozenset({1})


class TraceKey(StrEnum):
    """The keys of a trace event's ``data``: camelCase, as on the wire, with seconds marked ``S``."""

    RETRY_AFTER_S = "retryAfterS"  # rate_limit.limited_with_retry_after: the Retry-After honoured
    WAIT_S = "waitS"  # rate_limit.limited_*: the wait before the retry
    DELAY_S = "delayS"  # retry.fail_retryable: the backoff wait before the retry
    RETRY = "retry"  # retry.fail_retryable: the retry's number, 1-based
    FIRST_ATTEMPT_AT = "firstAttemptAt"  # retry.attempt, bound late by the simulator
    WORKER_ID = "workerId"
    TASK_ID = "taskId"
    SERVICE = "service"
    TOKEN = "token"  # task_lifecycle.assign: the lease's fencing token
    REASON = "reason"
    REPLY = "reply"
    FAILURES = "failures"  # circuit_breaker.trip: the failure times in the window
    LAST_SEEN = "lastSeen"  # worker_lifecycle.heartbeats_missed: the last heartbeat's time
    ATTEMPT = "attempt"  # orchestrator_startup.database_attempt_failed
    PHASE_STATE = "phaseState"  # orchestrator_startup.startup_timed_out: the state that ran out of time
    RUNNING = "running"  # orchestrator_shutdown: tasks still leased
    FIELDS = "fields"  # config_reload: the dotted settings fields applied, or refused for needing a restart


class TraceError(SpecError):
    """A trace file is unreadable: the message names the file, line and field."""


class TraceMessage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sender: str
    receiver: str
    label: str
    kind: MessageKind

    @classmethod
    def from_message(cls, message: Message) -> TraceMessage:
        return cls(sender=message.sender.id, receiver=message.receiver.id, label=message.label, kind=message.kind)

    def to_message(self, lookup: Callable[[str], Participant] = participant) -> Message:
        """The message with its participants resolved by `lookup` (default: the platform's)."""
        return Message(lookup(self.sender), lookup(self.receiver), self.label, self.kind)


class TraceEvent(BaseModel):
    """One transition of one machine instance."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = TRACE_VERSION
    time: float = Field(ge=0)
    component: str = Field(min_length=1)
    machine: str = Field(min_length=1)
    trigger: str = Field(min_length=1)
    source: str
    dest: str
    messages: tuple[TraceMessage, ...] = ()
    data: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_record(
        cls, record: TransitionRecord, *, time: float, component: str, data: dict[str, Any] | None = None
    ) -> TraceEvent:
        return cls(
            time=time,
            component=component,
            machine=record.machine,
            trigger=record.trigger,
            source=record.source,
            dest=record.dest,
            messages=tuple(TraceMessage.from_message(m) for m in record.messages),
            data=data or {},
        )

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def write_event(stream: IO[str], event: TraceEvent) -> None:
    stream.write(event.to_json() + "\n")


def write_trace(path: Path | str, events: Iterable[TraceEvent]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for event in events:
            write_event(fh, event)


def parse_trace_lines(lines: Iterable[str], *, source: str = "<trace>") -> Iterator[TraceEvent]:
    """Parse trace lines, raising :class:`TraceError` with file, line number and field."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TraceError(f"{source}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(raw, dict):
            raise TraceError(f"{source}:{number}: expected a JSON object, got {type(raw).__name__}")
        version = raw.get("version")
        if version not in SUPPORTED_VERSIONS:
            raise TraceError(
                f"{source}:{number}: field 'version': unsupported trace version {version!r}; "
                f"this reader knows {sorted(SUPPORTED_VERSIONS)}"
            )
        try:
            yield TraceEvent.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "<line>"
            raise TraceError(f"{source}:{number}: field {field!r}: {first['msg']}") from None


def read_trace(path: Path | str) -> list[TraceEvent]:
    """Read a ``.jsonl`` trace file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise TraceError(f"{p}: cannot read trace file ({exc.strerror})") from None
    return list(parse_trace_lines(text.splitlines(), source=str(p)))
