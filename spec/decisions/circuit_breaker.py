"""When the circuit breaker's triggers fire (seed 4.5, "Circuit Breaker Pattern"), as a sans-I/O core.

The runtime (asyncio), the simulator (SimPy) and the conformance checker (a recorded trace) all
feed this object the same observations -- a call wants in, a call ended, with an explicit
``now`` -- and fire the trigger it returns on their ``circuit_breaker`` machine. No clock, no
I/O and no randomness live here, so the three cannot disagree on the rules:

* the sliding window holds the failures of the last ``window_s`` seconds, excluding one exactly
  ``window_s`` old (the window is ``(now - window_s, now]``);
* ``trip`` fires on the ``failure_threshold``-th failure in the window;
* the first call at or after ``opened_at + open_duration_s`` becomes the trial (``probe``);
* while half-open up to ``half_open_max_trials`` calls ride on the probe; more are rejected;
* only outcomes whose taxonomy class ``counts_against_breaker`` are failures: any other outcome
  (success, a validation error, a rate limit) is an answer of a healthy service;
* an outcome of a call admitted before the breaker last changed cycle (its ``epoch``) is stale
  and ignored.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from spec.machines.circuit_breaker import CIRCUIT_BREAKER_MACHINE, BreakerState, BreakerTrigger
from spec.policies import DEFAULT_POLICIES, CircuitBreakerPolicy


class FailureWindow:
    """The failures of the last ``window_s`` seconds: one exactly ``window_s`` old has left it."""

    __slots__ = ("window_s", "_times")

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._times: deque[float] = deque()

    def prune(self, now: float) -> None:
        horizon = now - self.window_s
        times = self._times
        while times and times[0] <= horizon:
            times.popleft()

    def add(self, now: float) -> int:
        """Record a failure at `now`; the number of failures in the window, this one included."""
        self.prune(now)
        self._times.append(now)
        return len(self._times)

    def count(self, now: float) -> int:
        self.prune(now)
        return len(self._times)

    def times(self) -> list[float]:
        return list(self._times)

    def clear(self) -> None:
        self._times.clear()


@dataclass(frozen=True, slots=True)
class Admission:
    """The breaker's answer to a call that wants in.

    ``trigger`` is what the driver fires on its machine (``None``: an extra half-open trial that
    rides on the probe without a transition of its own); ``retry_in_s`` is how long a rejected
    caller should wait before the next call can become the trial.
    """

    admitted: bool
    trigger: BreakerTrigger | None
    trial: bool = False
    epoch: int = 0
    retry_in_s: float = 0.0


class BreakerCore:
    """One breaker's rules; drivers call :meth:`admit` then :meth:`record` (or :meth:`abandon`)."""

    def __init__(self, policy: CircuitBreakerPolicy = DEFAULT_POLICIES.circuit_breaker) -> None:
        self.policy = policy
        self.state = BreakerState(CIRCUIT_BREAKER_MACHINE.initial)
        self.window = FailureWindow(policy.window_s)
        self.opened_at: float | None = None
        self.epoch = 0
        self.trials_in_flight = 0

    # -- queries ----------------------------------------------------------------------------

    def retry_in_s(self, now: float) -> float:
        """Seconds until a call may become the trial; 0 unless open."""
        if self.state is not BreakerState.OPEN or self.opened_at is None:
            return 0.0
        return max(0.0, self.opened_at + self.policy.open_duration_s - now)

    def next_deadline(self) -> float | None:
        """When the breaker next changes its answer without a new outcome: the end of the open duration."""
        if self.state is BreakerState.OPEN and self.opened_at is not None:
            return self.opened_at + self.policy.open_duration_s
        return None

    # -- observations -----------------------------------------------------------------------

    def admit(self, now: float) -> Admission:
        """A call wants to go through at `now`."""
        state = self.state
        if state is BreakerState.CLOSED:
            return Admission(True, self._move(BreakerTrigger.ADMIT), epoch=self.epoch)
        if state is BreakerState.OPEN:
            wait = self.retry_in_s(now)
            if wait > 0:
                return Admission(False, self._move(BreakerTrigger.REJECT), retry_in_s=wait)
            self.trials_in_flight = 1
            return Admission(True, self._move(BreakerTrigger.PROBE), trial=True, epoch=self.epoch)
        if self.trials_in_flight < self.policy.half_open_max_trials:
            self.trials_in_flight += 1
            return Admission(True, None, trial=True, epoch=self.epoch)
        return Admission(False, self._move(BreakerTrigger.REJECT_DURING_TRIAL))

    def record(self, admission: Admission, now: float, *, counts_as_failure: bool) -> BreakerTrigger | None:
        """An admitted call ended at `now`; the trigger to fire, or ``None`` for a stale outcome."""
        if admission.epoch != self.epoch:
            return None
        if admission.trial:
            if self.state is not BreakerState.HALF_OPEN:
                return None
            self.trials_in_flight = 0
            if counts_as_failure:
                self._open(now)
                return self._move(BreakerTrigger.TRIAL_FAILED)
            self.window.clear()
            self.opened_at = None
            self.epoch += 1
            return self._move(BreakerTrigger.TRIAL_SUCCEEDED)
        if self.state is not BreakerState.CLOSED:
            return None
        if not counts_as_failure:
            return self._move(BreakerTrigger.RECORD_SUCCESS)
        if self.window.add(now) >= self.policy.failure_threshold:
            self._open(now)
            return self._move(BreakerTrigger.TRIP)
        return self._move(BreakerTrigger.RECORD_FAILURE)

    def abandon(self, admission: Admission) -> BreakerTrigger | None:
        """A trial was cancelled: reopen without restarting the open duration (``trial_abandoned``)."""
        if not admission.trial or admission.epoch != self.epoch or self.state is not BreakerState.HALF_OPEN:
            return None
        self.trials_in_flight = 0
        self.epoch += 1
        return self._move(BreakerTrigger.TRIAL_ABANDONED)

    def force_open(self, now: float) -> BreakerTrigger | None:
        """Open now (operator action): ``trip`` when closed, ``trial_failed`` when half-open."""
        trigger: BreakerTrigger | None = None
        if self.state is BreakerState.CLOSED:
            trigger = self._move(BreakerTrigger.TRIP)
        elif self.state is BreakerState.HALF_OPEN:
            self.trials_in_flight = 0
            trigger = self._move(BreakerTrigger.TRIAL_FAILED)
        self._open(now)
        return trigger

    # -- internals --------------------------------------------------------------------------

    def _open(self, now: float) -> None:
        self.opened_at = now
        self.window.clear()
        self.epoch += 1

    def _move(self, trigger: BreakerTrigger) -> BreakerTrigger:
        """Advance the core's state as the machine's table says (an illegal trigger raises)."""
        self.state = BreakerState(CIRCUIT_BREAKER_MACHINE.next_state(self.state, trigger))
        return trigger
