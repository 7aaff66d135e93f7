"""The reference orchestrator: startup, HTTP/WebSocket API, worker health, shutdown, recovery."""

from __future__ import annotations

from runtime.orchestrator.orchestrator import Orchestrator

__all__ = ["Orchestrator"]
