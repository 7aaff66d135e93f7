"""Every timing, threshold and limit of the platform, with the seed's values as defaults.

The runtime and the simulator import these models; no other module writes a number down.
Each model is frozen and rejects unknown or out-of-range fields, so a typo in a config file
fails with the field's name instead of silently using a default.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from spec.operations_policies import (
    CleanupPolicy,
    DatabasePolicy,
    HealthPolicy,
    LeadershipPolicy,
    MemoryGrowthPolicy,
    RetentionPolicy,
    SupervisionPolicy,
    SystemErrorPolicy,
)
from spec.policy_base import Policy as _Policy
from spec.policy_base import capped_exponential
from spec.task_policies import MAX_TASK_ATTEMPTS, TaskRetryPolicy

GIB = 1024**3
#: A worker may lose this many heartbeats in a row before it is declared lost (timeout >= N x interval).
MIN_HEARTBEAT_TIMEOUT_INTERVALS = 2



class BackoffPolicy(_Policy):
    """Exponential backoff for retryable errors (seed 4.5, network errors): ``base_delay_s`` times ``factor``
    per retry, capped at ``max_delay_s``, for ``max_retries`` retries."""

    base_delay_s: float = Field(1.0, gt=0, description="Delay before the first retry.")
    factor: float = Field(2.0, ge=1, description="Multiplier between consecutive delays.")
    max_delay_s: float = Field(30.0, gt=0, description="No single delay exceeds this.")
    max_retries: int = Field(3, ge=0, le=100, description="Retries after the first attempt.")
    jitter: float = Field(0.0, ge=0, le=1, description="Random spread as a fraction of the delay; 0 = none.")

    @model_validator(mode="after")
    def _cap_not_below_base(self) -> Self:
        if self.max_delay_s < self.base_delay_s:
            raise ValueError("max_delay_s must be >= base_delay_s")
        return self

    def delay_s(self, retry: int) -> float:
        """Delay before retry number `retry` (1-based), without jitter."""
        if retry < 1:
            raise ValueError(f"retry numbers start at 1, got {retry}")
        return capped_exponential(self.base_delay_s, self.factor, retry - 1, self.max_delay_s)

    def schedule(self) -> list[float]:
        """All delays of one call that keeps failing, one per retry up to ``max_retries``."""
        return [self.delay_s(n) for n in range(1, self.max_retries + 1)]

    def should_retry(self, retries_done: int) -> bool:
        return retries_done < self.max_retries


class RateLimitPolicy(_Policy):
    """429 handling (seed 4.5): honour Retry-After, else wait ``default_delay_s``; ``max_retries`` retries;
    escalate after ``escalate_after_s``."""

    honour_retry_after: bool = Field(True, description="Wait what the server asks in Retry-After.")
    default_delay_s: float = Field(60.0, gt=0, description="Wait when the 429 carries no Retry-After.")
    max_retries: int = Field(1, ge=0, le=10, description="Retries after the waiting period.")
    escalate_after_s: float = Field(300.0, gt=0, description="Escalate once rate-limited this long.")
    max_retry_after_s: float = Field(3600.0, gt=0, description="Longer Retry-After values are treated as errors.")

    def wait_s(self, retry_after_s: float | None) -> float:
        """How long to wait before retrying, given the server's Retry-After (if any)."""
        if retry_after_s is not None and self.honour_retry_after:
            return max(0.0, retry_after_s)
        return self.default_delay_s


class CircuitBreakerPolicy(_Policy):
    """Breaker thresholds (seed 4.5): ``failure_threshold`` failures within ``window_s`` open it for
    ``open_duration_s``; then ``half_open_max_trials`` trial calls."""

    failure_threshold: int = Field(5, ge=1, description="Failures within the window that open the breaker.")
    window_s: float = Field(60.0, gt=0, description="Sliding window in which failures are counted.")
    open_duration_s: float = Field(300.0, gt=0, description="Time the breaker stays open before a trial.")
    half_open_max_trials: int = Field(1, ge=1, description="Calls allowed through while half-open.")


