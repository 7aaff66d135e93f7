"""The seed's sequence diagrams as stories over the machine tables.

``STORIES`` maps a story name to its :class:`~spec.story.Story`; the renderer expands each step
into the messages of the transition it names.
"""

from __future__ import annotations

from spec.sequences.config_reload import CONFIG_RELOAD_STORY
from spec.sequences.execution import EXECUTION_STORY
from spec.sequences.leadership import LEADER_ELECTION_STORY
from spec.sequences.registration import REGISTRATION_STORY
from spec.sequences.resilience import AUTH_STORY, CIRCUIT_BREAKER_STORY, RATE_LIMIT_STORY, RETRY_STORY
from spec.sequences.shutdown import (
    ORCHESTRATOR_RECOVERY_STORY,
    ORCHESTRATOR_SHUTDOWN_STORY,
    WORKER_RECOVERY_STORY,
    WORKER_SHUTDOWN_STORY,
)
from spec.sequences.startup import STARTUP_STORY
from spec.story import Story

STORIES: dict[str, Story] = {
    s.name: s
    for s in (
        STARTUP_STORY,
        REGISTRATION_STORY,
        EXECUTION_STORY,
        ORCHESTRATOR_SHUTDOWN_STORY,
        WORKER_SHUTDOWN_STORY,
        ORCHESTRATOR_RECOVERY_STORY,
        WORKER_RECOVERY_STORY,
        CIRCUIT_BREAKER_STORY,
        RETRY_STORY,
        RATE_LIMIT_STORY,
        AUTH_STORY,
        CONFIG_RELOAD_STORY,
        LEADER_ELECTION_STORY,
    )
}

__all__ = ["STORIES"]
