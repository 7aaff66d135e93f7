"""When a replica leads, renews, steps down, and how soon another takes over (``LeadershipPolicy``).

`LeadershipCore` is one replica's side of the ``leader_election`` machine: the driver tells it
what the database answered (the lock was taken or busy, is still held or not, or could not be
confirmed) with its ``now``, fires the trigger it answers, and sleeps until
:meth:`LeadershipCore.next_deadline`. `FailoverReplay` is the trace checker's side: a leader
keeps leading only while it confirms its lock within ``lease_s``, steps down on expiry no
earlier than ``lease_s`` after its last confirmation, and when a leader's session ends, a
replica that was standing by leads within ``failover_bound_s`` of that leader's last
confirmation (or of its own first attempt, if it started later). No replica can take a lock the
database does not answer for, so when it is down the bound counts from its return
(`takeover_due`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from spec.decisions.replay import Violation
from spec.machines.leader_election import STEP_DOWN_TRIGGERS, LeaderState, LeaderTrigger
from spec.policies import DEFAULT_POLICIES, LeadershipPolicy


class LeadershipCore:
    """One replica's leadership: observations in, triggers and the next deadline out."""

    __slots__ = ("policy", "state", "confirmed_at", "attempted_at")

    def __init__(self, policy: LeadershipPolicy = DEFAULT_POLICIES.leadership, *, now: float) -> None:
        self.policy = policy
        self.state = LeaderState.STANDBY
        #: The leader's last confirmation that its session holds the lock (None in standby).
        self.confirmed_at: float | None = None
        #: The last attempt to take (standby) or confirm (leading) the lock; the first is due at once.
        self.attempted_at = now - policy.acquire_interval_s

    @property
    def leading(self) -> bool:
        return self.state is LeaderState.LEADING

    def next_deadline(self) -> float:
        """When the driver must next try the lock (standby) or confirm it (leading); the lease end caps it."""
        if self.state is LeaderState.STANDBY:
            return self.attempted_at + self.policy.acquire_interval_s
        if self.state is LeaderState.RESIGNED:
            return float("inf")
        assert self.confirmed_at is not None
        return min(self.attempted_at + self.policy.renew_interval_s, self.lease_deadline())

    def lease_deadline(self) -> float:
        """The time a leader that confirms nothing more steps down."""
        if self.confirmed_at is None:
            raise ValueError("a replica in standby has no lease")
        return self.confirmed_at + self.policy.lease_s

    def observe_attempt(self, taken: bool, now: float) -> LeaderTrigger:
        """A standby asked for the lock at `now`: it leads when `taken`, else it waits for the next attempt."""
        self._require(LeaderState.STANDBY, "try the lock")
        self.attempted_at = now
        if not taken:
            return LeaderTrigger.LOCK_BUSY
        self.state, self.confirmed_at = LeaderState.LEADING, now
        return LeaderTrigger.LOCK_ACQUIRED

    def observe_renewal(self, held: bool, now: float) -> LeaderTrigger:
        """The leader's session answered at `now` whether it still holds the lock."""
        self._require(LeaderState.LEADING, "renew the lock")
        self.attempted_at = now
        if now >= self.lease_deadline():  # the answer came too late: another replica may lead already
            return self._step_down(LeaderTrigger.LEASE_EXPIRED)
        if not held:
            return self._step_down(LeaderTrigger.LOCK_LOST)
        self.confirmed_at = now
        return LeaderTrigger.LOCK_RENEWED

    def observe_unconfirmed(self, now: float) -> LeaderTrigger | None:
        """The leader could not ask (connection error, no answer) at `now`: it steps down once the lease is over."""
        self._require(LeaderState.LEADING, "renew the lock")
        self.attempted_at = now
        if now >= self.lease_deadline():
            return self._step_down(LeaderTrigger.LEASE_EXPIRED)
        return None

    def resign(self) -> LeaderTrigger:
        """The replica stops: it gives the lock back (or never had it)."""
        self._require((LeaderState.STANDBY, LeaderState.LEADING), "resign")
        self.state, self.confirmed_at = LeaderState.RESIGNED, None
        return LeaderTrigger.RESIGN

    def _step_down(self, trigger: LeaderTrigger) -> LeaderTrigger:
        self.state, self.confirmed_at = LeaderState.STANDBY, None
        return trigger

    def _require(self, states: LeaderState | tuple[LeaderState, ...], doing: str) -> None:
        allowed = states if isinstance(states, tuple) else (states,)
        if self.state not in allowed:
            raise ValueError(f"a replica in {self.state} cannot {doing}; it must be in "
                             f"{' or '.join(str(s) for s in allowed)}")


