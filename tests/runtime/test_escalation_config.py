"""Escalation routes as configuration (runtime.escalation_config): validated, secret, built into escalators."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from runtime.config import OrchestratorSettings
from runtime.errors import RuntimeConfigError
from runtime.escalation_config import (
    EscalationRoutes,
    WorkerEscalationRoutes,
    build_escalator,
    load_worker_routes,
)
from runtime.resilience import CommandHook, WebhookHook

SECRET = "tok-7d1f"
URL = f"https://pager.example/hooks/{SECRET}?token={SECRET}"


def test_the_orchestrator_reads_routes_from_its_config_file_and_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "orch.toml"
    config.write_text(f'[escalation]\ntimeout_s = 3\n[escalation.levels.4]\nwebhooks = ["{URL}"]\n'
                      'command = ["/usr/bin/logger", "-t", "pager"]\n', encoding="utf-8")
    settings = OrchestratorSettings.load(config)
    route = settings.escalation.levels[4]
    assert route.webhooks[0].get_secret_value() == URL and route.command[0] == "/usr/bin/logger"
    assert SECRET not in repr(settings) and SECRET not in str(settings.model_dump())

    monkeypatch.setenv("ORCH_ESCALATION__LEVELS", json.dumps({"2": {"webhooks": [URL]}}))
    assert list(OrchestratorSettings.load().escalation.levels) == [2]


@pytest.mark.parametrize(("levels", "field", "reason"), [
    ({"5": {"webhooks": [URL]}}, "escalation.levels", "unknown escalation level 5"),
    ({"4": {"webhooks": [f"ftp://pager.example/{SECRET}"]}}, "escalation.levels.4.webhooks", "absolute http"),
    ({"4": {"command": ["logger", ""]}}, "escalation.levels.4.command", "non-empty"),
    ({"4": {"webhook": [URL]}}, "escalation.levels.4.webhook", "Extra inputs"),
])
def test_bad_routes_are_refused_naming_the_field_without_the_secret(
        monkeypatch: pytest.MonkeyPatch, levels: dict[str, object], field: str, reason: str) -> None:
    monkeypatch.setenv("ORCH_ESCALATION__LEVELS", json.dumps(levels))
    with pytest.raises(RuntimeConfigError) as refused:
        OrchestratorSettings.load()
    message = str(refused.value)
    assert f"field {field!r}" in message and reason in message
    assert SECRET not in message


def test_an_escalator_gets_one_hook_per_webhook_and_command() -> None:
    routes = EscalationRoutes.model_validate(
        {"levels": {4: {"webhooks": [URL, "http://127.0.0.1:9/x"], "command": ["true"]}}, "timeout_s": 2})
    escalator = build_escalator(routes)
    hooks = {level: escalator.hooks(level) for level in escalator.levels}
    assert [type(h) for h in hooks[4]] == [WebhookHook, WebhookHook, CommandHook]
    assert all(not hooks[level] for level in (1, 2, 3))
    assert SECRET not in repr(hooks[4])
    outcome = asyncio.run(escalator.escalate(1, "routine", source="test"))  # level 1: logged only
    assert outcome.delivered


def test_a_workers_routes_come_from_its_file(tmp_path: Path) -> None:
    assert load_worker_routes(None) == WorkerEscalationRoutes()
    assert WorkerEscalationRoutes().via_orchestrator
    for name, text in [("routes.toml", f'via_orchestrator = false\n[levels.3]\nwebhooks = ["{URL}"]\n'),
                       ("routes.yaml", f"via_orchestrator: false\nlevels:\n  3:\n    webhooks: ['{URL}']\n"),
                       ("routes.json", json.dumps({"via_orchestrator": False, "levels": {"3": {"webhooks": [URL]}}}))]:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        routes = load_worker_routes(path)
        assert not routes.via_orchestrator and list(routes.levels) == [3], name
    bad = tmp_path / "bad.toml"
    bad.write_text(f'[levels.3]\nwebhooks = ["{URL}"\n', encoding="utf-8")
    with pytest.raises(RuntimeConfigError, match="not valid toml") as refused:
        load_worker_routes(bad)
    assert SECRET not in str(refused.value)
    bad.write_text("[levels.9]\n", encoding="utf-8")
    with pytest.raises(RuntimeConfigError, match=r"field 'levels'.*unknown escalation level 9"):
        load_worker_routes(bad)
    with pytest.raises(RuntimeConfigError, match="cannot read it"):
        load_worker_routes(tmp_path / "missing.json")
