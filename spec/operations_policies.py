"""Policies of the platform's own operation: its database, leadership among replicas, supervised
background services, scheduled cleanup, event-log retention, health checks while running and system errors.

Part of `spec.policies` (which re-exports them and holds `Policies`); kept apart so each module
stays readable. Every number here is a default, overridable like any policy.
"""

from __future__ import annotations

import math
from typing import Self

from pydantic import Field, model_validator

from spec.policy_base import Policy as _Policy
from spec.policy_base import capped_exponential
from spec.system_resources import SystemResource


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


class RetentionPolicy(_Policy):
    """Event-log retention (issue 14: "the event log grows without bound"). The events of a workflow that
    finished ``finished_events_s`` ago are deleted by the leader every ``interval_s``; the workflow and its
    tasks stay, so ``GET /api/v1/workflows/{id}`` still shows how it ended, and a WebSocket subscription to
    it is told its events are gone (`expired`). The seed keeps events forever; ours are documented."""

    finished_events_s: float = Field(7 * 86400.0, gt=0, description="The events of a workflow are kept this "
                                     "long after it settled (a terminal state of workflow_lifecycle), then deleted.")
    interval_s: float = Field(300.0, gt=0, le=86400, description="Time between two retention sweeps (on the "
                              "leader replica only).")
    batch_size: int = Field(1000, ge=1, le=100_000, description="Events deleted per write transaction; a sweep "
                            "repeats batches until none is left, so a backlog never holds the write lock long.")

    def cutoff(self, now: float) -> float:
        """Workflows that finished before this time (epoch seconds) have had their events deleted."""
        return now - self.finished_events_s

    def expired(self, finished_at: float, now: float) -> bool:
        """Whether the events of a workflow that finished at `finished_at` are past retention at `now`."""
        return finished_at < self.cutoff(now)


class MemoryGrowthPolicy(_Policy):
    """Memory-growth detection (issue 14: "no memory-growth detection"): each health round samples the
    process's resident set size; the growth fitted over the last ``window_s`` (least squares, as a fraction
    of the fitted size at the window's start) is the ``memory_growth`` metric, which the MemoryGrowth
    alert rule compares with its threshold. The seed names leaks without numbers; ours are documented."""

    window_s: float = Field(3600.0, gt=0, le=7 * 86400, description="The span the growth is fitted over.")
    min_samples: int = Field(5, ge=3, le=10_000, description="Samples needed, and at least half the window "
                             "covered, before a growth is reported at all.")


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


class SystemErrorPolicy(_Policy):
    """System errors on a worker's own machine (seed 4.5 flowchart G, "System Error Handler"; decided by
    `spec.decisions.system_errors`). Exhausting a critical resource is an emergency: the worker escalates
    at the taxonomy's system-error level and shuts down, handing every task back with its saved state.
    Any other exhausted resource gets a recovery attempt (clean up, measure again); a recovery that fails
    or is needed too often degrades the worker: it reports itself unhealthy and leases nothing. The seed
    names the branches without numbers; ours are documented."""

    critical_resources: tuple[SystemResource, ...] = Field(
        (SystemResource.DISK,), description="Resources whose exhaustion is critical: with the worker's own disk "
        "full no task can run there, so it shuts down instead of failing every task it leases.")
    emergency_task_deadline_s: float = Field(0.0, ge=0, le=3600, description="At an emergency shutdown, running "
                                             "tasks get this long to finish before they are interrupted and "
                                             "handed back with their saved state.")
    recovered_below_percent: float = Field(90.0, gt=0, le=100, description="After a recovery attempt the resource "
                                           "is measured again: below this use (percent) it has recovered.")
    max_recoveries: int = Field(3, ge=0, le=1000, description="Recovery attempts allowed within window_s; one "
                                "more non-critical system error degrades the worker without trying again.")
    window_s: float = Field(600.0, gt=0, le=86400, description="The sliding window of max_recoveries.")
    degraded_min_s: float = Field(60.0, ge=0, le=86400, description="A degraded worker stays out of rotation at "
                                  "least this long; then it returns once each degraded resource measures below "
                                  "recovered_below_percent.")

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        if len(set(self.critical_resources)) != len(self.critical_resources):
            raise ValueError("critical_resources names a resource twice")
        return self