class StartupPolicy(_Policy):
    """Orchestrator startup timeouts (seed "Orchestrator Startup Workflow").

    The seed's per-phase timeouts add up to more than its total: the seed means ``total_timeout_s``
    as an overall cap on top of the per-phase caps, and so do we.
    """

    config_timeout_s: float = Field(10.0, gt=0, description="Loading and validating configuration.")
    database_timeout_s: float = Field(30.0, gt=0, description="Database initialisation, all attempts together.")
    services_timeout_s: float = Field(60.0, gt=0, description="Task queue, worker pool, HTTP and WebSocket setup.")
    health_check_timeout_s: float = Field(30.0, gt=0, description="Startup health checks.")
    total_timeout_s: float = Field(120.0, gt=0, description="The whole startup, on top of the phase caps.")
    database_attempts: int = Field(3, ge=1, le=20, description="Database initialisation attempts.")
    database_backoff: BackoffPolicy = BackoffPolicy(max_retries=2)

    @model_validator(mode="after")
    def _phases_fit_total(self) -> Self:
        for name in ("config_timeout_s", "database_timeout_s", "services_timeout_s", "health_check_timeout_s"):
            if getattr(self, name) > self.total_timeout_s:
                raise ValueError(f"{name} must not exceed total_timeout_s ({self.total_timeout_s})")
        if self.database_backoff.max_retries < self.database_attempts - 1:
            raise ValueError("database_backoff.max_retries must allow database_attempts - 1 retries")
        return self

    def database_retry_delays_s(self) -> list[float]:
        """Delays between database attempts: ``database_attempts - 1`` delays of ``database_backoff``."""
        return [self.database_backoff.delay_s(n) for n in range(1, self.database_attempts)]


class ProgressPolicy(_Policy):
    """Progress reporting (seed "Task Execution Workflow"): every ``interval_s`` or on a milestone."""

    interval_s: float = Field(5.0, gt=0, description="Longest gap between two progress reports.")
    report_on_milestone: bool = Field(True, description="Also report at once when a step completes.")
    milestone_min_gap_s: float = Field(
        0.1, ge=0, description="Shortest gap between two milestone reports of one task (the rest are coalesced).")
    enforcement_slack: float = Field(
        0.5, ge=0, lt=1,
        description="The orchestrator refuses (429) a task's reports that come sooner than (1 - slack) x the gap "
        "above: room for network jitter between a worker that obeys the policy and the orchestrator's clock.")


class ResourceLimits(_Policy):
    """Per-task limits (seed "Task Execution Workflow")."""

    memory_bytes: int = Field(4 * GIB, gt=0, description="Address space of each command a task runs "
                              "(RLIMIT_AS); a handler's own Python code shares the worker's process.")
    cpu_cores: float = Field(2.0, gt=0, description="Cores a task's commands may run on, rounded up (CPU "
                             "affinity where the OS has it), and their CPU time: cores x the time limit (RLIMIT_CPU).")
    disk_bytes: int = Field(10 * GIB, gt=0, description="Largest file a command may write (RLIMIT_FSIZE), and "
                            "the workspace's total while a command runs: over it, the command is killed.")
    disk_check_interval_s: float = Field(1.0, gt=0, le=60, description="How often the workspace's total size "
                                         "is measured while a command runs.")
    network_bits_per_s: int = Field(1_000_000_000, gt=0, description="Bandwidth per task: not enforced "
                                    "(docs/departures.md).")
    max_duration_s: float = Field(1800.0, gt=0, description="Longest execution time of a task.")
    sandbox: bool = Field(False, description="Run each command in a bubblewrap sandbox: the filesystem read-only "
                          "except the task's workspace, its own /tmp, processes and IPC; a worker without `bwrap` "
                          "refuses to start. Off: commands run with the worker's user's rights.")


class HeartbeatPolicy(_Policy):
    """Worker liveness. The seed gives no numbers; see docs "Heartbeats" for why these defaults.

    The health monitor sweeps once per interval, so a silent worker is detected between
    ``timeout_s`` and ``timeout_s + interval_s`` after its last heartbeat.
    """

    interval_s: float = Field(10.0, gt=0, description="Time between two heartbeats of a healthy worker.")
    timeout_s: float = Field(30.0, gt=0, description="Silence after which a worker is unhealthy.")

    @model_validator(mode="after")
    def _timeout_covers_two_intervals(self) -> Self:
        if self.timeout_s < MIN_HEARTBEAT_TIMEOUT_INTERVALS * self.interval_s:
            raise ValueError(
                f"timeout_s must be at least {MIN_HEARTBEAT_TIMEOUT_INTERVALS} x interval_s so one lost heartbeat "
                "is not fatal"
            )
        return self

    @property
    def sweep_interval_s(self) -> float:
        return self.interval_s

    def detection_window_s(self) -> tuple[float, float]:
        """Earliest and latest detection time after the last heartbeat."""
        return (self.timeout_s, self.timeout_s + self.sweep_interval_s)


