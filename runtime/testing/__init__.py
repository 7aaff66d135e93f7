"""The test kit: a real orchestrator and real workers for a user's own tests, their traces checked against the spec.

`runtime.testing.plugin` is the pytest plugin (entry point ``pytest11``: the ``spec_platform``
fixture); `PlatformUnderTest` is what it hands a test; `OrchestratorProcess` and
`WorkerProcess` start ``python -m runtime`` processes on 127.0.0.1 with tokens in 0600 files;
a handler records its own machine's transitions with `record`. The pure conformance helpers
(`assert_conforms`, hypothesis strategies) are in `spec.testing`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtime.testing.handler_trace import HANDLER_TRACE_ENV, record
    from runtime.testing.platform import TEST_POLICIES, PlatformUnderTest
    from runtime.testing.processes import OrchestratorProcess, Tokens, WorkerProcess, wait_for

#: Resolved on first use, like `runtime`'s own names: pytest imports this package for the plugin
#: (the ``pytest11`` entry point) before coverage measurement starts, so it must import nothing
#: of `spec` or `runtime` until a test uses the kit.
_EXPORTS = {
    "HANDLER_TRACE_ENV": "runtime.testing.handler_trace",
    "record": "runtime.testing.handler_trace",
    "TEST_POLICIES": "runtime.testing.platform",
    "PlatformUnderTest": "runtime.testing.platform",
    "OrchestratorProcess": "runtime.testing.processes",
    "Tokens": "runtime.testing.processes",
    "WorkerProcess": "runtime.testing.processes",
    "wait_for": "runtime.testing.processes",
}

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'runtime.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
