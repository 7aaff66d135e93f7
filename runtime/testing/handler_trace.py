"""Transitions a user's task handler records, for the test kit to check against the user's catalogue.

A handler that implements a machine of its own (a payment, an approval) records each transition
it makes with :func:`record`; under the test kit's fixtures (`runtime.testing.plugin`) the worker
process is told where to write (``$RUNTIME_TESTING_HANDLER_TRACE``) and the fixture replays the
file on the user's catalogue at teardown. Outside the kit the variable is unset and nothing is
written (``record`` returns False), so the same handler module runs in production unchanged.
"""

from __future__ import annotations

import os

from spec.trace import TraceEvent

#: The environment variable naming the ``.jsonl`` file a worker's handlers append to.
HANDLER_TRACE_ENV = "RUNTIME_TESTING_HANDLER_TRACE"


def record(event: TraceEvent) -> bool:
    """Append `event` to the handler trace if the test kit asked for one; True when written."""
    path = os.environ.get(HANDLER_TRACE_ENV)
    if not path:
        return False
    with open(path, "a", encoding="utf-8") as trace:
        trace.write(event.to_json() + "\n")
    return True
