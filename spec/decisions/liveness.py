"""When a silent worker is declared lost and a lease expires (seed 4.2; ``HeartbeatPolicy``, ``LeasePolicy``).

A worker is silent once ``timeout_s`` has passed since its last heartbeat (exactly
``timeout_s`` counts); a monitor that sweeps every ``sweep_interval_s`` therefore detects it
within ``[timeout_s, timeout_s + sweep_interval_s]`` of that heartbeat, which is what a checker
accepts. A lease not renewed for ``lease_ttl_s`` (exactly counts) has expired.
"""

from __future__ import annotations

from spec.policies import DEFAULT_POLICIES, HeartbeatPolicy, LeasePolicy


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
        return now - last_seen >= self.timeout_s

    def silent_at(self, last_seen: float) -> float:
        """When a worker last heard from at `last_seen` becomes silent."""
        return last_seen + self.timeout_s

    def lease_expired(self, renewed: float, now: float) -> bool:
        return now - renewed >= self.lease_ttl_s

    def detected_in_time(self, silence_s: float, tolerance_s: float = 0.0) -> bool:
        """Whether a detection `silence_s` after the last heartbeat lies in the detection window."""
        low, high = self.heartbeat.detection_window_s()
        return low - tolerance_s <= silence_s <= high + tolerance_s
