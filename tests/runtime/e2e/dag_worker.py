"""A real worker process for the DAG end-to-end test: ``runtime.Worker`` with a handler module's two tasks.

``join`` returns its name and what each of its dependencies returned; ``sleep`` is the built-in
one (a long task with milestones, to be cancelled). Run as ``python dag_worker.py URL TOKEN_FILE
WORKER_ID WORKSPACE_ROOT``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from runtime import Worker
from runtime.worker import TaskContext
from runtime.worker.builtin_tasks import sleep_task
from spec.policies import DEFAULT_POLICIES, PollPolicy


async def join(ctx: TaskContext) -> dict[str, Any]:
    return {"name": ctx.payload["name"], "inputs": ctx.dependencies}


def main() -> None:
    url, token_file, worker_id, workspace_root = sys.argv[1:5]
    policies = DEFAULT_POLICIES.model_copy(update={"poll": PollPolicy(min_interval_s=0.05, max_interval_s=0.25)})
    worker = Worker(url, token=Path(token_file).read_text(encoding="utf-8").strip(), capabilities=["e2e"],
                    worker_id=worker_id, workspace_root=workspace_root, tasks_per_poll=4, policies=policies)
    worker.add_handler("join", join)
    worker.add_handler("sleep", sleep_task)
    worker.run_forever()


if __name__ == "__main__":
    main()
