"""The reference runtime: a real orchestrator and real workers executing the spec machines (issue 3).

``from runtime import Orchestrator, OrchestratorSettings, Worker`` or ``python -m runtime``; clients
use ``from runtime import Client, SyncClient`` (`runtime.client`).
The names are resolved on first use so that ``import runtime.protocol`` (what a worker needs)
does not pull in the orchestrator's web server and database stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtime.client import Client, SyncClient
    from runtime.config import OrchestratorSettings
    from runtime.orchestrator import Orchestrator
    from runtime.worker import Worker

_EXPORTS = {
    "Client": "runtime.client",
    "SyncClient": "runtime.client",
    "Orchestrator": "runtime.orchestrator",
    "OrchestratorSettings": "runtime.config",
    "Worker": "runtime.worker",
}

__all__ = ["Client", "Orchestrator", "OrchestratorSettings", "SyncClient", "Worker"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
