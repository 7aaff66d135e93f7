"""Property: whatever JSON a client sends, the answer is never a 5xx, and a refusal changes nothing."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.orchestrator import Orchestrator
from tests.runtime.orchestrator.orch_helpers import AUTH, make_settings

TABLES = ("workflows", "tasks", "task_requirements", "workers", "events")
ENDPOINTS = ("/api/v1/workers/register", "/api/v1/workers/heartbeat", "/api/v1/workflows", "/api/v1/tasks/started",
             "/api/v1/tasks/progress", "/api/v1/tasks/completed", "/api/v1/tasks/failed", "/api/v1/tasks/interrupted")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """One orchestrator on its own event loop in a thread, shared by every example."""
    settings_ = make_settings(tmp_path_factory.mktemp("fuzz"))
    loop = asyncio.new_event_loop()
    orch = Orchestrator(settings_)
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(orch.start())
        started.set()
        loop.run_until_complete(orch.wait_stop_requested())
        loop.run_until_complete(orch.stop())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(60)
    yield orch.url, settings_.db
    loop.call_soon_threadsafe(orch.request_stop)
    thread.join(60)
    loop.close()


def snapshot(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(db) as conn:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
field_names = st.sampled_from(["workerId", "capabilities", "maxConcurrency", "health", "taskId", "fencingToken",
                               "percentage", "step", "result", "error", "type", "priority", "payload",
                               "requiredCapabilities", "state", "details"])
near_valid = st.dictionaries(field_names, json_values, max_size=6)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(endpoint=st.sampled_from(ENDPOINTS), body=near_valid | json_values)
def test_any_json_gets_an_answer_below_500_and_refusals_change_nothing(
    served: tuple[str, Path], endpoint: str, body: Any
) -> None:
    url, db = served
    before = snapshot(db)
    with httpx.Client(base_url=url, headers=AUTH, timeout=30) as client:
        response = client.post(endpoint, json=body)
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            error = response.json()["error"]
            assert error["reason"]
            assert snapshot(db) == before
        assert client.get("/health/live").status_code == 200