class PollPolicy(_Policy):
    """Task polling: back off while idle (seed 4.2 ``wait(pollInterval)``)."""

    min_interval_s: float = Field(0.5, gt=0, description="Wait after the first empty poll.")
    max_interval_s: float = Field(5.0, gt=0, description="Longest wait between polls while idle.")
    factor: float = Field(2.0, ge=1, description="Growth of the wait per consecutive empty poll.")
    long_poll_s: float = Field(0.0, ge=0, le=60, description="Server-side wait for a task; 0 = answer at once.")
    report_delay_s: float = Field(
        0.002, ge=0, le=1, description="Longest a worker holds a lease report so that reports finishing together "
        "share one /tasks/reports request (started, completed, failed; the next lease rides along).")
    report_batch_max: int = Field(
        64, ge=1, description="Most lease reports a worker sends in one /tasks/reports request (also capped by the "
        "API's own per-batch limit).")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.max_interval_s < self.min_interval_s:
            raise ValueError("max_interval_s must be >= min_interval_s")
        return self

    def idle_wait_s(self, empty_polls: int) -> float:
        """Wait after `empty_polls` consecutive 204 answers (1-based)."""
        return capped_exponential(self.min_interval_s, self.factor, max(0, empty_polls - 1), self.max_interval_s)


class WorkflowPolicy(_Policy):
    """Workflows of several tasks (issue 12): how large a submitted DAG may be."""

    max_tasks: int = Field(256, ge=1, le=10_000, description="Most tasks one workflow may have; more: 422 "
                           "naming tasks.")


class LeasePolicy(_Policy):
    """Task leases and queue fairness (our precision of seed 4.2's "priority handling")."""

    lease_ttl_s: float = Field(60.0, gt=0, description="A lease not renewed for this long expires.")
    aging_interval_s: float = Field(30.0, gt=0, description="Waiting this long raises a task's priority by 1.")
    max_priority: int = Field(10, ge=1, description="Highest priority a submission may ask for.")


class ShutdownPolicy(_Policy):
    """Graceful shutdown (seed 4.4). The seed names ``checkInterval`` but no values; ours are documented."""

    drain_deadline_s: float = Field(60.0, gt=0, description="Wait for running tasks this long before cancelling.")
    check_interval_s: float = Field(1.0, gt=0, description="How often running work is checked while draining.")
    cancel_grace_s: float = Field(10.0, gt=0, description="Wait after requesting cancellation before closing.")
    worker_task_deadline_s: float = Field(30.0, gt=0, description="A stopping worker lets its task run this long.")
    draining_retry_after_s: int = Field(
        5, ge=1, le=3600, description="Retry-After of the 503 a draining orchestrator answers: when to try again, "
        "on another instance or after the restart.")

    @property
    def deadline_s(self) -> float:
        """Longest a graceful orchestrator shutdown may take before closing connections."""
        return self.drain_deadline_s + self.cancel_grace_s


class WebSocketPolicy(_Policy):
    """Event streaming limits so one slow subscriber cannot stall the orchestrator."""

    subscriber_buffer: int = Field(256, ge=1, description="Events queued per client before it is dropped.")
    replay_buffer: int = Field(1000, ge=0, description="Recent events kept per workflow for resume.")
    subscribes_per_s: float = Field(
        2.0, gt=0, description="Subscriptions (each a replay from the store) one connection may make per second.")
    subscribe_burst: int = Field(10, ge=1, description="Subscriptions a connection may make at once before the "
                                 "per-second rate applies.")
    max_subscriptions: int = Field(256, ge=1, description="Workflows one connection may be subscribed to.")


class AlertRule(_Policy):
    """One alert threshold: fire when ``metric`` stays beyond ``threshold`` for ``for_s`` seconds."""

    name: str = Field(min_length=1)
    metric: str = Field(min_length=1)
    threshold: float
    for_s: float = Field(ge=0)
    summary: str = Field(min_length=1)
    escalation_level: int = Field(ge=1, le=4)


class EscalationLevel(_Policy):
    level: int = Field(ge=1, le=4)
    action: str = Field(min_length=1)


def _default_rules() -> tuple[AlertRule, ...]:
    return (
        AlertRule(name="HighErrorRate", metric="error_rate", threshold=0.05, for_s=300.0,
                  summary="High error rate detected", escalation_level=2),
        AlertRule(name="HighLatencyP95", metric="latency_p95_seconds", threshold=2.0, for_s=300.0,
                  summary="High response time detected", escalation_level=2),
        AlertRule(name="CircuitBreakerOpen", metric="circuit_breaker_open", threshold=0.0, for_s=0.0,
                  summary="Circuit breaker open", escalation_level=2),
        AlertRule(name="HighResourceUtilisation", metric="resource_utilisation", threshold=0.9, for_s=600.0,
                  summary="Resource utilisation above 90%", escalation_level=3),
        # Not in the seed (issue 13): tasks failing and workers gone quiet, which the seed's four miss.
        AlertRule(name="HighTaskFailureRate", metric="task_failure_rate", threshold=0.1, for_s=300.0,
                  summary="High task failure rate", escalation_level=2),
        AlertRule(name="WorkerDown", metric="workers_down", threshold=0.0, for_s=60.0,
                  summary="Worker missed its heartbeats", escalation_level=2),
        # Not in the seed (issue 14): a process whose memory keeps growing (MemoryGrowthPolicy).
        AlertRule(name="MemoryGrowth", metric="memory_growth", threshold=0.5, for_s=300.0,
                  summary="Process memory keeps growing", escalation_level=3),
    )


