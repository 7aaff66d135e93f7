"""Escalation levels 1-4 as log, callback and webhook hooks; the webhook is a real local server."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from runtime.resilience import (
    CallbackHook,
    CommandHook,
    Escalation,
    Escalator,
    LogHook,
    ResilienceConfigError,
    WebhookHook,
)
from spec.policies import DEFAULT_POLICIES


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    status = 204

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length))
        type(self).received.append({"path": self.path, "body": body, "auth": self.headers.get("X-Token")})
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def webhook_server() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"received": [], "status": 204})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield f"http://{host!s}:{port}/hooks/oncall", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)


def test_levels_and_actions_come_from_the_alert_policy() -> None:
    escalator = Escalator()
    assert escalator.levels == tuple(sorted(e.level for e in DEFAULT_POLICIES.alerts.escalation_levels))
    for e in DEFAULT_POLICIES.alerts.escalation_levels:
        assert escalator.action(e.level) == e.action
    with pytest.raises(ResilienceConfigError, match="unknown escalation level 5"):
        escalator.action(5)


def test_webhook_posts_the_escalation_to_a_real_server(webhook_server: tuple[str, type[_Receiver]]) -> None:
    url, receiver = webhook_server

    async def scenario() -> None:
        escalator = Escalator()
        escalator.add_webhook(url, levels=[3, 4])
        escalator.add_hook(4, WebhookHook(url, headers={"X-Token": "t"}))
        outcome = await escalator.escalate(4, "disk full", source="worker:w-1", details={"free": 0, "paths": ("/",)})
        assert outcome.delivered
        assert len(receiver.received) == 2
        first = receiver.received[0]
        assert first["path"] == "/hooks/oncall"
        assert first["body"] == {
            "level": 4,
            "action": escalator.action(4),
            "reason": "disk full",
            "source": "worker:w-1",
            "details": {"free": 0, "paths": ["/"]},
        }
        assert receiver.received[1]["auth"] == "t"
        # Level 2 has no webhook: logged only, nothing posted.
        await escalator.escalate(2, "retries exhausted", source="retry:git")
        assert len(receiver.received) == 2
        assert [e.level for e in escalator.history] == [4, 2]

    asyncio.run(scenario())


def test_webhook_failures_are_reported_not_raised(webhook_server: tuple[str, type[_Receiver]]) -> None:
    url, receiver = webhook_server
    receiver.status = 500

    async def scenario() -> None:
        escalator = Escalator()
        escalator.add_webhook(url)
        outcome = await escalator.escalate(1, "recovered", source="x")
        assert not outcome.delivered
        assert "HTTP 500" in str(outcome.failures[0])

        unreachable = Escalator()
        unreachable.add_webhook("http://127.0.0.1:9/nothing", timeout_s=5)
        outcome = await unreachable.escalate(2, "x", source="y")
        assert not outcome.delivered and "ConnectError" in str(outcome.failures[0])

    asyncio.run(scenario())


def test_callback_and_log_hooks(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        got: list[Escalation] = []

        async def async_callback(e: Escalation) -> None:
            got.append(e)

        def broken(e: Escalation) -> None:
            raise RuntimeError("callback bug")

        escalator = Escalator(hooks={3: [CallbackHook(got.append), CallbackHook(async_callback), LogHook()]})
        escalator.add_hook(3, CallbackHook(broken))
        with caplog.at_level(logging.INFO, logger="runtime.resilience.escalation"):
            outcome = await escalator.escalate(3, "investigate", source="retry:ai")
            await escalator.escalate(1, "routine", source="retry:ai")
        assert len(got) == 2
        assert len(outcome.failures) == 1 and "callback bug" in str(outcome.failures[0])
        levels = {r.levelno for r in caplog.records if "escalation level" in r.getMessage()}
        assert logging.ERROR in levels and logging.INFO in levels

    asyncio.run(scenario())


def test_escalator_from_configured_urls(webhook_server: tuple[str, type[_Receiver]]) -> None:
    url, receiver = webhook_server

    async def scenario() -> None:
        escalator = Escalator.from_webhook_urls({4: [url]})
        await escalator.escalate(3, "not posted", source="s")
        outcome = await escalator.escalate(4, "posted", source="s")
        assert outcome.delivered
        assert [r["body"]["reason"] for r in receiver.received] == ["posted"]
        with pytest.raises(ResilienceConfigError, match="unknown escalation level 9"):
            Escalator.from_webhook_urls({9: [url]})
        with pytest.raises(ResilienceConfigError, match="webhook url"):
            Escalator.from_webhook_urls({4: ["nowhere"]})

    asyncio.run(scenario())


@pytest.mark.parametrize("url", ["not a url", "ftp://host/x", "/relative"])
def test_bad_webhook_urls_are_refused(url: str) -> None:
    with pytest.raises(ResilienceConfigError, match="webhook url"):
        WebhookHook(url)


SECRET = "s3cr3t-hook-token"


def test_a_webhook_url_with_a_token_never_reaches_errors_or_logs(webhook_server: tuple[str, type[_Receiver]],
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    url, receiver = webhook_server
    receiver.status = 500

    async def scenario() -> None:
        escalator = Escalator()
        hook = escalator.add_webhook(f"{url}/{SECRET}?token={SECRET}", levels=[4])
        unreachable = WebhookHook(f"http://user:{SECRET}@127.0.0.1:9/{SECRET}", timeout_s=5)
        escalator.add_hook(4, unreachable)
        with caplog.at_level(logging.DEBUG):
            outcome = await escalator.escalate(4, "disk full", source="worker:w-1")
        assert len(outcome.failures) == 2
        assert receiver.received[0]["path"] == f"/hooks/oncall/{SECRET}?token={SECRET}"  # the real URL was used
        shown = " ".join([*(str(f) for f in outcome.failures), repr(hook), repr(unreachable), caplog.text])
        assert "HTTP 500" in shown and "ConnectError" in shown and "127.0.0.1" in shown
        assert SECRET not in shown
        with pytest.raises(ResilienceConfigError) as refused:
            WebhookHook(f"ftp://host/{SECRET}")
        assert SECRET not in str(refused.value)

    asyncio.run(scenario())


def test_a_command_hook_gets_the_escalation_on_stdin(tmp_path: Path) -> None:
    received = tmp_path / "received.json"
    write = f"import sys; open({str(received)!r}, 'w').write(sys.stdin.read())"

    async def scenario() -> None:
        escalator = Escalator(hooks={4: [CommandHook([sys.executable, "-c", write])]})
        outcome = await escalator.escalate(4, "disk full", source="worker:w-1", details={"free": 0})
        assert outcome.delivered
        assert json.loads(received.read_text(encoding="utf-8"))["reason"] == "disk full"

        failing = CommandHook([sys.executable, "-c", "import sys; sys.stderr.write('pager down'); sys.exit(3)"])
        slow = CommandHook([sys.executable, "-c", "import time; time.sleep(30)"], timeout_s=0.5)
        missing = CommandHook([str(tmp_path / "no-such-command")])
        outcome = await Escalator(hooks={2: [failing, slow, missing]}).escalate(2, "x", source="y")
        reasons = [str(f) for f in outcome.failures]
        assert "exited with 3: pager down" in reasons[0]
        assert "did not finish within 0.5 s" in reasons[1]
        assert "cannot start it" in reasons[2]

    asyncio.run(scenario())
    with pytest.raises(ResilienceConfigError, match="non-empty list"):
        CommandHook([])
