"""Which replica runs the cluster-wide sweeps: the leader elected through PostgreSQL (machine ``leader_election``).

Every replica serves requests. The sweeps that must run once for the whole database run on the
leader only: the health monitor's sweep (heartbeat timeouts, lease expiry), alert evaluation,
the consistency validation, and, when a replica takes over, the recovery of what the previous
leader may have left behind (leases of workers that are gone, expired leases, re-queued with a
new fencing token) together with a fresh heartbeat timeout for every worker in rotation: the
workers of a replica that died had no orchestrator to send heartbeats to
(`spec.decisions.liveness.HEARTBEAT_GRACE`).

`LeadershipCore` decides when to try the lock, renew it or step down; `LeaderLock` asks the
server; this driver sleeps until the core's next deadline and fires its answers on the machine.
A failed attempt is traced once per standby period (the repeats change nothing). On SQLite there
is one orchestrator: it leads from its start, without an election or a trace of one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from runtime.orchestrator.db_recovery import run_consistency_checks
from runtime.store.changes import ChangeLog
from runtime.store.leadership import LeaderLock, LeaderLockError
from runtime.store.locations import PostgresLocation
from runtime.store.queue import reset_orphaned_tasks
from runtime.store.registry import grant_heartbeat_grace
from spec.decisions.leadership import LeadershipCore
from spec.machine import MachineInstance
from spec.machines.leader_election import LEADER_ELECTION, STEP_DOWN_TRIGGERS, LeaderTrigger

if TYPE_CHECKING:
    from runtime.orchestrator.orchestrator import Orchestrator

log = logging.getLogger("runtime.orchestrator.leadership")


class Leadership:
    """One replica's part in the election, and the sweeps it runs while it leads."""

    def __init__(self, orch: Orchestrator, clock: Callable[[], float] = time.monotonic) -> None:
        self.orch = orch
        self.policy = orch.policies.leadership
        self.clock = clock
        location = orch.settings.db
        self.lock = (LeaderLock(location, self.policy, orch.policies.database)
                     if isinstance(location, PostgresLocation) else None)
        self.core: LeadershipCore | None = None
        self.machine: MachineInstance | None = None
        #: True while this replica runs the cluster-wide sweeps (always, on SQLite, once started).
        self.leading = False
        #: Wall-clock time this replica last became leader, for ``/health/ready``.
        self.since: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._busy_traced = False
        self._unreachable = False

    @property
    def elected(self) -> bool:
        """Whether leadership is decided by an election (several replicas may share the database)."""
        return self.lock is not None

    def start(self) -> None:
        """Lead at once (SQLite), or start taking part in the election (PostgreSQL)."""
        if self.lock is None:
            self._start_sweeps()
            return
        self.core = LeadershipCore(self.policy, now=self.clock())
        self.machine = LEADER_ELECTION.bind(listener=self.orch.trace.listener(self.orch.component("leader_election")))
        self._task = self.orch.supervisor.start("leader-election", self._elect)

    async def claim_recovery(self) -> bool:
        """At startup after an unclean stop: whether recovery is this replica's to run.

        On SQLite always. On PostgreSQL an unfinished run may be a replica that is alive: recovery is
        run by the replica that holds the leader lock, so this one takes the lock if it is free (and
        then leads once the election starts) and leaves recovery to the leader otherwise.
        """
        if self.lock is None:
            return True
        try:
            return await self.lock.try_take(self.orch.policies.database.connect_timeout_s)
        except LeaderLockError as exc:
            log.warning("cannot tell whether another replica leads, so recovering here: %s", exc)
            return True

    def cancel(self) -> None:
        """Stop the election now, without waiting; the lock is kept until :meth:`resign`."""
        if self._task is not None:
            self._task.cancel()

    async def resign(self) -> None:
        """The replica stops: the sweeps stop, the lock goes back to the others (``resign``)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._stop_sweeps()
        if self.core is not None and self.machine is not None and self.machine.can_fire(LeaderTrigger.RESIGN):
            self.machine.fire(self.core.resign())
        if self.lock is not None:
            await self.lock.close()

    def describe(self) -> dict[str, Any]:
        """The ``leadership`` entry of ``/health/ready``."""
        state = self.machine.state if self.machine is not None else ("leading" if self.leading else None)
        return {"elected": self.elected, "state": state, "leading": self.leading, "since": self.since}

    # -- the election loop ------------------------------------------------------------------

    async def _elect(self) -> None:
        core, lock = self.core, self.lock
        assert core is not None and lock is not None
        while True:
            await asyncio.sleep(max(0.0, core.next_deadline() - self.clock()))
            if core.leading:
                await self._renew(core, lock)
            else:
                await self._attempt(core, lock)

    async def _attempt(self, core: LeadershipCore, lock: LeaderLock) -> None:
        try:
            taken = await lock.try_take(self.policy.acquire_interval_s)
        except LeaderLockError as exc:
            core.observe_attempt(False, self.clock())  # no answer is no lock; try again next interval
            if not self._unreachable:  # once per outage, not once per attempt
                self._unreachable = True
                log.warning("cannot try the leader lock (trying every %g s): %s", self.policy.acquire_interval_s, exc)
            return
        self._unreachable = False
        trigger = core.observe_attempt(taken, self.clock())
        if trigger is LeaderTrigger.LOCK_BUSY:
            if not self._busy_traced:
                self._busy_traced = True
                self._fire(trigger)
            return
        await self._take_over()
        self._fire(trigger)
        self._busy_traced = False
        self.leading, self.since = True, time.time()
        log.warning("this replica leads: it runs the cluster-wide sweeps")
        self._start_sweeps()

    async def _renew(self, core: LeadershipCore, lock: LeaderLock) -> None:
        try:
            held = await lock.confirm(max(0.0, core.lease_deadline() - self.clock()))
        except LeaderLockError as exc:
            trigger = core.observe_unconfirmed(self.clock())
            log.warning("cannot confirm the leader lock: %s", exc)
        else:
            trigger = core.observe_renewal(held, self.clock())
        if trigger is None:
            return
        self._fire(trigger)
        if trigger in STEP_DOWN_TRIGGERS:
            log.warning("this replica no longer leads (%s): sweeps stopped", trigger)
            self.leading = False
            await self._stop_sweeps()
            await lock.close()  # a session in doubt must not keep the lock for nobody

    def _fire(self, trigger: LeaderTrigger) -> None:
        assert self.machine is not None
        self.machine.fire(trigger)

    async def _take_over(self) -> None:
        """What the previous leader may have left: orphaned and expired leases; workers get a fresh timeout."""
        orch = self.orch
        now = orch.now()

        async def _recover(session: AsyncSession, changes: ChangeLog) -> int:
            await grant_heartbeat_grace(session, now)
            return await reset_orphaned_tasks(session, changes, now)

        try:
            orphans = await orch.transact(_recover)
        except Exception:  # the next sweeps re-queue them anyway; leading must not wait for the database
            log.exception("taking over: re-queuing orphaned leases failed; the sweeps will")
            return
        if orphans:
            log.warning("taking over: %d orphaned lease(s) re-queued", orphans)

    # -- the sweeps -------------------------------------------------------------------------

    def _start_sweeps(self) -> None:
        orch = self.orch
        self.leading = True
        orch.monitoring.start(orch.db, orch.settings.alert_eval_interval_s, spawn=orch.supervisor.start)
        if orch.consistency_task is None or orch.consistency_task.done():
            orch.consistency_task = orch.supervisor.start("consistency-check", lambda: run_consistency_checks(orch))

    async def _stop_sweeps(self) -> None:
        """Alert evaluation and consistency checks stop; the health monitor's loop skips its sweeps."""
        orch = self.orch
        self.leading = False
        await orch.monitoring.stop()
        task, orch.consistency_task = orch.consistency_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
