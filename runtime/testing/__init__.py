"""The test kit: a real orchestrator and real workers for a user's own tests, their traces checked against the spec.

`runtime.testing.plugin` is the pytest plugin (entry point ``pytest11``: the ``spec_platform``
fixture); `PlatformUnderTest` is what it hands a test; `OrchestratorProcess` and
`WorkerProcess` start ``python -m runtime`` processes on 127.0.0.1 with tokens in 0600 files;
a handler records its own machine's transitions with `record`. The pure conformance helpers
(`assert_conforms`, hypothesis strategies) are in `spec.testing`.
"""

from __future__ import annotations

from runtime.testing.handler_trace import HANDLER_TRACE_ENV, record
from runtime.testing.platform import TEST_POLICIES, PlatformUnderTest
from runtime.testing.processes import OrchestratorProcess, Tokens, WorkerProcess, wait_for

__all__ = [
    "HANDLER_TRACE_ENV",
    "TEST_POLICIES",
    "OrchestratorProcess",
    "PlatformUnderTest",
    "Tokens",
    "WorkerProcess",
    "record",
    "wait_for",
]
