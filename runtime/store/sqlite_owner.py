"""One orchestrator per SQLite file: an exclusive ``flock`` on the database file while it is open (issue 16).

Several replicas need PostgreSQL (`runtime.store.leadership`): on SQLite every orchestrator
would run the cluster-wide sweeps and believe it is the only one. So an orchestrator opening a
SQLite file takes a non-blocking exclusive ``flock`` on it and keeps it until it closes the
database; a second one is refused with an error saying so. ``flock`` locks are independent of
the POSIX byte-range locks SQLite itself takes, so other SQLite connections to the file (a
backup, ``sqlite3`` in a shell, a test) are not affected, and the kernel drops the lock with the
process, so a crash never blocks a restart.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from runtime.errors import StoreError


def take_sqlite_file(path: Path) -> int | None:
    """Hold the file's exclusive ``flock``; its descriptor, None when the file cannot be opened here
    (SQLite then fails with its own, clearer error), or `StoreError` if another orchestrator holds it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)  # SQLite's own default mode
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreError(f"database file {path} is in use by another orchestrator; stop that one first. Several "
                         "orchestrators on one database need PostgreSQL (--db postgresql://..., "
                         "docs/postgresql.md)") from None
    except OSError:
        os.close(fd)
        return None
    return fd


def release_sqlite_file(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)  # closing the descriptor releases the flock
