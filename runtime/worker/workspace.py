"""Isolated per-task workspace directories (seed 4.3 ``createWorkspace()`` / ``cleanupWorkspace()``).

Layout under the worker's root::

    <root>/<task-slug>/meta.json   who owns it: task, lease, worker id, owner pid and its start time
    <root>/<task-slug>/work/       the handler's working directory (cwd, HOME and TMPDIR of commands)

The owner's pid *and* process start time are recorded so a restarted worker (seed 4.4 "Worker
Recovery") can tell a workspace left by a dead process from one in use by a live worker that
shares the root, even after pid reuse.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from runtime.worker.errors import WorkerConfigError

META_FILE = "meta.json"
#: The handler's last `TaskContext.save_state`, kept beside meta.json (outside the handler's own
#: directory) so it survives the worker process and goes back with the task after a crash.
STATE_FILE = "saved_state.json"
WORK_DIR = "work"
STAGING_PREFIX = ".creating-"


def _process_start_time(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def workspace_name(task_id: str) -> str:
    """A filesystem-safe, collision-free directory name for `task_id`."""
    readable = re.sub(r"[^A-Za-z0-9._-]", "_", task_id)[:64].lstrip(".") or "task"
    digest = hashlib.sha256(task_id.encode()).hexdigest()[:12]
    return f"{readable}-{digest}"


@dataclass
class Workspace:
    """One task's directory; ``path`` is where the handler works."""

    root: Path
    task_id: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def base(self) -> Path:
        return self.root / workspace_name(self.task_id)

    @property
    def path(self) -> Path:
        return self.base / WORK_DIR

    def remove(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)

    def save_state(self, state: dict[str, Any]) -> None:
        """Write `state` atomically (a crash mid-write leaves the previous state, never half of one)."""
        staging = self.base / f".{STATE_FILE}.tmp"
        staging.write_text(json.dumps(state), encoding="utf-8")
        os.replace(staging, self.base / STATE_FILE)


@dataclass(frozen=True)
class LeftoverWorkspace:
    """A workspace whose owning process is gone: what the crashed worker was running."""

    base: Path
    meta: dict[str, Any]
    #: What the dead process's handler last saved (read when found: the directory is removed next).
    saved_state: dict[str, Any] = field(default_factory=dict)

    @property
    def task_id(self) -> str | None:
        value = self.meta.get("taskId")
        return value if isinstance(value, str) else None



def _read_state(base: Path) -> dict[str, Any]:
    """A workspace's saved state; {} when its handler saved nothing or the file is unreadable."""
    try:
        state = json.loads((base / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


class WorkspaceRoot:
    """The directory under which one or more workers create their task workspaces."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WorkerConfigError(f"workspace root {self.path}: cannot create it ({exc.strerror})") from None
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise WorkerConfigError(f"workspace root {self.path}: not writable by this user")
        self._pid = os.getpid()
        self._started = _process_start_time(self._pid)

    def create(self, task_id: str, **meta: Any) -> Workspace:
        """Make a fresh, private workspace for `task_id` (replacing a stale one of the same task)."""
        workspace = Workspace(self.path, task_id)
        workspace.remove()
        workspace.meta = {
            "taskId": task_id,
            "pid": self._pid,
            "pidStartTime": self._started,
            "createdAt": time.time(),
            **meta,
        }
        # Built under a temporary name and renamed, so no other worker ever sees it without meta.json.
        staging = self.path / f"{STAGING_PREFIX}{self._pid}-{workspace.base.name}"
        shutil.rmtree(staging, ignore_errors=True)
        for directory in (staging, staging / WORK_DIR, staging / WORK_DIR / "tmp"):
            directory.mkdir(mode=0o700)
        (staging / META_FILE).write_text(json.dumps(workspace.meta), encoding="utf-8")
        staging.rename(workspace.base)
        return workspace

    def _entries(self) -> list[tuple[Path, dict[str, Any]]]:
        entries: list[tuple[Path, dict[str, Any]]] = []
        for base in sorted(p for p in self.path.iterdir() if p.is_dir()):
            if base.name.startswith(STAGING_PREFIX):
                pid = base.name[len(STAGING_PREFIX) :].split("-", 1)[0]
                entries.append((base, {"pid": int(pid)} if pid.isascii() and pid.isdigit() else {}))
                continue
            try:
                meta = json.loads((base / META_FILE).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                meta = {}  # unreadable or half-written: a crash during create()
            entries.append((base, meta if isinstance(meta, dict) else {}))
        return entries

    def _owned_by_live_process(self, meta: dict[str, Any]) -> bool:
        pid = meta.get("pid")
        if not isinstance(pid, int):
            return False
        if "pidStartTime" not in meta:  # a staging directory: only its pid is known
            return bool(psutil.pid_exists(pid))
        if pid == self._pid:
            return meta.get("pidStartTime") == self._started
        started = _process_start_time(pid)
        return started is not None and started == meta.get("pidStartTime")

    def find_leftovers(self) -> list[LeftoverWorkspace]:
        """Workspaces whose owner process no longer exists (seed 4.4 checkForIncompleteWorkspaces)."""
        entries = self._entries()
        return [LeftoverWorkspace(base, meta, _read_state(base)) for base, meta in entries
                if not self._owned_by_live_process(meta)]

    def remove_leftovers(self) -> list[LeftoverWorkspace]:
        """Delete every leftover workspace; return what they held (seed 4.4 cleanupIncompleteWorkspaces)."""
        leftovers = self.find_leftovers()
        for leftover in leftovers:
            shutil.rmtree(leftover.base, ignore_errors=True)
        return leftovers

    def remove_own(self) -> int:
        """Delete every workspace this process created (seed 4.4 cleanupWorkspaces); return how many."""
        removed = 0
        for base, meta in self._entries():
            if meta.get("pid") == self._pid and meta.get("pidStartTime") == self._started:
                shutil.rmtree(base, ignore_errors=True)
                removed += 1
        return removed
