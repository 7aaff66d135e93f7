"""One breaker state per external service for the whole fleet, from every worker's own breakers (issue 13).

Breakers live in the workers (seed 4.5: each worker's resilience layer guards its own calls), so
each worker has its own breaker per service and they need not agree: one worker's AI-provider
breaker may be open while another's, which made fewer calls, is still closed. The orchestrator's
``CircuitBreakerOpen`` alert and breaker gauge are per service, so they need one state per
service. The rule, decided here once and used by the orchestrator:

* Only workers **in rotation** count. A worker that left rotation (deregistered, offline,
  heartbeats missed) no longer calls anything, so its last report says nothing about now.
* A service is **open** for the fleet when *any* worker in rotation reports it open: that worker
  is failing fast right now, and the tasks it takes fail or wait, which is what an operator must
  hear about. Waiting for a majority would hide an outage that only one busy worker has seen
  (the others may simply not have called the service yet).
* Otherwise it is **half-open** when any worker in rotation is trying a trial call, else
  **closed**. So the fleet's open state clears exactly when the last worker reporting it open
  reports half-open or closed, or leaves rotation.
* A service that only workers out of rotation reported is **closed** (rather than left out), so
  a series that was open is seen to clear instead of vanishing mid-alert.

Sans-I/O: plain mappings in, states out; no clock, because the reports are snapshots whose
freshness is the heartbeat's business (`spec.decisions.liveness` takes a silent worker out of
rotation).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from spec.machines.circuit_breaker import BreakerState

#: Most severe first: the fleet takes the first state any worker in rotation reports.
_SEVERITY = (BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED)


def fleet_state(reported: Iterable[BreakerState | str]) -> BreakerState:
    """The fleet's state of one service from the states its workers in rotation report (none: closed)."""
    states = {BreakerState(state) for state in reported}
    for state in _SEVERITY:
        if state in states:
            return state
    return BreakerState.CLOSED


def fleet_states(
    reports: Mapping[str, Mapping[str, BreakerState | str]], in_rotation: Collection[str]
) -> dict[str, BreakerState]:
    """Service → fleet state, from ``{worker id: {service: state}}`` and the worker ids in rotation.

    Every service any worker reported appears; a service whose reporters are all out of rotation
    is closed.
    """
    by_service: dict[str, list[BreakerState | str]] = {}
    for worker_id, services in reports.items():
        counted = worker_id in in_rotation
        for service, state in services.items():
            BreakerState(state)  # an unknown state is an error even from a worker that does not count
            by_service.setdefault(service, [])
            if counted:
                by_service[service].append(state)
    return {service: fleet_state(states) for service, states in sorted(by_service.items())}


def open_reporters(
    reports: Mapping[str, Mapping[str, BreakerState | str]], in_rotation: Collection[str], service: str
) -> tuple[str, ...]:
    """The workers in rotation whose breaker of `service` is open (sorted): who an alert points at."""
    return tuple(sorted(w for w, services in reports.items()
                        if w in in_rotation and services.get(service) == BreakerState.OPEN))


__all__ = ["fleet_state", "fleet_states", "open_reporters"]
