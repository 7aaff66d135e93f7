"""``python -m runtime worker`` whose ``sleep`` handler runs one step, saves its state, then finds the disk full.

Started as a script by `test_e2e_system_errors`: everything else is the real worker CLI, so the
emergency shutdown it triggers is the one an operator's worker would go through.
"""

from __future__ import annotations

import argparse
import errno
import sys
from typing import Any

from runtime.worker import cli
from runtime.worker.agent import Worker
from runtime.worker.context import TaskContext

_build_worker = cli.build_worker


async def disk_full_after_first_step(ctx: TaskContext) -> dict[str, Any]:
    steps = ctx.payload.get("steps", 3)
    ctx.save_state({"stepsDone": 1, "steps": steps})
    await ctx.progress(100.0 / steps, f"step 1/{steps}", {"stepsDone": 1}, milestone=True)
    raise OSError(errno.ENOSPC, "No space left on device", str(ctx.workspace / "out.bin"))


def build_worker(args: argparse.Namespace) -> Worker:
    worker = _build_worker(args)
    worker.handlers["sleep"] = disk_full_after_first_step
    return worker


if __name__ == "__main__":
    cli.build_worker = build_worker
    raise SystemExit(cli.main(sys.argv[1:]))
