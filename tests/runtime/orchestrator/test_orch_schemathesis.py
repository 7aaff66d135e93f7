"""Schemathesis against a real orchestrator process: every operation, with and without a credential.

Each run generates about 1,200 requests from the OpenAPI document (examples, coverage of every
constraint's edges, fuzzing) and checks every answer against the document (``-c all``: no 5xx,
declared status codes and bodies, schema-valid requests accepted, invalid ones refused, 401/405
where they belong). The long poll is excluded: it waits ``wait`` seconds by design, and a DAG the
orchestrator refuses for what JSON Schema cannot express may answer 422 (`GRAPH_REFUSALS`).
Afterwards the orchestrator must still be ready and must not have logged an error.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.runtime.e2e.harness import TOKEN, Orchestrator

#: A schema-valid DAG may still depend on an id it does not declare, or close a cycle: JSON Schema
#: cannot say so, and the orchestrator refuses it with 422 naming the task (issue 12). Schemathesis'
#: default accepted statuses, plus that 422, for that one operation.
GRAPH_REFUSALS = """
[[operations]]
include-path = "/api/v1/workflows"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", 401, 403, 404, 409, 422, 429, "5xx"]
"""


@pytest.fixture(scope="module")
def orchestrator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orchestrator]:
    orch = Orchestrator(tmp_path_factory.mktemp("schemathesis"))
    try:
        yield orch
    finally:
        orch.stop()


@pytest.mark.parametrize("authorization", [f"Bearer {TOKEN}", None], ids=["admin", "no-credential"])
def test_every_answer_matches_the_openapi_document(
    orchestrator: Orchestrator, tmp_path: Path, authorization: str | None
) -> None:
    header = f"Authorization: {authorization}" if authorization else "X-Credential: none"
    (tmp_path / "schemathesis.toml").write_text(GRAPH_REFUSALS, encoding="utf-8")
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{orchestrator.url}/openapi.json", "-H", header,
        "-c", "all", "--exclude-path", "/api/v1/tasks/poll", "--max-examples", "10", "-w", "1",
        "--phases", "examples,coverage,fuzzing", "--seed", "1", "--generation-database", "none",
        "--request-timeout", "30",
    ]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
    report = run.stdout[-6000:] + run.stderr[-2000:]
    assert run.returncode == 0, report
    assert " passed" in run.stdout, report
    assert httpx.get(f"{orchestrator.url}/health/ready", timeout=30).status_code == 200
    log = orchestrator.stderr()
    assert '"level": "ERROR"' not in log and "Traceback" not in log, log
