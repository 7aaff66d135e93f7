"""The spec's timing and counting rules as sans-I/O cores, one module per rule.

Each core is a plain object fed observations with an explicit ``now``; it answers with the
trigger to fire on its spec machine and, where time matters, the next deadline. The runtime
drives them from asyncio with its clock, the simulator from SimPy with ``env.now``, and
`spec.conformance` from a recorded trace, so a rule is written once and the three agree.

| rule | module |
|---|---|
| breaker window, threshold, open duration, half-open trials | `spec.decisions.circuit_breaker` |
| backoff delays, jitter, retry limit, registration backoff | `spec.decisions.backoff` |
| Retry-After waits, persistent-limit escalation | `spec.decisions.rate_limit` |
| startup phase budgets | `spec.decisions.startup` |
| heartbeat silence, detection window, lease expiry | `spec.decisions.liveness` |
| one fleet-wide breaker state per service from every worker's | `spec.decisions.fleet_breakers` |
| alert pending/firing/resolved, with Prometheus's semantics | `spec.decisions.alert_rules` |
| each alert rule's value from scraped samples, as its PromQL | `spec.decisions.alert_queries` |
| ``rate()`` and ``histogram_quantile()`` as Prometheus computes them | `spec.decisions.promql` |
| configuration reload: what changed, reloadable or refused | `spec.decisions.config_reload` |
| health checks after startup: when a failing check degrades, when it is restored | `spec.decisions.health` |
| leader lease, renewal, step-down, failover bound | `spec.decisions.leadership` |
| graceful shutdown: drain deadline, cancellation grace (orchestrator and worker) | `spec.decisions.shutdown` |
| which queued tasks a poll leases: capability, free slots, priority with aging | `spec.decisions.scheduling` |
| system errors: critical (emergency shutdown) or recovery, else degraded | `spec.decisions.system_errors` |
| memory growth fitted over a window, one alarm per episode | `spec.decisions.memory_growth` |
| a failed task: retried (not before when) or failed | `spec.decisions.task_retry` |
| DAG workflows: accepted graphs, what each task outcome releases, skips or cancels | `spec.decisions.task_graph` |
"""

from __future__ import annotations

from spec.decisions.alert_rules import AlertRules
from spec.decisions.backoff import NO_SPREAD, BackoffSchedule, RetryCore, RetryDecision
from spec.decisions.circuit_breaker import Admission, BreakerCore, FailureWindow
from spec.decisions.config_reload import ReloadDecision, ReloadRules, decide_reload
from spec.decisions.fleet_breakers import fleet_state, fleet_states
from spec.decisions.health import HealthVerdict, HealthWatch
from spec.decisions.leadership import FailoverReplay, LeadershipCore
from spec.decisions.liveness import LivenessRules
from spec.decisions.rate_limit import LimitDecision, RateLimitCore
from spec.decisions.scheduling import QueuedTask, choose, lease_size, sort_key
from spec.decisions.shutdown import ORCHESTRATOR_DRAIN, WORKER_DRAIN, DrainReplay, ShutdownDrain
from spec.decisions.startup import StartupBudget, StartupBudgets, budget_of
from spec.decisions.system_errors import SystemErrorAction, SystemErrorDecision, SystemErrorHandler
from spec.decisions.task_retry import TaskRetryDecision, TaskRetryRules

__all__ = [
    "NO_SPREAD",
    "ORCHESTRATOR_DRAIN",
    "WORKER_DRAIN",
    "Admission",
    "AlertRules",
    "BackoffSchedule",
    "BreakerCore",
    "DrainReplay",
    "FailoverReplay",
    "FailureWindow",
    "HealthVerdict",
    "HealthWatch",
    "LeadershipCore",
    "LimitDecision",
    "LivenessRules",
    "QueuedTask",
    "RateLimitCore",
    "ReloadDecision",
    "ReloadRules",
    "RetryCore",
    "RetryDecision",
    "ShutdownDrain",
    "StartupBudget",
    "StartupBudgets",
    "SystemErrorAction",
    "SystemErrorDecision",
    "SystemErrorHandler",
    "TaskRetryDecision",
    "TaskRetryRules",
    "budget_of",
    "choose",
    "decide_reload",
    "fleet_state",
    "fleet_states",
    "lease_size",
    "sort_key",
]
