from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.worker.builtin_tasks import ShellTask, parse_shell_commands
from runtime.worker.cli import EXIT_CONFIG, EXIT_UNREACHABLE, build_parser, build_worker, load_policies, main
from runtime.worker.errors import TaskFailure, WorkerConfigError
from spec.policies import DEFAULT_POLICIES

REPO = Path(__file__).resolve().parents[3]


def test_policy_overrides_reach_nested_fields() -> None:
    policies = load_policies(None, ["heartbeat.interval_s=0.2", "heartbeat.timeout_s=0.6", "poll.min_interval_s=0.05"])
    assert policies.heartbeat.interval_s == 0.2 and policies.heartbeat.timeout_s == 0.6
    assert policies.poll.min_interval_s == 0.05
    assert policies.backoff == DEFAULT_POLICIES.backoff


@pytest.mark.parametrize("suffix", [".json", ".toml", ".yaml"])
def test_policy_files_in_each_format(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"policies{suffix}"
    path.write_text({
        ".json": json.dumps({"progress": {"interval_s": 1.5}}),
        ".toml": "[progress]\ninterval_s = 1.5\n",
        ".yaml": "progress:\n  interval_s: 1.5\n",
    }[suffix])
    assert load_policies(path, ["progress.report_on_milestone=false"]).progress.interval_s == 1.5


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["heartbeat.interval_s=-1"], "heartbeat.interval_s"),
        (["heartbeat.timeout_s=0.1"], "heartbeat"),
        (["nonsense.field=1"], "nonsense"),
        (["no_equals_sign"], "SECTION.FIELD=VALUE"),
    ],
)
def test_bad_policy_overrides_name_the_field(overrides: list[str], message: str) -> None:
    with pytest.raises(WorkerConfigError, match=message.replace(".", r"\.")):
        load_policies(None, overrides)


def test_a_missing_policy_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(WorkerConfigError, match="missing.toml"):
        load_policies(tmp_path / "missing.toml")


def test_shell_commands_parse_and_errors_name_the_entry() -> None:
    assert parse_shell_commands(["build=make -j2", "say=echo 'two words'"]) == {
        "build": ["make", "-j2"], "say": ["echo", "two words"]}
    with pytest.raises(WorkerConfigError, match="'build'"):
        parse_shell_commands(["build"])
    with pytest.raises(WorkerConfigError, match="cannot parse"):
        parse_shell_commands(["x=echo 'unterminated"])


def test_shell_task_payload_errors_name_the_field() -> None:
    shell = ShellTask({"build": ["make"]})
    assert shell.argv_for({"command": "build", "args": ["all"]}) == ("build", ["make", "all"])
    for payload, field in [({"command": "deploy"}, "command"), ({"command": "build", "args": "all"}, "args"),
                           ({}, "command")]:
        with pytest.raises(TaskFailure, match=f"'{field}'"):
            shell.argv_for(payload)


def test_the_worker_gets_the_builtin_task_types(tmp_path: Path) -> None:
    args = build_parser().parse_args(["--orchestrator", "http://127.0.0.1:1", "--workspace-root", str(tmp_path),
                                      "--shell-command", "hi=echo hi", "--capability", "gpu", "--no-detect"])
    worker = build_worker(args)
    assert set(worker.handlers) == {"noop", "sleep", "shell"} and worker.capabilities == ["gpu"]
    args = build_parser().parse_args(["--orchestrator", "http://127.0.0.1:1", "--workspace-root", str(tmp_path)])
    assert "shell" not in build_worker(args).handlers


def test_an_invalid_capability_exits_with_the_config_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--orchestrator", "http://127.0.0.1:1", "--capability", "Not Valid",
                 "--workspace-root", str(tmp_path)])
    assert code == EXIT_CONFIG and "'Not Valid'" in capsys.readouterr().err


def test_an_unreachable_orchestrator_exits_non_zero_after_its_retries(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "runtime", "worker", "--orchestrator", "http://127.0.0.1:9", "--workspace-root",
         str(tmp_path), "--policy", "backoff.base_delay_s=0.01", "--policy", "backoff.max_delay_s=0.02"],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )
    assert result.returncode == EXIT_UNREACHABLE
    assert "unreachable" in result.stderr


def test_escalation_routes_and_the_demo_ai_failure_are_configured_by_flag(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--orchestrator", "http://127.0.0.1:1", "--workspace-root", str(tmp_path)]
    routes = tmp_path / "routes.json"
    routes.write_text('{"levels": {"4": {"command": ["true"]}}, "via_orchestrator": false}', encoding="utf-8")
    worker = build_worker(build_parser().parse_args([*base, "--escalation-config", str(routes)]))
    assert [type(h).__name__ for h in worker.escalator.hooks(4)] == ["CommandHook"]
    monkeypatch.setenv("RUNTIME_ESCALATION_CONFIG", str(routes))
    assert build_worker(build_parser().parse_args(base)).escalator.hooks(3) == ()
    monkeypatch.delenv("RUNTIME_ESCALATION_CONFIG")
    default = build_worker(build_parser().parse_args(base)).escalator
    assert [type(h).__name__ for h in default.hooks(4)] == ["OrchestratorEscalationHook"]

    routes.write_text('{"levels": {"7": {}}}', encoding="utf-8")
    assert main([*base, "--no-detect", "--capability", "python", "--escalation-config", str(routes)]) == EXIT_CONFIG
    assert "unknown escalation level 7" in capsys.readouterr().err
    assert main([*base, "--no-detect", "--capability", "python", "--demo-ai-failure", "error"]) == EXIT_CONFIG
    assert "--demo-ai-failure needs --demo-platform" in capsys.readouterr().err
