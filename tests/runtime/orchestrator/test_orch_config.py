"""Layered configuration (issue 3 §1): defaults < file < ORCH_* environment < CLI flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.config import OrchestratorSettings
from runtime.errors import RuntimeConfigError
from runtime.tracing import TraceWriter
from spec.machines import TASK_LIFECYCLE
from spec.policies import DEFAULT_POLICIES
from spec.trace import read_trace


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("ORCH_"):
            monkeypatch.delenv(name)


def test_defaults_come_from_spec_policies() -> None:
    settings = OrchestratorSettings.load()
    assert settings.policies == DEFAULT_POLICIES
    assert settings.host == "127.0.0.1" and settings.tokens == ()


def test_each_layer_overrides_the_one_below(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "orch.toml"
    config.write_text('port = 9001\nhost = "0.0.0.0"\nlog_level = "debug"\n'
                      "[policies.heartbeat]\ninterval_s = 1.0\ntimeout_s = 5.0\n")
    from_file = OrchestratorSettings.load(config)
    assert (from_file.port, from_file.host, from_file.log_level) == (9001, "0.0.0.0", "DEBUG")
    assert from_file.policies.heartbeat.interval_s == 1.0
    assert from_file.policies.lease == DEFAULT_POLICIES.lease

    monkeypatch.setenv("ORCH_PORT", "9002")
    monkeypatch.setenv("ORCH_POLICIES__HEARTBEAT__INTERVAL_S", "0.2")
    monkeypatch.setenv("ORCH_POLICIES__HEARTBEAT__TIMEOUT_S", "0.6")
    monkeypatch.setenv("ORCH_TOKENS", '["a", "b"]')
    from_env = OrchestratorSettings.load(config)
    assert from_env.port == 9002 and from_env.host == "0.0.0.0" and from_env.tokens == ("a", "b")
    assert (from_env.policies.heartbeat.interval_s, from_env.policies.heartbeat.timeout_s) == (0.2, 0.6)

    from_flags = OrchestratorSettings.load(config, port=9003, host=None)
    assert from_flags.port == 9003 and from_flags.host == "0.0.0.0"


def test_yaml_files_work_too(tmp_path: Path) -> None:
    config = tmp_path / "orch.yaml"
    config.write_text("port: 7000\npolicies:\n  lease:\n    lease_ttl_s: 12\n")
    settings = OrchestratorSettings.load(config)
    assert settings.port == 7000 and settings.policies.lease.lease_ttl_s == 12


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ("port = 70000\n", ".toml", "field 'port'"),
        ("[policies.heartbeat]\ninterval_s = 10\ntimeout_s = 5\n", ".toml", "field 'policies.heartbeat'"),
        ("[policies.lease]\nlease_tll_s = 5\n", ".toml", "field 'policies.lease.lease_tll_s'"),
        ("colour = 'blue'\n", ".toml", "field 'colour'"),
        ("log_level = 'loud'\n", ".toml", "unknown log level"),
        ("port = [\n", ".toml", "cannot read configuration"),
        ("port: 1\n", ".ini", "must end in .toml, .yaml or .yml"),
    ],
)
def test_invalid_configuration_names_the_field_or_file(tmp_path: Path, content: str, suffix: str, message: str) -> None:
    config = tmp_path / f"orch{suffix}"
    config.write_text(content)
    with pytest.raises(RuntimeConfigError, match=message):
        OrchestratorSettings.load(config)


def test_missing_config_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(RuntimeConfigError, match="config file not found"):
        OrchestratorSettings.load(tmp_path / "nope.toml")


def test_trace_writer_appends_spec_trace_lines(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "run.jsonl"
    writer = TraceWriter(path)
    machine = TASK_LIFECYCLE.bind(listener=writer.listener("task:1", {"workerId": "w"}))
    machine.fire("assign")
    machine.fire("start")
    writer.close()
    events = read_trace(path)
    assert [(e.component, e.trigger, e.source, e.dest) for e in events] == [
        ("task:1", "assign", "queued", "assigned"), ("task:1", "start", "assigned", "running"),
    ]
    assert events[0].data == {"workerId": "w"} and events[1].messages


def test_unwritable_trace_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeConfigError, match="trace file"):
        TraceWriter(tmp_path)  # a directory
