"""How a task handler is called : on the event loop or in a thread.

A coroutine function runs on the worker's event loop; a plain ``def`` runs in a thread, so blocking
code cannot stall heartbeats. Whatever it does, only its task fails: `TaskRunner` classifies what
it raised or returned, and the two exceptions asyncio would let stop the whole worker are turned
into an ordinary failure here.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from runtime.worker.context import TaskContext
from runtime.worker.errors import TaskFailure
from spec.taxonomy import ErrorClass, FailureCode

#: ``async def handler(ctx) -> dict``; a plain ``def`` also works and runs in a thread, so blocking
#: work cannot stall heartbeats (it reports progress only through its result, and a time limit
#: fails the task but cannot stop the thread).
TaskHandler = Callable[[TaskContext], Coroutine[Any, Any, dict[str, Any]] | dict[str, Any]]


class HandlerExit(RuntimeError):
    """A handler raised ``SystemExit`` or ``KeyboardInterrupt``: its task fails, the worker does not stop.

    asyncio re-raises those two out of the event loop, so one ``sys.exit()`` in a handler would
    otherwise end the whole worker and leave its other tasks to expire.
    """


async def invoke_handler(handler: TaskHandler, ctx: TaskContext) -> Any:
    """Run `handler` on the event loop if it is a coroutine function, else in a thread."""
    try:
        if inspect.iscoroutinefunction(handler):
            return await handler(ctx)
        result = await asyncio.to_thread(handler, ctx)
        if inspect.isawaitable(result):  # an object whose __call__ is async
            return await result
        return result
    except (SystemExit, KeyboardInterrupt) as exc:
        raise HandlerExit(f"the handler for {ctx.type!r} raised {type(exc).__name__}({exc}); "
                          "a handler must return a dict or raise an Exception") from None


async def unknown_type(task_type: str, known: list[str]) -> dict[str, Any]:
    raise TaskFailure(
        f"this worker has no handler for task type {task_type!r}; it handles: {', '.join(known) or 'nothing'}",
        code=FailureCode.TASK_ERROR,
        error_class=ErrorClass.VALIDATION,
    )
