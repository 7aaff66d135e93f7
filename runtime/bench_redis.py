"""A throwaway ``redis-server`` for the Redis-backed yardsticks (`runtime.bench_celery`, `runtime.bench_dramatiq`).

Started here on 127.0.0.1, a free port and a temporary directory, persistence off, never as a
system service; stopped by its process when the benchmark ends.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: Longest the server may take to answer its first PING.
START_TIMEOUT_S = 30.0


def missing() -> str | None:
    """None when ``redis-server`` and the ``redis`` client are installed, otherwise why not."""
    try:
        import redis  # type: ignore[import-not-found, unused-ignore]  # noqa: F401
    except ImportError:
        return "redis is not installed (pip install redis, or the bench extra)"
    if shutil.which("redis-server") is None:
        return "redis-server is not installed (apt-get install -y redis-server)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll `predicate` every 50 ms for at most `timeout_s`; RuntimeError naming `what` after that."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


@contextmanager
def redis_server() -> Iterator[str]:
    """A running server for the block; its URL (``redis://127.0.0.1:PORT/0``)."""
    import redis  # type: ignore[import-not-found, unused-ignore]

    with tempfile.TemporaryDirectory(prefix="bench-redis-") as tmp:
        port = free_port()
        server = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", tmp, "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
        )
        try:
            url = f"redis://127.0.0.1:{port}/0"
            client = redis.Redis.from_url(url)

            def _pong() -> bool:
                try:
                    return bool(client.ping())
                except redis.ConnectionError:
                    return False

            wait_for(_pong, START_TIMEOUT_S, "redis-server")
            client.close()
            yield url
        finally:
            server.terminate()
            server.wait(30)
