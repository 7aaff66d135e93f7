"""docs/client.md's examples, run as written against a real orchestrator and worker (only the URL differs)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runtime.e2e.harness import CLIENT_TOKEN, DEADLINE_S, REPO, Orchestrator, Worker

PAGE = REPO / "docs" / "client.md"
DOCS_URL = "http://127.0.0.1:8080"
_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def examples() -> list[str]:
    blocks = [b for b in _BLOCK.findall(PAGE.read_text(encoding="utf-8")) if DOCS_URL in b]
    assert len(blocks) == 2, "docs/client.md should hold the sync and the async example"
    return blocks


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Orchestrator]:
    orchestrator = Orchestrator(tmp_path)
    worker = Worker(orchestrator, "docs-example", "--tasks-per-poll", "8")
    try:
        worker.wait_registered()
        token = tmp_path / "client.token"
        token.write_text(CLIENT_TOKEN + "\n", encoding="utf-8")
        token.chmod(0o600)
        yield orchestrator
    finally:
        worker.stop()
        orchestrator.stop()


def run(code: str, orchestrator: Orchestrator) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("RUNTIME_CLIENT_TOKEN_FILE", None)
    done = subprocess.run([sys.executable, "-c", code.replace(DOCS_URL, orchestrator.url)], cwd=orchestrator.tmp,
                          env=env, capture_output=True, text=True, timeout=DEADLINE_S)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_sync_example_runs(platform: Orchestrator) -> None:
    output = run(examples()[0], platform).splitlines()
    assert [line.split()[1] for line in output[:-2]] == [
        "TASK_STARTED", "TASK_PROGRESS", "TASK_PROGRESS", "TASK_COMPLETED", "WORKFLOW_COMPLETED"]
    assert output[-2] == "result: {'slept': 0.5, 'steps': 2, 'resumedAfter': 0}"
    assert output[-1] == "100 results"


def test_the_async_example_runs(platform: Orchestrator) -> None:
    assert run(examples()[1], platform).strip() == "WORKFLOW_COMPLETED {}"
