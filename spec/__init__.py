"""orchestration-spec: the executable specification of the orchestrator/worker platform.

Everything the runtime, the simulator and the docs know about states, messages, participants,
timings and limits comes from here.
"""

from __future__ import annotations

from spec.conformance import ConformanceReport, check_trace
from spec.decisions.replay import Violation
from spec.errors import (
    IllegalTransitionError,
    ServiceOrderError,
    SpecError,
    SpecLoadError,
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
    transition,
)
from spec.machines import MACHINES, machine
from spec.messages import Message, MessageKind, call, push, reply, step
from spec.participants import PARTICIPANTS, Participant, participant
from spec.platform import PLATFORM
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
from spec.specification import Spec, load_spec
from spec.story import Alt, Branch, Loop, Note, Step, Story, alt, branch, happy_branch, loop, steps
from spec.taxonomy import TAXONOMY, ErrorCategory, ErrorClass, FailureCode, RetryStrategy, category
from spec.timing_rules import PLATFORM_TIMING_RULES, TimingRule, TimingRuleFactory
from spec.trace import TRACE_VERSION, TraceError, TraceEvent, TraceMessage, read_trace, write_trace

__all__ = [
    "DEFAULT_POLICIES",
    "MACHINES",
    "PARTICIPANTS",
    "PLATFORM",
    "PLATFORM_TIMING_RULES",
    "SAME",
    "SEED_SERVICE_ORDER",
    "SERVICE_DEPENDENCIES",
    "TAXONOMY",
    "TRACE_VERSION",
    "AlertPolicy",
    "AlertRule",
    "Alt",
    "BackoffPolicy",
    "Branch",
    "CircuitBreakerPolicy",
    "ConformanceReport",
    "ErrorCategory",
    "ErrorClass",
    "FailureCode",
    "HeartbeatPolicy",
    "IllegalTransitionError",
    "LeasePolicy",
    "Loop",
    "MachineInstance",
    "MachineSpec",
    "Message",
    "MessageKind",
    "Note",
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
    "Spec",
    "SpecError",
    "SpecLoadError",
    "StartupPolicy",
    "StateRole",
    "StateSpec",
    "Step",
    "Story",
    "StoryError",
    "TimingRule",
    "TimingRuleFactory",
    "TraceError",
    "TraceEvent",
    "TraceMessage",
    "TransitionRecord",
    "TransitionSpec",
    "UnknownDiagramError",
    "UnknownMachineError",
    "UnknownParticipantError",
    "UnknownTriggerError",
    "Violation",
    "WebSocketPolicy",
    "alt",
    "branch",
    "call",
    "category",
    "check_trace",
    "happy_branch",
    "load_spec",
    "loop",
    "machine",
    "participant",
    "push",
    "read_trace",
    "reply",
    "scale_policies",
    "shutdown_order",
    "startup_order",
    "step",
    "steps",
    "transition",
    "write_trace",
]