def takeover_due(policy: LeadershipPolicy, ended_at: float, outages: Iterable[tuple[float, float]]) -> float:
    """By when another replica must lead after the leader's session ended at `ended_at`:
    ``failover_bound_s`` later, or that long after the database answers again when it does not
    answer before then. `outages`: ``(start, end)`` windows in which the database does not answer.
    """
    due = ended_at + policy.failover_bound_s
    for start, end in sorted(outages):  # by start: an outage extends `due` only if it began before it
        if start < due and end > ended_at:
            due = max(due, end + policy.failover_bound_s)
    return due


@dataclass
class _Replica:
    state: LeaderState = LeaderState.STANDBY
    #: Leading: the last confirmation (acquired or renewed).
    confirmed_at: float | None = None
    #: Standing by: the first attempt of this standby period, from when a takeover is owed.
    waiting_since: float | None = None


class FailoverReplay:
    """Checks the leader_election events of every replica of one trace against ``LeadershipPolicy``."""

    def __init__(self, policy: LeadershipPolicy = DEFAULT_POLICIES.leadership, tolerance_s: float = 0.0) -> None:
        self.policy = policy
        self.tolerance_s = tolerance_s
        self._replicas: dict[str, _Replica] = {}

    def observe(self, component: str, trigger: str, time: float) -> Violation | None:
        replica = self._replicas.setdefault(component, _Replica())
        lease, bound = self.policy.lease_s, self.policy.failover_bound_s
        if trigger == LeaderTrigger.LOCK_BUSY:
            if replica.waiting_since is None:
                replica.waiting_since = time
        elif trigger == LeaderTrigger.LOCK_ACQUIRED:
            for other, previous in self._replicas.items():
                if other == component or previous.state is not LeaderState.LEADING:
                    continue
                assert previous.confirmed_at is not None
                if replica.waiting_since is not None:
                    owed = max(previous.confirmed_at, replica.waiting_since) + bound
                    if time > owed + self.tolerance_s:
                        return Violation(f"takeover within failover_bound_s = {bound:g} s",
                                         f"{time - max(previous.confirmed_at, replica.waiting_since):g} s",
                                         f"{component} took over from {other} late")
                previous.state, previous.confirmed_at = LeaderState.STANDBY, None  # its session had ended
            replica.state, replica.confirmed_at, replica.waiting_since = LeaderState.LEADING, time, None
        elif trigger == LeaderTrigger.LOCK_RENEWED:
            if replica.confirmed_at is not None and time - replica.confirmed_at > lease + self.tolerance_s:
                return Violation(f"a renewal within lease_s = {lease:g} s", f"{time - replica.confirmed_at:g} s",
                                 f"{component} kept leading past its lease")
            replica.confirmed_at = time
        elif trigger in STEP_DOWN_TRIGGERS:
            if (trigger == LeaderTrigger.LEASE_EXPIRED and replica.confirmed_at is not None
                    and time < replica.confirmed_at + lease - self.tolerance_s):  # the core's own sum
                return Violation(f"step down no earlier than lease_s = {lease:g} s",
                                 f"{time - replica.confirmed_at:g} s", f"{component} gave up its lease early")
            replica.state, replica.confirmed_at, replica.waiting_since = LeaderState.STANDBY, None, None
        elif trigger == LeaderTrigger.RESIGN:
            replica.state, replica.confirmed_at, replica.waiting_since = LeaderState.RESIGNED, None, None
        return None
