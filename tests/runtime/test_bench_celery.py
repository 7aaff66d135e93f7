"""`runtime.bench_celery`, the Celery + Redis yardstick, runs end to end and keeps no dead wait in its clock.

No timing is asserted. Regression: the worker is switched to the benchmark's queue by a
broadcast (``add_consumer``) inside the clock; without a reply limit that call waited out its
whole timeout (10 s) although the one worker had answered, so every Celery figure of a run
shorter than that was capped. The broadcast must stop at the one reply it can get.
Skipped only without celery/redis (the ``bench`` extra) or ``redis-server``.
"""

from __future__ import annotations

from typing import Any

import pytest

from runtime import bench_celery


def test_every_task_completes_and_the_queue_switch_waits_for_one_reply_only(monkeypatch: pytest.MonkeyPatch) -> None:
    missing = bench_celery.available()
    if missing:
        pytest.skip(missing)
    from celery.app.control import Control

    calls: list[dict[str, Any]] = []
    real = Control.add_consumer

    def add_consumer(self: Control, queue: str, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(self, queue, **kwargs)

    monkeypatch.setattr(Control, "add_consumer", add_consumer)
    done, _ = bench_celery.run(tasks=30, workers=2)
    assert done == 30
    assert [call.get("limit") for call in calls] == [1]
