"""When a graceful shutdown stops waiting for running work (seed 4.4), as a sans-I/O core.

Both shutdown machines wait the same way: look at the running work, and

* nothing runs → it settled (``tasks_finished`` / ``no_current_task`` at the first look,
  ``task_finished`` later on the worker);
* the deadline (``ShutdownPolicy.drain_deadline_s`` for the orchestrator,
  ``worker_task_deadline_s`` for a worker, counted from the first look) has come → ask the
  running work to stop (``drain_deadline_reached`` / ``task_deadline_reached``) and give it
  ``cancel_grace_s`` more;
* the grace is over, or everything stopped → what is left is taken back
  (``tasks_interrupted`` / ``task_interrupted``);
* otherwise look again at the next check (every ``check_interval_s``), never later than the
  deadline itself.

The deadline is reached when ``now >= deadline`` and the next look is capped at the deadline,
so a driver whose checks do not divide the deadline still stops waiting on time (the
simulator used to sleep a whole interval past it). The runtime drives this from asyncio, the
simulator from SimPy; `spec.conformance` replays the deadline through `DrainTiming`.
"""

from __future__ import annotations

from dataclasses import dataclass

from spec.machines.shutdown import OrchestratorShutdownTrigger as OT
from spec.machines.shutdown import WorkerShutdownTrigger as KT
from spec.policies import DEFAULT_POLICIES, ShutdownPolicy


@dataclass(frozen=True, slots=True)
class DrainTriggers:
    """One shutdown machine's names for the moments of the wait."""

    machine: str
    #: Nothing runs at the first look.
    idle_at_once: str
    #: Something runs at a look; ``repeat`` says whether it is fired at every look or only the first.
    busy: str
    repeat: bool
    #: Everything ended before the deadline (after the first look).
    settled: str
    deadline_reached: str
    interrupted: str
    #: The `ShutdownPolicy` field that holds the deadline.
    deadline_field: str


ORCHESTRATOR_DRAIN = DrainTriggers(
    machine="orchestrator_shutdown", idle_at_once=OT.TASKS_FINISHED, busy=OT.TASKS_STILL_RUNNING, repeat=True,
    settled=OT.TASKS_FINISHED, deadline_reached=OT.DRAIN_DEADLINE_REACHED, interrupted=OT.TASKS_INTERRUPTED,
    deadline_field="drain_deadline_s",
)
WORKER_DRAIN = DrainTriggers(
    machine="worker_shutdown", idle_at_once=KT.NO_CURRENT_TASK, busy=KT.TASK_IN_PROGRESS, repeat=False,
    settled=KT.TASK_FINISHED, deadline_reached=KT.TASK_DEADLINE_REACHED, interrupted=KT.TASK_INTERRUPTED,
    deadline_field="worker_task_deadline_s",
)


@dataclass(frozen=True, slots=True)
class DrainDecision:
    """What one look decided: the trigger to fire (if any) and what to do next."""

    trigger: str | None
    #: When to look again; ``None`` once the wait is over.
    wake_at: float | None
    #: Ask the running work to stop now (the deadline has come).
    cancel: bool = False
    #: Take back whatever still runs now (the grace is over).
    take_back: bool = False

    @property
    def done(self) -> bool:
        return self.wake_at is None


class ShutdownDrain:
    """The wait of one shutdown, from its first look at `began`."""

    __slots__ = ("policy", "triggers", "deadline", "grace_end", "_looked", "_done")

    def __init__(self, triggers: DrainTriggers, policy: ShutdownPolicy = DEFAULT_POLICIES.shutdown, *,
                 began: float) -> None:
        self.policy = policy
        self.triggers = triggers
        self.deadline = began + float(getattr(policy, triggers.deadline_field))
        #: Set when the deadline is reached: the end of the cancellation grace.
        self.grace_end: float | None = None
        self._looked = False
        self._done = False

    def _next_look(self, now: float, limit: float) -> float:
        return min(now + self.policy.check_interval_s, limit)

    def observe(self, running: int, now: float) -> DrainDecision:
        """Look at `running` units of work at `now`."""
        if self._done:
            raise ValueError("the shutdown's wait is over; nothing more to observe")
        t = self.triggers
        first, self._looked = not self._looked, True
        if self.grace_end is not None:  # cancelling: wait for the work to stop, up to the grace
            if running == 0 or now >= self.grace_end:
                self._done = True
                return DrainDecision(t.interrupted, None, take_back=running > 0)
            return DrainDecision(None, self._next_look(now, self.grace_end))
        if running == 0:
            self._done = True
            return DrainDecision(t.idle_at_once if first else t.settled, None)
        if now >= self.deadline and not first:  # the first look is at `began`: the deadline is ahead (gt=0)
            self.grace_end = now + self.policy.cancel_grace_s
            return DrainDecision(t.deadline_reached, self._next_look(now, self.grace_end), cancel=True)
        return DrainDecision(t.busy if first or t.repeat else None, self._next_look(now, self.deadline))


class DrainReplay:
    """Checks one recorded shutdown's wait against `ShutdownDrain` (for `spec.conformance`).

    The wait begins at its first look (the first ``busy`` or ``idle_at_once`` event). Running work
    must not be cancelled before the deadline; the recorded deadline may come late by at most one
    look's latency (a ``check_interval_s``: a driver declares it at the look that sees it), no look
    may find work still running later than that without declaring the deadline, and the wait
    ends by the end of the grace, give or take the same latency. `tolerance_s` widens every bound.
    The exact timing (the deadline declared at the deadline itself) is the core's, held by its
    own property tests.
    """

    __slots__ = ("triggers", "policy", "tolerance_s", "_drain")

    def __init__(self, triggers: DrainTriggers, policy: ShutdownPolicy, tolerance_s: float = 0.0) -> None:
        self.triggers, self.policy, self.tolerance_s = triggers, policy, tolerance_s
        self._drain: ShutdownDrain | None = None

    def observe(self, trigger: str, time: float) -> tuple[str, str, str] | None:
        """``(expected, actual, reason)`` when `trigger` at `time` breaks the rule, else None."""
        t, tol, latency = self.triggers, self.tolerance_s, self.policy.check_interval_s
        if self._drain is None:
            if trigger in (t.busy, t.idle_at_once):
                self._drain = ShutdownDrain(t, self.policy, began=time)
            return None
        drain = self._drain
        if trigger == t.deadline_reached:
            if time < drain.deadline - tol:
                return (f"{t.deadline_field} reached no earlier than {drain.deadline:.3f}", f"{time:.3f}",
                        "the shutdown cancelled running work before its deadline")
            if time > drain.deadline + latency + tol:
                return (f"{t.deadline_field} reached by {drain.deadline + latency:.3f} (one check late at most)",
                        f"{time:.3f}", "the shutdown declared its deadline late")
            drain.grace_end = time + self.policy.cancel_grace_s
        elif trigger in (t.busy, t.settled) and drain.grace_end is None and time > drain.deadline + latency + tol:
            return (f"the deadline declared by {drain.deadline + latency:.3f}", f"{trigger} at {time:.3f}",
                    "the shutdown kept waiting past its deadline")
        elif trigger == t.interrupted and drain.grace_end is not None and time > drain.grace_end + latency + tol:
            return (f"interrupted by {drain.grace_end + latency:.3f} (cancel_grace_s)", f"{time:.3f}",
                    "the shutdown waited longer than its grace")
        return None
