"""Every timing, threshold and limit of the platform, with the seed's values as defaults.

The runtime and the simulator import these models; no other module writes a number down.
Each model is frozen and rejects unknown or out-of-range fields, so a typo in a config file
fails with the field's name instead of silently using a default.
"""

from __future__ import annotations

import math
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

GIB = 1024**3
#: A worker may lose this many heartbeats in a row before it is declared lost (timeout >= N x interval).
MIN_HEARTBEAT_TIMEOUT_INTERVALS = 2



def capped_exponential(base: float, factor: float, steps: int, cap: float) -> float:
    """``min(base * factor ** steps, cap)``, for any number of steps.

    Idle polls and failed polls are counted for as long as they last, and ``factor ** steps``
    overflows a float after about a thousand steps: past the cap the exponent stops growing.
    """
    if factor > 1 and base > 0:
        steps = min(steps, max(0, math.ceil(math.log(cap / base, factor))))
    return float(min(base * factor ** steps, cap))


class _Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


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

    memory_bytes: int = Field(4 * GIB, gt=0, description="Address space of a task's processes.")
    cpu_cores: float = Field(2.0, gt=0, description="CPU a task may use.")
    disk_bytes: int = Field(10 * GIB, gt=0, description="Temporary workspace space per task.")
    network_bits_per_s: int = Field(1_000_000_000, gt=0, description="Bandwidth per task.")
    max_duration_s: float = Field(1800.0, gt=0, description="Longest execution time of a task.")


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


class LeasePolicy(_Policy):
    """Task leases and queue fairness (our precision of seed 4.2's "priority handling")."""

    lease_ttl_s: float = Field(60.0, gt=0, description="A lease not renewed for this long expires.")
    aging_interval_s: float = Field(30.0, gt=0, description="Waiting this long raises a task's priority by 1.")
    max_priority: int = Field(10, ge=1, description="Highest priority; aging never goes beyond it.")


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


class DatabasePolicy(_Policy):
    """Database faults while running (issue 14): lock waits off the event loop, 503 answers, recovery trials.

    A write first takes the database's write lock with ``BEGIN IMMEDIATE``; while another process
    holds it the write waits between attempts without blocking the event loop, up to
    ``lock_wait_s``, then answers 503. After a failed write the orchestrator is not ready and
    tries a trial write, ``trial_first_s`` growing by ``trial_factor`` to ``trial_max_s`` apart,
    until one commits."""

    lock_wait_s: float = Field(2.0, gt=0, le=60, description="A write waits this long for a lock another "
                               "process holds, off the event loop, before answering 503.")
    lock_poll_min_s: float = Field(0.005, gt=0, description="First wait between two attempts to take the lock.")
    lock_poll_max_s: float = Field(0.1, gt=0, description="Longest wait between two attempts to take the lock.")
    statement_busy_ms: int = Field(20, ge=0, le=1000, description="Longest a single statement waits for a lock "
                                   "on the event loop's thread (reads, commit).")
    trial_first_s: float = Field(0.5, gt=0, description="Wait after the first failed write before a trial write.")
    trial_factor: float = Field(2.0, ge=1, description="Growth of that wait per further failed write.")
    trial_max_s: float = Field(10.0, gt=0, description="Longest wait between trial writes; they go on while the "
                               "fault lasts.")
    consistency_interval_s: float = Field(300.0, gt=0, description="Time between two consistency validations "
                                          "(integrity check and the store's invariants).")
    connect_timeout_s: float = Field(5.0, gt=0, le=120, description="A connection to a database server "
                                     "(PostgreSQL) that does not answer within this long fails with an error "
                                     "naming the server, instead of hanging startup or a request.")

    @model_validator(mode="after")
    def _ranges(self) -> Self:
        if self.lock_poll_max_s < self.lock_poll_min_s:
            raise ValueError("lock_poll_max_s must be >= lock_poll_min_s")
        if self.trial_max_s < self.trial_first_s:
            raise ValueError("trial_max_s must be >= trial_first_s")
        return self

    def lock_poll_s(self, attempt: int) -> float:
        """Wait after failed lock attempt number `attempt` (0-based)."""
        return capped_exponential(self.lock_poll_min_s, 2.0, attempt, self.lock_poll_max_s)

    def recovery_delay_s(self, failures: int) -> float:
        """Wait before the next trial write after `failures` consecutive failed writes (>= 1)."""
        return capped_exponential(self.trial_first_s, self.trial_factor, max(failures, 1) - 1, self.trial_max_s)


