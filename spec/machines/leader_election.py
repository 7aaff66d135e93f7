"""Leader election among orchestrator replicas sharing one database (our extension of seed 4.2's
health monitoring to several orchestrators; the seed has one orchestrator).

Every replica serves requests; the cluster-wide sweeps (heartbeat timeouts, lease expiry, alert
evaluation, recovery after a crash, consistency validation) run on one replica at a time, the
leader. A replica in ``standby`` tries to take the database's leader lock every
``LeadershipPolicy.acquire_interval_s``; the one that gets it leads and confirms it still holds
it every ``renew_interval_s``. A leader that cannot confirm it for ``lease_s`` steps down on its
own, and the database server ends a silent leader's session (and with it the lock) within the
same ``lease_s``, so a standby takes over within ``LeadershipPolicy.failover_bound_s``.

Leading is a matter of efficiency, not of safety: every sweep is a transaction under the
store's write lock and idempotent, so two replicas that briefly both believe they lead change
nothing twice.
"""

from __future__ import annotations

from enum import StrEnum

from spec.machine import SAME, MachineSpec, StateRole, StateSpec, transition
from spec.messages import call, reply, step
from spec.participants import DATABASE, HEALTH_CHECKER, LOGGER, ORCHESTRATOR

ORCH, DB, HC, LOG = ORCHESTRATOR, DATABASE, HEALTH_CHECKER, LOGGER


class LeaderState(StrEnum):
    """The leader_election machine's states, named once for its table and every consumer."""

    STANDBY = "standby"
    LEADING = "leading"
    RESIGNED = "resigned"


class LeaderTrigger(StrEnum):
    """The leader_election machine's triggers, named once for its table and every consumer."""

    LOCK_ACQUIRED = "lock_acquired"
    LOCK_BUSY = "lock_busy"
    LOCK_RENEWED = "lock_renewed"
    LOCK_LOST = "lock_lost"
    LEASE_EXPIRED = "lease_expired"
    RESIGN = "resign"


S, T = LeaderState, LeaderTrigger

#: Triggers after which the replica no longer leads and stops the cluster-wide sweeps.
STEP_DOWN_TRIGGERS: frozenset[str] = frozenset({T.LOCK_LOST, T.LEASE_EXPIRED})

LEADER_ELECTION = MachineSpec(
    name="leader_election",
    title="Leader election",
    seed_section="4.2",
    description="Replicas on one database elect the one that runs the cluster-wide sweeps through a database "
    "lock; a standby takes over when the leader's session ends.",
    initial=S.STANDBY,
    states=(
        StateSpec(S.STANDBY, "Serves requests; tries to take the leader lock every acquire interval.",
                  StateRole.RESTING),
        StateSpec(S.LEADING, "Holds the leader lock: runs the cluster-wide sweeps and confirms the lock every "
                  "renew interval.", StateRole.RESTING),
        StateSpec(S.RESIGNED, "The replica stopped and gave the lock back.", StateRole.TERMINAL),
    ),
    transitions=(
        transition(T.LOCK_ACQUIRED, S.STANDBY, S.LEADING, "No replica held the lock: this one leads.",
                   call(ORCH, DB, "pg_try_advisory_lock(leader)"), reply(DB, ORCH, "true"),
                   step(ORCH, "recoverOrphanedLeases()"), call(ORCH, HC, "startSweeps()")),
        transition(T.LOCK_BUSY, S.STANDBY, SAME, "Another replica leads; try again after the acquire interval.",
                   call(ORCH, DB, "pg_try_advisory_lock(leader)"), reply(DB, ORCH, "false")),
        transition(T.LOCK_RENEWED, S.LEADING, SAME, "The leader's session still holds the lock.",
                   call(ORCH, DB, "confirmLockHeld(leader)"), reply(DB, ORCH, "held")),
        transition(T.LOCK_LOST, S.LEADING, S.STANDBY, "The session that held the lock ended, or the lock is "
                   "not held any more: stop the sweeps.",
                   reply(DB, ORCH, "not held"), call(ORCH, HC, "stopSweeps()"),
                   call(ORCH, LOG, 'warn("leadership lost")')),
        transition(T.LEASE_EXPIRED, S.LEADING, S.STANDBY, "The lock could not be confirmed for the lease: step "
                   "down before the server gives the lock to another replica.",
                   call(ORCH, HC, "stopSweeps()"), call(ORCH, LOG, 'warn("leadership lease expired")')),
        transition(T.RESIGN, (S.STANDBY, S.LEADING), S.RESIGNED, "The replica stops: sweeps stopped, lock "
                   "released for the others.",
                   call(ORCH, HC, "stopSweeps()"), call(ORCH, DB, "pg_advisory_unlock(leader)")),
    ),
)
