"""Several orchestrator replicas on one database: one replica's part in the leader election (issue 16).

The seed draws one orchestrator; this story is ours (docs/departures.md). It follows one replica:
it starts while another leads, takes the lock once that leader's session ended, runs the sweeps
and renews, and leaves leadership in one of three ways.
"""

from __future__ import annotations

from spec.participants import DATABASE, HEALTH_CHECKER, LOGGER, ORCHESTRATOR
from spec.story import Note, Step, Story, alt, branch, happy_branch, loop

L = "leader_election"

LEADER_ELECTION_STORY = Story(
    name="leader_failover",
    title="Leader election and failover between replicas",
    seed_section="4.2",
    description="A standby replica finds the leader lock taken, takes it when the leader's session ends, runs "
    "the cluster-wide sweeps and renews the lock, then resigns, loses the lock or lets its lease expire.",
    machines=(L,),
    participants=(ORCHESTRATOR, DATABASE, HEALTH_CHECKER, LOGGER),
    items=(
        Step(L, "lock_busy"),
        Note("Another replica leads; this one serves requests and tries again every acquire interval",
             (ORCHESTRATOR, DATABASE)),
        Note("The leader's session ends (its process died, or the server dropped it after the lease)",
             (ORCHESTRATOR, DATABASE)),
        Step(L, "lock_acquired"),
        loop("Every renew interval", Step(L, "lock_renewed")),
        alt(
            happy_branch("The replica stops", Step(L, "resign")),
            branch("The session ended or the lock is gone", Step(L, "lock_lost")),
            branch("No confirmation for the whole lease", Step(L, "lease_expired")),
        ),
    ),
)
