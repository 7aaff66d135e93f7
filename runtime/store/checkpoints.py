"""SQLite WAL checkpoints off the event loop (issue 3 "Performance": poll-to-assignment p99).

In WAL mode SQLite copies the log back into the database file ("checkpoint") once the log
passes 1,000 pages, inside whichever commit crossed the line, with an fsync. Our SQLite calls
run on the event loop's thread (`runtime.store.database`), so that commit stalled every request
for 50-90 ms, which was most of the p99 poll latency. The orchestrator's connections therefore
turn automatic checkpoints off, and :class:`WalCheckpointer` runs a PASSIVE checkpoint from its
own connection in a worker thread twice a second: the sqlite3 module releases the GIL while it
copies, PASSIVE never blocks readers or writers, and the log stays small.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading

log = logging.getLogger("runtime.store")

#: Seconds between checkpoints: the log then holds at most a fraction of a second of commits.
CHECKPOINT_INTERVAL_S = 0.5


class WalCheckpointer:
    def __init__(self, path: str, interval_s: float = CHECKPOINT_INTERVAL_S) -> None:
        self.path = path
        self.interval_s = interval_s
        self._connection: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        #: A cancelled checkpoint's thread may still be running: closing waits for it.
        self._lock = threading.Lock()

    def start(self) -> None:
        self._connection = self._connect()
        self._task = asyncio.create_task(self._run(), name="wal-checkpointer")

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, check_same_thread=False)
        connection.execute("PRAGMA busy_timeout=10000")
        return connection

    def reconnect(self) -> None:
        """Replace the connection (after a fault that may have broken it); blocking, run it in a thread."""
        with self._lock:
            if self._connection is None:
                return
            self._connection.close()
            try:
                self._connection = self._connect()
            except sqlite3.Error as exc:
                log.warning("WAL checkpointer cannot reopen %s, will retry: %s", self.path, exc)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await asyncio.to_thread(self.checkpoint, "PASSIVE")

    def checkpoint(self, mode: str) -> None:
        """One checkpoint; a failure is logged and retried next time (the log only grows meanwhile)."""
        with self._lock:
            if self._connection is None:
                return
            try:
                self._connection.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()
            except sqlite3.Error as exc:
                log.warning("WAL checkpoint of %s failed, will retry: %s", self.path, exc)

    async def stop(self) -> None:
        """Stop, after a last checkpoint that also truncates the log."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await asyncio.to_thread(self.checkpoint, "TRUNCATE")
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
