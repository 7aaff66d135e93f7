"""Why ``python -m runtime demo`` stopped, in a sentence the user can act on."""

from __future__ import annotations

from runtime.errors import RuntimeServiceError


class DemoError(RuntimeServiceError):
    """The demo could not start, run or finish; the message names the step and where its logs are."""


class DemoProcessError(DemoError):
    """A process the demo started (orchestrator or worker) exited or did not become ready."""
