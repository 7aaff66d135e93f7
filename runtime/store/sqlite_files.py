"""The SQLite files beside the database (``-wal``, ``-shm``): checked and repaired before opening (issue 14).

SQLite creates the ``-wal`` and ``-shm`` files with the database file's permission bits. A start
attempt against a read-only database therefore leaves them read-only, and after ``chmod`` on the
database alone the next start still fails. :func:`repair_sidecar_modes` gives them the database
file's mode again, or raises a `StoreError` that names the exact command to run.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from runtime.errors import StoreError

log = logging.getLogger("runtime.store")

SIDECARS = ("-wal", "-shm")


def sidecars(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in SIDECARS]


def repair_sidecar_modes(path: Path) -> list[Path]:
    """Give read-only ``-wal``/``-shm`` files the database file's permission bits; return those changed."""
    if not path.exists():
        return []
    wanted = stat.S_IMODE(path.stat().st_mode)
    if not wanted & stat.S_IWUSR:
        raise StoreError(f"database file {path} is read-only (mode {wanted:04o}); run: chmod u+w {path}")
    changed: list[Path] = []
    for sidecar in sidecars(path):
        if not sidecar.exists():
            continue
        mode = stat.S_IMODE(sidecar.stat().st_mode)
        if mode & stat.S_IWUSR:
            continue
        try:
            os.chmod(sidecar, wanted)
        except OSError as exc:
            raise StoreError(
                f"{sidecar} has mode {mode:04o} but the database {path} has {wanted:04o} ({exc.strerror}); "
                f"run: chmod {wanted:o} {sidecar}"
            ) from None
        log.warning("repaired the mode of %s: %04o -> %04o (left by an earlier read-only start)", sidecar, mode, wanted)
        changed.append(sidecar)
    return changed
