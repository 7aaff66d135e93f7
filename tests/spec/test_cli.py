"""``python -m spec``: list, render, render --trace, check; exit codes and messages."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from spec.__main__ import main
from spec.catalog import DIAGRAMS, list_diagrams, render_diagram
from spec.machines import MACHINES
from spec.render import render_trace
from spec.specification import Spec
from spec.trace import TraceEvent, write_trace

REPO = Path(__file__).resolve().parents[2]


def test_list_prints_every_diagram(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == list_diagrams()
    assert [line.split()[0] for line in out.splitlines()] == list(DIAGRAMS)


@pytest.mark.parametrize(("argv", "name", "kind"), [
    (["render", "task_lifecycle"], "task_lifecycle", None),
    (["render", "orchestrator_startup", "--kind", "sequence"], "orchestrator_startup", "sequence"),
    (["render", "error_handling", "--kind", "flowchart"], "error_handling", "flowchart"),
])
def test_render_prints_the_diagram(
    argv: list[str], name: str, kind: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 0
    assert capsys.readouterr().out == render_diagram(name, kind)


def test_unknown_diagram_exits_2_and_lists_known_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "nosuch"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "unknown diagram 'nosuch'" in captured.err
    for name in DIAGRAMS:
        assert name in captured.err


def test_kind_the_diagram_lacks_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "retry", "--kind", "flowchart"]) == 2
    assert "unknown flowchart diagram 'retry'; known diagrams: error_handling" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "reason"), [
    (["render"], "needs a diagram name"),
    (["render", "retry", "--trace", "x.jsonl"], "takes no diagram name"),
    (["render", "retry", "--kind", "pie"], "invalid choice"),
    ([], "required"),
])
def test_bad_arguments_exit_2(argv: list[str], reason: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert reason in capsys.readouterr().err


def _task_trace(path: Path) -> list[TraceEvent]:
    events = []
    instance = MACHINES["task_lifecycle"].bind(
        listener=lambda r: events.append(TraceEvent.from_record(r, time=float(len(events)), component="task:7"))
    )
    for trigger in ("assign", "start", "complete"):
        instance.fire(trigger)
    write_trace(path, events)
    return events


def test_render_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = _task_trace(tmp_path / "run.jsonl")
    assert main(["render", "--trace", str(tmp_path / "run.jsonl")]) == 0
    assert capsys.readouterr().out == render_trace(events)


def test_bad_trace_exits_2_naming_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.jsonl"
    _task_trace(path)
    path.write_text(path.read_text() + "{not json\n")
    assert main(["render", "--trace", str(path)]) == 2
    assert f"{path}:4: not valid JSON" in capsys.readouterr().err
    assert main(["render", "--trace", str(tmp_path / "missing.jsonl")]) == 2
    assert "cannot read trace file" in capsys.readouterr().err


def test_check_passes_on_the_shipped_spec(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    assert " 0 failed" in capsys.readouterr().out


@dataclass
class _Report:
    ok: bool

    def format(self) -> str:
        return "FAIL  something" if not self.ok else "all good"


@pytest.mark.parametrize(("ok", "code"), [(True, 0), (False, 1)])
def test_check_exit_code_follows_the_report(
    ok: bool, code: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(Spec, "check", lambda self: _Report(ok))
    assert main(["check"]) == code
    assert capsys.readouterr().out.strip() == _Report(ok).format()


def test_python_dash_m_spec_runs_as_a_process() -> None:
    listed = subprocess.run([sys.executable, "-m", "spec", "list"], cwd=REPO, capture_output=True, text=True,
                            timeout=120, check=False)
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()] == list(DIAGRAMS)
    unknown = subprocess.run([sys.executable, "-m", "spec", "render", "nosuch"], cwd=REPO, capture_output=True,
                             text=True, timeout=120, check=False)
    assert unknown.returncode == 2
    assert "known diagrams:" in unknown.stderr and "error_handling" in unknown.stderr


def test_conform_accepts_a_trace_of_the_machines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = _task_trace(tmp_path / "run.jsonl")
    assert main(["conform", str(tmp_path / "run.jsonl")]) == 0
    assert capsys.readouterr().out.strip() == f"conforms: {len(events)} events, 1 components"


def test_conform_reports_a_divergence_with_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = _task_trace(tmp_path / "run.jsonl")
    wrong = events[-1].model_copy(update={"dest": "failed"})  # 'complete' leads to 'completed'
    write_trace(tmp_path / "bad.jsonl", [*events[:-1], wrong])
    assert main(["conform", str(tmp_path / "bad.jsonl")]) == 1
    out = capsys.readouterr().out
    assert out.startswith("DIVERGES at event 3 (task:7, task_lifecycle.complete)")


def test_conform_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _task_trace(tmp_path / "run.jsonl")
    assert main(["conform", str(tmp_path / "run.jsonl"), "--tolerance", "-1"]) == 2
    assert "--tolerance must be >= 0" in capsys.readouterr().err
    assert main(["conform", str(tmp_path / "missing.jsonl")]) == 2
    assert "cannot read trace file" in capsys.readouterr().err
