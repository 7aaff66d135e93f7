"""Commands in a task's checkout, under the task's limits, with their output streamed line by line.

`runtime.worker.limits.run_limited` applies the limits but returns the output only at the end;
the seed's build and test loops ("monitorBuildProgress()") need each line as it appears. This
runs the same way (own process group, the task's rlimits before ``exec``, the group killed on
cancellation) and hands every line to a callback while keeping the same output tail.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Sequence

from runtime.worker.limits import OUTPUT_TAIL_BYTES, CommandResult
from runtime.workflow.providers import Checkout, LineSink

#: Longest line handed to a line sink; longer lines are cut (a minified file must not flood progress).
MAX_LINE_CHARS = 2000


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def _pump(stream: asyncio.StreamReader | None, on_line: LineSink | None) -> bytes:
    """Read `stream` to its end, calling `on_line` per line; return the output's tail."""
    if stream is None:
        return b""
    kept = bytearray()
    pending = bytearray()
    while chunk := await stream.read(65536):
        kept += chunk
        if len(kept) > OUTPUT_TAIL_BYTES:
            del kept[: len(kept) - OUTPUT_TAIL_BYTES]
        if on_line is None:
            continue
        pending += chunk
        while (end := pending.find(b"\n")) >= 0:
            line = bytes(pending[:end])
            del pending[: end + 1]
            await on_line(line.decode(errors="replace").rstrip("\r")[:MAX_LINE_CHARS])
        if len(pending) > OUTPUT_TAIL_BYTES:  # one enormous line: hand on what we have
            await on_line(pending.decode(errors="replace")[:MAX_LINE_CHARS])
            pending.clear()
    if on_line is not None and pending:
        await on_line(pending.decode(errors="replace").rstrip("\r")[:MAX_LINE_CHARS])
    return bytes(kept)


async def run_in_checkout(
    argv: Sequence[str],
    checkout: Checkout,
    *,
    cwd: os.PathLike[str] | str | None = None,
    on_line: LineSink | None = None,
) -> CommandResult:
    """Run `argv` in the checkout (or `cwd`) under its limits; stdout and stderr lines go to `on_line`."""
    if not argv:
        raise ValueError("command: an empty command cannot run")
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=str(cwd if cwd is not None else checkout.path),
        env=dict(checkout.env) if checkout.env else None,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # its own process group, killed as a whole
        preexec_fn=checkout.limits.preexec(),
    )
    try:
        stdout, stderr, returncode = await asyncio.gather(
            _pump(process.stdout, on_line), _pump(process.stderr, on_line), process.wait()
        )
    except BaseException:
        _kill_group(process.pid)
        await asyncio.shield(process.wait())
        raise
    _kill_group(process.pid)  # a background grandchild must not outlive the command
    return CommandResult(
        argv=tuple(argv),
        returncode=returncode,
        stdout=stdout.decode(errors="replace"),
        stderr=stderr.decode(errors="replace"),
        duration_s=time.monotonic() - started,
    )