def _default_levels() -> tuple[EscalationLevel, ...]:
    return (
        EscalationLevel(level=1, action="Automatic retry and recovery"),
        EscalationLevel(level=2, action="Alert on-call engineer"),
        EscalationLevel(level=3, action="Alert team lead and manager"),
        EscalationLevel(level=4, action="Critical incident, all hands on deck"),
    )


class AlertPolicy(_Policy):
    """Alert thresholds and escalation levels (seed "Monitoring and Alerting")."""

    rules: tuple[AlertRule, ...] = Field(default_factory=_default_rules)
    escalation_levels: tuple[EscalationLevel, ...] = Field(default_factory=_default_levels)
    rate_window_s: float = Field(60.0, gt=0, description="Range of the rate() windows the call and task rules "
                                 "read: at least four scrape intervals of a usual 15 s scrape.")
    runbook_base_url: str = Field("runbooks/", min_length=1, description="Where the runbooks page is: each "
                                  "rule's runbook_url annotation is this plus '#' and the rule's name in lower case.")
    lookback_s: float = Field(300.0, gt=0, description="A gauge's latest sample counts for this long (Prometheus' "
                              "default lookback delta); an older one is absent and its alert clears.")

    @model_validator(mode="after")
    def _unique(self) -> Self:
        names = [r.name for r in self.rules]
        if len(set(names)) != len(names):
            raise ValueError("rules: alert rule names must be unique")
        if sorted(e.level for e in self.escalation_levels) != [1, 2, 3, 4]:
            raise ValueError("escalation_levels must define levels 1, 2, 3 and 4 exactly once")
        return self

    def rule(self, name: str) -> AlertRule:
        for r in self.rules:
            if r.name == name:
                return r
        raise KeyError(f"no alert rule {name!r}; rules: {', '.join(r.name for r in self.rules)}")


class Policies(_Policy):
    """All policies together: what a runtime or simulation is configured with."""

    backoff: BackoffPolicy = BackoffPolicy()
    rate_limit: RateLimitPolicy = RateLimitPolicy()
    circuit_breaker: CircuitBreakerPolicy = CircuitBreakerPolicy()
    startup: StartupPolicy = StartupPolicy()
    progress: ProgressPolicy = ProgressPolicy()
    resources: ResourceLimits = ResourceLimits()
    heartbeat: HeartbeatPolicy = HeartbeatPolicy()
    poll: PollPolicy = PollPolicy()
    lease: LeasePolicy = LeasePolicy()
    workflow: WorkflowPolicy = WorkflowPolicy()
    shutdown: ShutdownPolicy = ShutdownPolicy()
    websocket: WebSocketPolicy = WebSocketPolicy()
    alerts: AlertPolicy = AlertPolicy()
    database: DatabasePolicy = DatabasePolicy()
    leadership: LeadershipPolicy = LeadershipPolicy()
    supervision: SupervisionPolicy = SupervisionPolicy()
    cleanup: CleanupPolicy = CleanupPolicy()
    retention: RetentionPolicy = RetentionPolicy()
    health: HealthPolicy = HealthPolicy()
    memory_growth: MemoryGrowthPolicy = MemoryGrowthPolicy()
    system_errors: SystemErrorPolicy = SystemErrorPolicy()
    task_retry: TaskRetryPolicy = TaskRetryPolicy()


DEFAULT_POLICIES = Policies()

__all__ = [
    "DEFAULT_POLICIES",
    "GIB",
    "MIN_HEARTBEAT_TIMEOUT_INTERVALS",
    "AlertPolicy",
    "AlertRule",
    "BackoffPolicy",
    "CircuitBreakerPolicy",
    "CleanupPolicy",
    "DatabasePolicy",
    "EscalationLevel",
    "HealthPolicy",
    "HeartbeatPolicy",
    "LeadershipPolicy",
    "LeasePolicy",
    "MemoryGrowthPolicy",
    "MAX_TASK_ATTEMPTS",
    "Policies",
    "PollPolicy",
    "ProgressPolicy",
    "RateLimitPolicy",
    "RetentionPolicy",
    "ResourceLimits",
    "ShutdownPolicy",
    "StartupPolicy",
    "SupervisionPolicy",
    "SystemErrorPolicy",
    "TaskRetryPolicy",
    "WebSocketPolicy",
    "WorkflowPolicy",
    "capped_exponential",
]
