"""When a silent worker is declared lost and a lease expires (seed 4.2; ``HeartbeatPolicy``, ``LeasePolicy``).

A worker is silent once ``timeout_s`` has passed since its last heartbeat (exactly
``timeout_s`` counts); a monitor that sweeps every ``sweep_interval_s`` therefore detects it
within ``[timeout_s, timeout_s + sweep_interval_s]`` of that heartbeat, which is what a checker
accepts. A lease not renewed for ``lease_ttl_s`` (exactly counts) has expired.

Only a monitor that sweeps can detect anything: while the orchestrator is down (or, with
replicas, while none leads) the window does not close, and a worker that went silent then is
due ``timeout_s + sweep_interval_s`` after sweeping resumed with its grace (`HEARTBEAT_GRACE`),
never before — `LivenessRules.detection_due`.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

from spec.policies import DEFAULT_POLICIES, HeartbeatPolicy, LeasePolicy

#: After a restart the orchestrator no longer knows when it last heard from each worker: when its
#: worker pool starts (``orchestrator_startup`` ``worker_pool_ready``, seed 4.1 ``setupRegistry()``)
#: or a crash recovery resumes service (``orchestrator_recovery`` ``workflows_resumed``), every
#: worker in rotation gets a fresh ``timeout_s``, and silence is detected from then on. So does a
#: replica that takes the sweeps over from a leader that died (``leader_election`` ``lock_acquired``):
#: workers that reported to the dead replica had no orchestrator to send heartbeats to.
HEARTBEAT_GRACE: frozenset[tuple[str, str]] = frozenset({
    ("orchestrator_startup", "worker_pool_ready"),
    ("orchestrator_recovery", "workflows_resumed"),
    ("leader_election", "lock_acquired"),
})


def heard_too_long_ago(last_seen: Any, now: float, timeout_s: float) -> Any:
    """Silent: last heard from at least `timeout_s` before `now` (exactly counts).

    Written once for every driver: on floats it answers a bool; on the store's ``last_heartbeat``
    column, unchanged, the SQL condition of the same rule.
    """
    return last_seen <= now - timeout_s


def lease_expired_by(expires_at: Any, now: float) -> Any:
    """A lease is over at its expiry time (exactly counts); floats or the store's column, like above."""
    return expires_at <= now


class LivenessRules:
    """The heartbeat and lease rules; drivers ask with the times they hold and their ``now``."""

    __slots__ = ("heartbeat", "lease", "timeout_s", "lease_ttl_s")

    def __init__(self, heartbeat: HeartbeatPolicy = DEFAULT_POLICIES.heartbeat,
                 lease: LeasePolicy = DEFAULT_POLICIES.lease) -> None:
        self.heartbeat = heartbeat
        self.lease = lease
        self.timeout_s = heartbeat.timeout_s
        self.lease_ttl_s = lease.lease_ttl_s

    def is_silent(self, last_seen: float, now: float) -> bool:
        return bool(heard_too_long_ago(last_seen, now, self.timeout_s))

    def silent_at(self, last_seen: float) -> float:
        """When a worker last heard from at `last_seen` becomes silent."""
        return last_seen + self.timeout_s

    def lease_expired(self, renewed: float, now: float) -> bool:
        return bool(lease_expired_by(renewed + self.lease_ttl_s, now))

    def detected_in_time(self, silence_s: float, tolerance_s: float = 0.0) -> bool:
        """Whether a detection `silence_s` after the last heartbeat lies in the detection window."""
        low, high = self.heartbeat.detection_window_s()
        return low - tolerance_s <= silence_s <= high + tolerance_s

    def detection_due(self, last_seen: float, graces: Sequence[float], stops: Sequence[float]) -> float | None:
        """By when a sweeping monitor must have declared silent a worker last heard from at `last_seen`;
        None when it never has to (sweeping stopped and did not resume).

        `graces`: sorted times of `HEARTBEAT_GRACE` events (sweeping resumes, and every worker's
        timeout restarts); `stops`: sorted times sweeping stopped (the orchestrator crashed or was
        stopped, the leader replica died or stepped down). The window of `detected_in_time` closes
        ``detection_window_s()[1]`` after the later of `last_seen` and the latest grace inside it;
        if sweeping is stopped when it would close, it reopens at the next grace.
        """
        high = self.heartbeat.detection_window_s()[1]
        base = last_seen
        while True:  # ends: `base` only ever moves to a later grace, and there are finitely many
            due = base + high
            inside = bisect_right(graces, due)
            last_grace = graces[inside - 1] if inside else -math.inf
            if last_grace > base:
                base = last_grace
                continue
            stopped = bisect_right(stops, due)
            if not stopped or stops[stopped - 1] <= last_grace:  # a grace at a stop's time resumes it
                return due
            if inside == len(graces):
                return None
            base = graces[inside]
