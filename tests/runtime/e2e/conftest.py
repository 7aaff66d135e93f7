"""Fixtures that start a real orchestrator and real workers (see `harness`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.runtime.e2e.harness import Orchestrator, Worker


@pytest.fixture
def orchestrator(tmp_path: Path) -> Iterator[Orchestrator]:
    orch = Orchestrator(tmp_path)
    try:
        yield orch
    finally:
        orch.stop()


@pytest.fixture
def start_worker(orchestrator: Orchestrator) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(name: str, *args: str, workspace_root: Path | None = None) -> Worker:
        worker = Worker(orchestrator, name, *args, workspace_root=workspace_root)
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.stop()
