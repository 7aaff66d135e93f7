"""Hot reload of the configuration file (issue 14) and ``GET /api/v1/config``, on a running orchestrator."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import httpx
import pytest

from runtime.config_reload import RELOAD_RULES, ConfigSource
from runtime.orchestrator import Orchestrator
from runtime.orchestrator.config_watch import ConfigReloader
from spec.conformance import check_trace
from spec.machines.config_reload import CONFIG_RELOAD, ConfigReloadTrigger
from spec.trace import TraceKey, read_trace
from tests.runtime.orchestrator.orch_helpers import AUTH, TOKEN, make_settings

CLIENT_TOKEN = "client-secret-token"
FILE_TOKEN = "file-admin-secret"
NEW_FILE_TOKEN = "file-admin-secret-2"


def _config(tmp: Path, *, threshold: float | str = 0.9, log_level: str = "INFO", port: int = 0) -> str:
    value = f'"{threshold}"' if isinstance(threshold, str) else repr(threshold)
    return (
        f'db = "{tmp / "orch.db"}"\nport = {port}\ntokens = ["{TOKEN}"]\nclient_tokens = ["{CLIENT_TOKEN}"]\n'
        f'token_file = "{tmp / "orch.tokens"}"\ntrace = "{tmp / "trace.jsonl"}"\nlog_level = "{log_level}"\n'
        "[policies.heartbeat]\ninterval_s = 1.0\ntimeout_s = 30.0\n"
        "[policies.shutdown]\ndrain_deadline_s = 0.2\ncheck_interval_s = 0.05\ncancel_grace_s = 0.2\n"
        "[[policies.alerts.rules]]\nname = \"HighResourceUtilisation\"\nmetric = \"resource_utilisation\"\n"
        f"threshold = {value}\nfor_s = 0.0\nsummary = \"Resource utilisation high\"\nescalation_level = 3\n"
    )


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("ORCH_"):
            monkeypatch.delenv(name)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    (tmp_path / "orch.tokens").write_text(f"admin {FILE_TOKEN}\n", encoding="utf-8")
    (tmp_path / "orch.tokens").chmod(0o600)
    path = tmp_path / "orch.toml"
    path.write_text(_config(tmp_path), encoding="utf-8")
    return path


@pytest.fixture
async def orch(config_file: Path) -> AsyncIterator[Orchestrator]:
    source = ConfigSource.of(config_file)
    orchestrator = Orchestrator(source.load(), source=source)
    await orchestrator.start()
    try:
        yield orchestrator
    finally:
        await orchestrator.stop()


@pytest.fixture
async def reloader(orch: Orchestrator) -> ConfigReloader:
    """The reloader with its watch stopped, so a test reloads exactly when it says so."""
    assert orch.config_reloader is not None and orch.config_watch_task is not None
    orch.config_watch_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await orch.config_watch_task
    return orch.config_reloader


@pytest.fixture
async def client(orch: Orchestrator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=orch.url, headers=AUTH, timeout=30) as http:
        yield http


async def _until(condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await anyio.sleep(0.05)


def _threshold(orch: Orchestrator) -> float:
    return orch.monitoring.evaluator.policy.rule("HighResourceUtilisation").threshold


@pytest.mark.anyio
async def test_an_edited_file_is_applied_by_the_watcher(orch: Orchestrator, config_file: Path,
                                                         client: httpx.AsyncClient) -> None:
    assert orch.config_reloader is not None
    assert orch.config_watch_task is not None and not orch.config_watch_task.done()
    config_file.write_text(_config(config_file.parent, threshold=0.3, log_level="DEBUG"), encoding="utf-8")
    await _until(lambda: _threshold(orch) == 0.3, "the new alert threshold")
    assert orch.settings.log_level == "DEBUG" and orch.policies.alerts.rules[0].threshold == 0.3
    body = (await client.get("/api/v1/config")).json()
    assert body["config"]["policies"]["alerts"]["rules"][0]["threshold"] == 0.3
    last = body["lastReload"]
    assert last["outcome"] == "applied" and "policies.alerts.rules" in last["fields"]
    assert last["at"].endswith("Z") and "T" in last["at"]  # RFC 3339, UTC
    assert body["watching"] is True and body["file"] == str(config_file)


@pytest.mark.anyio
async def test_an_invalid_file_keeps_the_running_configuration_and_names_file_and_field(
        orch: Orchestrator, reloader: ConfigReloader, config_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    config_file.write_text(_config(config_file.parent, threshold="high"), encoding="utf-8")
    report = reloader.reload()
    assert report.outcome is ConfigReloadTrigger.INVALID
    assert str(config_file) in report.message and "policies.alerts.rules.0.threshold" in report.message
    assert _threshold(orch) == 0.9
    assert any("policies.alerts.rules.0.threshold" in r.getMessage() and r.levelname == "ERROR"
               for r in caplog.records)
    config_file.write_text("port = [", encoding="utf-8")  # not even TOML
    assert reloader.reload().outcome is ConfigReloadTrigger.INVALID
    config_file.write_text(_config(config_file.parent, threshold=0.5), encoding="utf-8")
    assert reloader.reload().outcome is ConfigReloadTrigger.APPLIED  # the next good edit still works
    assert _threshold(orch) == 0.5


@pytest.mark.anyio
async def test_a_field_that_needs_a_restart_refuses_the_whole_edit(
        orch: Orchestrator, reloader: ConfigReloader, config_file: Path) -> None:
    config_file.write_text(_config(config_file.parent, threshold=0.3, port=orch.port + 1), encoding="utf-8")
    report = reloader.reload()
    assert report.outcome is ConfigReloadTrigger.RESTART_REQUIRED and report.fields == ("port",)
    assert "'port'" in report.message and "restart" in report.message
    assert _threshold(orch) == 0.9  # all or nothing: the threshold in the same edit is not applied
    assert not RELOAD_RULES.reloadable("port") and RELOAD_RULES.reloadable("policies.alerts.rules")


@pytest.mark.anyio
async def test_touching_the_file_without_a_change_is_unchanged(
        reloader: ConfigReloader, config_file: Path) -> None:
    config_file.write_text(config_file.read_text(encoding="utf-8") + "\n# a comment\n", encoding="utf-8")
    assert reloader.reload().outcome is ConfigReloadTrigger.UNCHANGED


@pytest.mark.anyio
async def test_a_changed_token_file_replaces_the_configured_tokens(
        orch: Orchestrator, reloader: ConfigReloader, config_file: Path) -> None:
    async with httpx.AsyncClient(base_url=orch.url, timeout=30) as http:
        def as_(token: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {token}"}

        assert (await http.get("/api/v1/config", headers=as_(FILE_TOKEN))).status_code == 200
        (config_file.parent / "orch.tokens").write_text(f"admin {NEW_FILE_TOKEN}\n", encoding="utf-8")
        report = reloader.reload()
        assert report.outcome is ConfigReloadTrigger.APPLIED and report.fields == ("role_tokens.admin",)
        assert (await http.get("/api/v1/config", headers=as_(NEW_FILE_TOKEN))).status_code == 200
        assert (await http.get("/api/v1/config", headers=as_(FILE_TOKEN))).status_code == 401
        # No secret, old or new, reaches the answer or the reload's message.
        text = (await http.get("/api/v1/config", headers=as_(NEW_FILE_TOKEN))).text
        for secret in (TOKEN, CLIENT_TOKEN, FILE_TOKEN, NEW_FILE_TOKEN):
            assert secret not in text


@pytest.mark.anyio
async def test_the_config_endpoint_needs_an_admin_and_never_shows_a_secret(orch: Orchestrator) -> None:
    async with httpx.AsyncClient(base_url=orch.url, timeout=30) as http:
        refused = await http.get("/api/v1/config", headers={"Authorization": f"Bearer {CLIENT_TOKEN}"})
        assert refused.status_code == 403 and "admin" in refused.text
        assert (await http.get("/api/v1/config")).status_code == 401
        answer = await http.get("/api/v1/config", headers=AUTH)
    assert answer.status_code == 200
    for secret in (TOKEN, CLIENT_TOKEN, FILE_TOKEN):
        assert secret not in answer.text
    body = answer.json()
    assert body["config"]["tokens"] == "***" and body["config"]["client_tokens"] == "***"
    assert body["lastReload"] is None
    assert "port" in body["restartRequired"] and "log_level" in body["reloadable"]


@pytest.mark.anyio
async def test_reloads_are_traced_and_conform(
        orch: Orchestrator, reloader: ConfigReloader, config_file: Path) -> None:
    for threshold in ("high", 0.4, 0.4):
        config_file.write_text(_config(config_file.parent, threshold=threshold), encoding="utf-8")
        reloader.reload()
    trace = config_file.parent / "trace.jsonl"
    events = [e for e in read_trace(trace) if e.machine == CONFIG_RELOAD.name]
    assert [e.trigger for e in events] == ["file_changed", "invalid", "file_changed", "applied",
                                            "file_changed", "unchanged"]
    assert events[3].data[TraceKey.FIELDS] == ["policies.alerts.rules"]
    assert "policies.alerts.rules.0.threshold" in events[1].data[TraceKey.REASON]
    report = check_trace(read_trace(trace), policies=orch.policies)
    assert report.divergence is None, report


@pytest.mark.anyio
async def test_without_a_source_nothing_is_watched(tmp_path: Path) -> None:
    async with Orchestrator(make_settings(tmp_path)) as orch, \
            httpx.AsyncClient(base_url=orch.url, headers=AUTH, timeout=30) as http:
        body = (await http.get("/api/v1/config")).json()
    assert orch.config_reloader is None and body["file"] is None and body["watching"] is False


@pytest.mark.anyio
async def test_an_edit_that_removes_every_token_is_refused_as_at_startup(
        orch: Orchestrator, reloader: ConfigReloader, config_file: Path) -> None:
    tmp = config_file.parent
    config_file.write_text(f'db = "{tmp / "orch.db"}"\nport = 0\ntrace = "{tmp / "trace.jsonl"}"\n', encoding="utf-8")
    report = reloader.reload()
    assert report.outcome is ConfigReloadTrigger.INVALID and "no bearer tokens" in report.message
    assert orch.credentials.authenticate(TOKEN) is not None  # nobody was locked out