class LeadershipPolicy(_Policy):
    """Leader election among orchestrator replicas on one PostgreSQL database (machine ``leader_election``).

    A standby tries the leader lock every ``acquire_interval_s``; the leader confirms it every
    ``renew_interval_s`` and steps down when it could not for ``lease_s``. The database server ends
    a silent leader's session within ``lease_s`` too (`server_keepalive`), so the sweeps move to
    another replica within `failover_bound_s` of the leader's last confirmation."""

    acquire_interval_s: float = Field(1.0, gt=0, le=60, description="A standby replica tries to take the leader "
                                      "lock this often.")
    renew_interval_s: float = Field(2.0, gt=0, le=60, description="The leader confirms that its session still "
                                    "holds the lock this often.")
    lease_s: float = Field(10.0, gt=0, le=600, description="A leader that could not confirm its lock for this long "
                           "steps down; the server drops a silent leader's session within the same time (at least "
                           "3 s: its keepalive counts whole seconds).")

    @model_validator(mode="after")
    def _renewals_fit_lease(self) -> Self:
        if self.lease_s < 2 * self.renew_interval_s:
            raise ValueError("lease_s must be at least 2 x renew_interval_s so one late renewal is not fatal")
        return self

    @property
    def failover_bound_s(self) -> float:
        """Longest time from the leader's last confirmation to another replica leading: the leader steps down
        after ``lease_s`` and the server drops its session after `server_drop_s`, whichever is later; a standby
        tries the lock within ``acquire_interval_s`` of that."""
        return max(self.lease_s, self.server_drop_s) + self.acquire_interval_s

    @property
    def server_drop_s(self) -> int:
        """When the server gives up on a silent leader's session: ``idle + interval x count`` of `server_keepalive`."""
        idle, interval, count = self.server_keepalive()
        return idle + interval * count

    def server_keepalive(self) -> tuple[int, int, int]:
        """PostgreSQL's ``tcp_keepalives_idle``, ``_interval`` and ``_count`` for the leader's session, in whole
        seconds (at least one each): their total is at most ``lease_s``, or 3 s for a shorter lease."""
        idle = max(1, math.floor(self.lease_s / 2))
        interval = max(1, math.floor((self.lease_s - idle) / 2))
        return idle, interval, 2


class SupervisionPolicy(_Policy):
    """Restarts of crashed background services (seed "Self-Healing Mechanisms: Service Restart"). The seed
    names "maximum restart attempts per hour" without a number; ours is documented."""

    max_restarts: int = Field(5, ge=0, le=1000, description="Restarts of one service allowed within window_s; "
                              "one more crash escalates and marks the process degraded.")
    window_s: float = Field(3600.0, gt=0, description="The sliding window of max_restarts (the seed's hour).")
    restart_delay_s: float = Field(1.0, ge=0, description="Wait after a crash before the health check and restart.")


class CleanupPolicy(_Policy):
    """Scheduled cleanup (seed "Error Recovery Workflow": cleanupIncompleteWorkspaces, not only at start)."""

    workspace_interval_s: float = Field(60.0, gt=0, description="How often a worker looks for workspaces whose "
                                        "process died (another worker sharing its root) and hands their tasks back.")


class HealthPolicy(_Policy):
    """Health checks after startup (seed 4.1 ``startMonitoring()``, issue 14): every check of the startup
    health phase, and each configured external service, again every ``interval_s``. The seed gives no
    period; ours is documented."""

    interval_s: float = Field(15.0, gt=0, le=3600, description="Time between two rounds of health checks "
                              "while running.")
    check_timeout_s: float = Field(5.0, gt=0, le=60, description="Longest one check (an external service's "
                                   "health URL, say) may take before it counts as failed.")
    failures_to_degrade: int = Field(2, ge=1, le=100, description="Consecutive failed rounds of one check "
                                     "that make the orchestrator degraded; one passing round restores it.")


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
    shutdown: ShutdownPolicy = ShutdownPolicy()
    websocket: WebSocketPolicy = WebSocketPolicy()
    alerts: AlertPolicy = AlertPolicy()
    database: DatabasePolicy = DatabasePolicy()
    leadership: LeadershipPolicy = LeadershipPolicy()
    supervision: SupervisionPolicy = SupervisionPolicy()
    cleanup: CleanupPolicy = CleanupPolicy()
    health: HealthPolicy = HealthPolicy()


DEFAULT_POLICIES = Policies()
