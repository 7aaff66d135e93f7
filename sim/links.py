"""Which participants the simulator connects by a network link (issue 5, "network ... between any two").

Participants come from `spec.participants`; this module only says which pairs talk to each other
in the model, so a scenario that partitions two participants that never exchange a message is
rejected instead of silently doing nothing.
"""

from __future__ import annotations

from spec.participants import AI_PROVIDER, CLIENT, DATABASE, GIT_PLATFORM, ORCHESTRATOR, WORKER, Participant

#: Unordered pairs of participant ids joined by a link in the model.
MODELLED_LINKS: tuple[frozenset[str], ...] = tuple(
    frozenset((a.id, b.id))
    for a, b in (
        (WORKER, ORCHESTRATOR),
        (CLIENT, ORCHESTRATOR),
        (ORCHESTRATOR, DATABASE),
        (WORKER, AI_PROVIDER),
        (WORKER, GIT_PLATFORM),
    )
)

#: External services a task calls through the resilience layer (breaker, retry, rate limit, auth).
EXTERNAL_SERVICES: tuple[Participant, ...] = (AI_PROVIDER, GIT_PLATFORM)


def link_key(a: str, b: str) -> frozenset[str]:
    return frozenset((a, b))


def describe_links() -> str:
    return ", ".join("<->".join(sorted(pair)) for pair in MODELLED_LINKS)
