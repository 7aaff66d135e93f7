"""orchestration-spec: the executable specification of the orchestrator/worker platform.

Everything the runtime, the simulator and the docs know about states, messages, participants,
timings and limits comes from here.
"""

from __future__ import annotations

from spec.errors import (
    IllegalTransitionError,
    ServiceOrderError,
    SpecError,
    StoryError,
    UnknownDiagramError,
    UnknownMachineError,
    UnknownParticipantError,
    UnknownTriggerError,
)
from spec.machine import (
    SAME,
    MachineInstance,
    MachineSpec,
    StateRole,
    StateSpec,
    TransitionRecord,
    TransitionSpec,
)
from spec.machines import MACHINES, machine
from spec.messages import Message, MessageKind
from spec.participants import PARTICIPANTS, Participant, participant
from spec.policies import (
    DEFAULT_POLICIES,
    AlertPolicy,
    AlertRule,
    BackoffPolicy,
    CircuitBreakerPolicy,
    HeartbeatPolicy,
    LeasePolicy,
    Policies,
    PollPolicy,
    ProgressPolicy,
    RateLimitPolicy,
    ResourceLimits,
    ShutdownPolicy,
    StartupPolicy,
    WebSocketPolicy,
)
from spec.scaling import ScalingError, scale_policies
from spec.services import SEED_SERVICE_ORDER, SERVICE_DEPENDENCIES, shutdown_order, startup_order
from spec.taxonomy import TAXONOMY, ErrorCategory, ErrorClass, FailureCode, RetryStrategy, category
from spec.trace import TRACE_VERSION, TraceError, TraceEvent, TraceMessage, read_trace, write_trace

__all__ = [
    "DEFAULT_POLICIES",
    "MACHINES",
    "PARTICIPANTS",
    "SAME",
    "SEED_SERVICE_ORDER",
    "SERVICE_DEPENDENCIES",
    "TAXONOMY",
    "TRACE_VERSION",
    "AlertPolicy",
    "AlertRule",
    "BackoffPolicy",
    "CircuitBreakerPolicy",
    "ErrorCategory",
    "ErrorClass",
    "FailureCode",
    "HeartbeatPolicy",
    "IllegalTransitionError",
    "LeasePolicy",
    "MachineInstance",
    "MachineSpec",
    "Message",
    "MessageKind",
    "Participant",
    "Policies",
    "PollPolicy",
    "ProgressPolicy",
    "RateLimitPolicy",
    "ResourceLimits",
    "RetryStrategy",
    "ScalingError",
    "ServiceOrderError",
    "ShutdownPolicy",
    "SpecError",
    "StartupPolicy",
    "StateRole",
    "StateSpec",
    "StoryError",
    "TraceError",
    "TraceEvent",
    "TraceMessage",
    "TransitionRecord",
    "TransitionSpec",
    "UnknownDiagramError",
    "UnknownMachineError",
    "UnknownParticipantError",
    "UnknownTriggerError",
    "WebSocketPolicy",
    "category",
    "machine",
    "participant",
    "read_trace",
    "scale_policies",
    "shutdown_order",
    "startup_order",
    "write_trace",
]
