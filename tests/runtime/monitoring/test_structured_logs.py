"""Structured logs (issue 4 §2): JSON lines with workflowId, taskId and workerId; secrets redacted."""

from __future__ import annotations

import json
import logging
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from runtime.monitoring.logs import (
    MASK,
    JsonFormatter,
    RedactingFilter,
    Redactor,
    TextFormatter,
    bind_ids,
    configure_logging,
)
from runtime.orchestrator.credentials import new_worker_token
from tests.runtime.monitoring.monitoring_helpers import run_one_task, running
from tests.runtime.orchestrator.orch_helpers import TOKEN

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


async def test_log_lines_are_json_with_the_ids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async with running(tmp_path, {"log_level": "DEBUG", "log_format": "json"}) as (_orch, client):
        workflow_id, task_id = await run_one_task(client, "w1")
        assert (await client.get(f"/api/v1/workflows/{workflow_id}")).status_code == 200
    err = capsys.readouterr().err
    lines = json_lines(err)
    assert lines and len(lines) == len([x for x in err.splitlines() if x.strip()]), "every line is JSON"
    for line in lines:
        assert {"time", "level", "logger", "message", "workflowId", "taskId", "workerId"} <= set(line)

    # The task's completion, with the ids passed explicitly.
    done = [x for x in lines if x.get("outcome") == "complete"]
    assert [(x["workflowId"], x["taskId"], x["workerId"]) for x in done] == [(workflow_id, task_id, "w1")]
    # A request's access line, with the ids its handler bound from the body.
    access = [x for x in lines if x.get("route") == "/api/v1/tasks/completed"]
    assert [(x["taskId"], x["workerId"]) for x in access] == [(task_id, "w1")]
    # A path parameter binds too.
    lookup = [x for x in lines if x.get("route") == "/api/v1/workflows/{workflowId}"]
    assert [x["workflowId"] for x in lookup] == [workflow_id]
    # Requests without ids do not inherit another request's.
    submitted = [x for x in lines if x.get("route") == "/api/v1/workflows"]
    assert [(x["workflowId"], x["taskId"], x["workerId"]) for x in submitted] == [(None, None, None)]
    assert TOKEN not in err


async def test_text_format_is_available(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async with running(tmp_path, {"log_format": "text"}):
        pass
    err = capsys.readouterr().err
    assert "INFO runtime.orchestrator: orchestrator started successfully" in err
    assert not json_lines(err)


async def test_configured_token_is_redacted_for_every_handler(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    async with running(tmp_path):
        with caplog.at_level(logging.INFO, logger="runtime"):
            logging.getLogger("runtime.test").warning("client sent token %s", TOKEN)
    err = capsys.readouterr().err
    assert "client sent token" in err and TOKEN not in err
    # The record itself is redacted, so handlers after ours (here pytest's) never see it either.
    assert "client sent token" in caplog.text and TOKEN not in caplog.text


def test_bad_log_format_is_refused_naming_the_field(tmp_path: Path) -> None:
    from runtime.config import OrchestratorSettings
    from runtime.errors import RuntimeConfigError

    with pytest.raises(RuntimeConfigError, match="log_format"):
        OrchestratorSettings.load(None, db=tmp_path / "x.db", log_format="xml")


#: Tokens as the settings accept them (no whitespace), long enough to be a credential. No '*':
#: a secret made of the mask's own character could be re-formed by adjacent masks.
SECRETS = st.text(alphabet=string.ascii_letters + string.digits + "-._~+/=!@#$%^&()[]{}|:;<>?", min_size=8,
                  max_size=64)

#: How a secret ends up in a log line: plainly, as a header, in a URL, in a dict, in an exception.
SHAPES = (
    "token is {s}",
    "Authorization: Bearer {s}",
    "headers={{'Authorization': 'Bearer {s}'}}",
    "GET /ws?token={s} 101",
    "password={s}",
    '{{"api_key": "{s}"}}',
    "{s}",
    "prefix{s}suffix",
)


def _emit(formatter: logging.Formatter, redactor: Redactor, message: str, secret: str, *, exc: bool) -> str:
    record = logging.LogRecord("runtime.test", logging.ERROR, __file__, 1, "%s", (message,), None)
    record.headers = {"Authorization": f"Bearer {secret}", "X-Other": secret}
    record.password = secret
    if exc:
        try:
            raise RuntimeError(f"failed with {secret}")
        except RuntimeError:
            import sys

            record.exc_info = sys.exc_info()
    RedactingFilter(redactor).filter(record)
    return formatter.format(record)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(secret=SECRETS, shape=st.sampled_from(SHAPES), exc=st.booleans(), as_json=st.booleans())
def test_a_configured_token_never_appears_in_a_log_line(secret: str, shape: str, exc: bool, as_json: bool) -> None:
    redactor = Redactor([secret])
    formatter: logging.Formatter = JsonFormatter(redactor) if as_json else TextFormatter(redactor)
    bind_ids(workflow_id="wf-1", task_id="t-1", worker_id="w-1")
    baseline = _emit(formatter, Redactor(), "", "", exc=False)
    assume(secret not in baseline)  # a "secret" that is part of the line's own structure
    line = _emit(formatter, redactor, shape.format(s=secret), secret, exc=exc)
    assert secret not in line
    assert MASK in line
    if as_json:
        parsed = json.loads(line)
        assert parsed["workflowId"] == "wf-1" and parsed["headers"]["X-Other"] == MASK


@settings(max_examples=100, deadline=None)
@given(secret=SECRETS)
def test_credentials_are_masked_by_shape_without_being_configured(secret: str) -> None:
    assume(not any(c in secret for c in "\"',;}&"))
    redactor = Redactor()
    for shape in ("Authorization: Bearer {s}", "password={s}", "GET /ws?token={s}", '"secret": "{s}"'):
        assert secret not in redactor.redact(shape.format(s=secret)), shape


@settings(max_examples=50, deadline=None)
@given(prose=st.sampled_from(["worker w-1 re-registered with {t}", "{t}", "lease report refused ({t})",
                              "payload={{'a': '{t}'}}"]))
def test_a_per_worker_token_is_masked_by_its_shape(prose: str) -> None:
    """Per-worker tokens are issued at registration, after logging is configured: the shape masks them."""
    token = new_worker_token()
    assert token not in Redactor().redact(prose.format(t=token))


def test_configure_logging_is_idempotent_and_accumulates_tokens() -> None:
    first = configure_logging("INFO", "json", ["token-one-aaaa"])
    second = configure_logging("INFO", "json", ["token-two-bbbb"])
    assert first is second
    assert logging.getLogger("runtime").handlers.count(first) == 1
    from runtime.monitoring.logs import REDACTOR

    assert {"token-one-aaaa", "token-two-bbbb"} <= REDACTOR.tokens
