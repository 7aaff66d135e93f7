"""`runtime.bench_dramatiq`, the second yardstick (issue 12), runs Dramatiq + Redis end to end.

No timing is asserted; every message sent must be counted done by real Dramatiq worker
processes. Skipped only without dramatiq/redis (the ``bench`` extra) or ``redis-server``.
"""

from __future__ import annotations

import pytest

from runtime import bench_dramatiq


def test_every_message_sent_is_completed_by_the_dramatiq_worker_processes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    missing = bench_dramatiq.available()
    if missing:
        pytest.skip(missing)
    assert bench_dramatiq.main(["--tasks", "30", "--workers", "2", "--threads", "2"]) == 0
    assert "dramatiq + redis: 30 no-op tasks, 2 processes x 2 threads: " in capsys.readouterr().out
