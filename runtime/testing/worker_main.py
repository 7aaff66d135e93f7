"""``python -m runtime.testing.worker_main --handlers MODULE [worker options]``: a worker running a user's task types.

The same worker as ``python -m runtime worker`` (same options, built by
`runtime.worker.cli.build_worker`, same exit codes), plus the task types of each ``--handlers``
module: its ``HANDLERS`` mapping of task type to handler (``async def handler(ctx) -> dict``).
A test kit starts this so a user's own handlers run in a real worker process, talking HTTP to
a real orchestrator.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Mapping

from runtime.worker import Worker
from runtime.worker.cli import build_parser, run
from runtime.worker.errors import WorkerConfigError

#: The attribute a handler module names its task types in.
HANDLERS_ATTRIBUTE = "HANDLERS"


def add_module_handlers(worker: Worker, module_name: str) -> list[str]:
    """Register every task type of `module_name`'s ``HANDLERS``; the task types added."""
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise WorkerConfigError(f"--handlers {module_name}: cannot import it ({exc})") from exc
    handlers = getattr(module, HANDLERS_ATTRIBUTE, None)
    if not isinstance(handlers, Mapping) or not handlers:
        raise WorkerConfigError(f"--handlers {module_name}: expected a non-empty {HANDLERS_ATTRIBUTE} mapping "
                                "of task type to handler")
    for task_type, handler in handlers.items():
        if not isinstance(task_type, str) or not callable(handler):
            raise WorkerConfigError(f"--handlers {module_name}: {HANDLERS_ATTRIBUTE}[{task_type!r}] must map a "
                                    "task type name to a handler function")
        worker.add_handler(task_type, handler)
    return list(handlers)


def main(argv: list[str]) -> int:
    handler_parser = argparse.ArgumentParser(add_help=False)
    handler_parser.add_argument("--handlers", action="append", default=[], metavar="MODULE")
    known, rest = handler_parser.parse_known_args(argv)

    def add_handlers(worker: Worker) -> None:
        for module_name in known.handlers:
            add_module_handlers(worker, module_name)

    return run(build_parser().parse_args(rest), add_handlers)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
