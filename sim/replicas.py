"""Orchestrator replicas on one database electing the one that sweeps (machine ``leader_election``, issue 16).

With ``topology.replicas`` of two or more, every replica runs the spec's `LeadershipCore` against
the database's leader lock, modelled here as the index of the replica whose session holds it. The
orchestrator model keeps serving as one (any replica accepts any request); what the election
decides is whether anybody sweeps (`sim.orchestrator.Orchestrator.sweep`): from a leader's crash
until a standby takes over, silent workers and expired leases wait. A crashed replica's session
ends with its process, so the lock is free at once; a replica that cannot reach the database
(``database_outage``) cannot confirm its lock and steps down when its lease is over, as the
runtime's does. Every takeover grants the workers a fresh heartbeat timeout, as the runtime's
(`spec.decisions.liveness.HEARTBEAT_GRACE`). Lock queries take no simulated time.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import simpy

from sim.recorder import TracedMachine
from sim.world import World
from spec.decisions.leadership import LeadershipCore
from spec.machines.leader_election import LEADER_ELECTION, STEP_DOWN_TRIGGERS, LeaderTrigger


def replica_component(index: int) -> str:
    """The component prefix of replica `index`'s machines; each start adds ``#n``."""
    return f"replica-{index}"


class _Replica:
    def __init__(self, index: int) -> None:
        self.index = index
        self.up = False
        self.generation = 0
        self.busy_traced = False
        self.core: LeadershipCore | None = None
        self.machine: TracedMachine | None = None


class ReplicaSet:
    """The replicas' election; `on_takeover` runs when one of them starts leading."""

    def __init__(self, world: World, on_takeover: Callable[[], None]) -> None:
        self.world = world
        self.env: simpy.Environment = world.env
        self.on_takeover = on_takeover
        self.replicas = [_Replica(i) for i in range(1, world.topology.replicas + 1)]
        #: The replica whose database session holds the leader lock, or None.
        self.holder: int | None = None

    def has_leader(self) -> bool:
        return any(r.up and r.core is not None and r.core.leading for r in self.replicas)

    def start(self) -> None:
        for replica in self.replicas:
            self._boot(replica)

    def crash(self, index: int) -> None:
        """The replica's process dies: its session, and the lock if it held it, end at once."""
        replica = self.replicas[index - 1]
        replica.up, replica.generation = False, replica.generation + 1
        if self.holder == index:
            self.holder = None

    def restart(self, index: int) -> None:
        replica = self.replicas[index - 1]
        if not replica.up:
            self._boot(replica)

    def _boot(self, replica: _Replica) -> None:
        replica.up, replica.busy_traced = True, False
        replica.core = LeadershipCore(self.world.policies.leadership, now=self.env.now)
        component = f"{self.world.unique(replica_component(replica.index))}.{LEADER_ELECTION.name}"
        replica.machine = self.world.recorder.bind(LEADER_ELECTION.name, component)
        self.env.process(self._elect(replica, replica.generation))

    def _elect(self, replica: _Replica, generation: int) -> Generator[simpy.Event, Any, None]:
        core, machine = replica.core, replica.machine
        assert core is not None and machine is not None
        while True:
            yield self.env.timeout(max(0.0, core.next_deadline() - self.env.now))
            if generation != replica.generation:
                return
            now = self.env.now
            reachable = not self.world.faults.database_down(now)
            if core.leading:
                trigger = (core.observe_renewal(self.holder == replica.index, now) if reachable
                           else core.observe_unconfirmed(now))
                if trigger is None:
                    continue
                machine.fire(trigger)
                if trigger in STEP_DOWN_TRIGGERS and self.holder == replica.index:
                    self.holder = None  # the runtime closes a session in doubt
            elif not reachable:
                core.observe_attempt(False, now)
            else:
                taken = self.holder in (None, replica.index)
                if taken:
                    self.holder = replica.index
                trigger = core.observe_attempt(taken, now)
                if trigger is LeaderTrigger.LOCK_BUSY:
                    if not replica.busy_traced:
                        replica.busy_traced = True
                        machine.fire(trigger)
                    continue
                self.on_takeover()
                machine.fire(trigger)
                replica.busy_traced = False
