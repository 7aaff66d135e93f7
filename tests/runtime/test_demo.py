"""``python -m runtime demo`` end to end (issue 4 §4 and its test "the demo run creates a real branch and
commit in a local repository and a pull-request record"), plus the pieces it is made of.

The end-to-end tests run the command as a subprocess, exactly as the README tells a user to, and
look at what it left behind with git and the trace tools; the deadlines are generous because the
machine may be loaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.demo import DemoError, merge_traces, read_platform_file, write_platform_file
from runtime.demo.traces import TIMING_TOLERANCE_S
from runtime.workflow import FAILING_BUILD_ISSUE, create_demo_repository
from spec.conformance import check_trace
from spec.machines import MACHINES
from spec.trace import TraceEvent, read_trace, write_trace

REPO = Path(__file__).resolve().parents[2]
DEMO_TIMEOUT_S = 300

if shutil.which("git") is None:  # pragma: no cover - git is installed wherever the suite normally runs
    pytest.skip("the demo drives real git repositories and 'git' is not on PATH", allow_module_level=True)


def run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return subprocess.run([sys.executable, "-m", "runtime", "demo", *args], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=DEMO_TIMEOUT_S)


def git(remote: Path, *args: str) -> str:
    done = subprocess.run(["git", "--git-dir", str(remote), *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_the_demo_delivers_a_branch_a_commit_and_a_pull_request_and_a_conforming_trace(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = run_demo("--out", str(out))
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"

    remote = out / "platform" / "remote.git"
    commit = git(remote, "rev-parse", "--verify", "refs/heads/feature/issue-1")
    assert git(remote, "cat-file", "-t", commit) == "commit"
    assert git(remote, "rev-parse", "refs/heads/main") == git(remote, "rev-parse", f"{commit}^")
    assert "def multiply(a: int, b: int) -> int:" in git(remote, "show", f"{commit}:calc.py")
    assert "test_multiply" in git(remote, "show", f"{commit}:tests/test_calc.py")

    record_path = out / "platform" / "pull-requests" / "1.json"
    record = json.loads(record_path.read_text(encoding="utf-8"))
    assert (record["number"], record["branch"], record["base"], record["commit"], record["state"]) == (
        1, "feature/issue-1", "main", commit, "open")
    assert commit in done.stdout and str(record_path) in done.stdout.replace("\n", "")

    events = read_trace(out / "trace.jsonl")
    report = check_trace(events, require_initial=False, tolerance_s=TIMING_TOLERANCE_S)
    assert report.ok, report.format()
    assert "conforms" in done.stdout
    times = [e.time for e in events]
    assert times == sorted(times)
    processes = {e.component.split("/", 1)[0] for e in events}
    assert processes == {"orchestrator", "demo-worker-1", "demo-worker-2"}
    pipeline = [e for e in events if e.machine == "coding_pipeline"]
    assert len({e.component for e in pipeline}) == 1
    assert pipeline[-1].trigger == "pull_request_opened"
    assert pipeline[-1].dest == MACHINES["coding_pipeline"].next_state(pipeline[-1].source, "pull_request_opened")
    assert sum(1 for e in events if e.machine == "coding_pipeline" and e.trigger == "code_chunk") >= 1
    for process in processes:  # each process stopped through its shutdown machine, not by a kill
        assert any(e.component.startswith(f"{process}/") and "shutdown" in e.machine for e in events), process

    diagram = (out / "trace.mmd").read_text(encoding="utf-8")
    assert diagram.startswith("sequenceDiagram\n")
    assert "participant git_platform" in diagram


def test_a_failing_workflow_exits_non_zero_with_the_reason_and_still_writes_the_trace(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "platform").mkdir(parents=True)
    (out / "platform" / "mine.txt").write_text("not the demo's", encoding="utf-8")
    refused = run_demo("--out", str(out), "--issue", FAILING_BUILD_ISSUE)
    assert refused.returncode == 1
    assert "was not made by the demo" in refused.stderr
    assert (out / "platform" / "mine.txt").exists()  # nothing of the user's was removed

    shutil.rmtree(out / "platform")
    done = run_demo("--out", str(out), "--issue", FAILING_BUILD_ISSUE)
    assert done.returncode == 1, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "BUILD_FAILED" in done.stdout and "did not deliver a pull request" in done.stderr
    remote = out / "platform" / "remote.git"
    assert git(remote, "for-each-ref", "--format=%(refname)", "refs/heads") == "refs/heads/main"  # nothing pushed
    assert not list((out / "platform" / "pull-requests").glob("*.json"))
    events = read_trace(out / "trace.jsonl")
    assert check_trace(events, require_initial=False, tolerance_s=TIMING_TOLERANCE_S).ok
    assert any(e.machine == "coding_pipeline" and e.trigger == "build_failed" for e in events)

    rerun = run_demo("--out", str(out))  # an earlier demo's outputs are replaced
    assert rerun.returncode == 0, f"stdout:\n{rerun.stdout}\nstderr:\n{rerun.stderr}"
    assert not any(e.trigger == "build_failed" for e in read_trace(out / "trace.jsonl"))


def test_the_platform_file_round_trips_and_names_what_is_wrong(tmp_path: Path) -> None:
    demo = create_demo_repository(tmp_path / "platform")
    path = write_platform_file(demo, tmp_path / "demo-platform.json")
    assert read_platform_file(path) == demo

    record = json.loads(path.read_text(encoding="utf-8"))
    record["pullsDir"] = str(tmp_path / "missing")
    path.write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(DemoError, match="field 'pullsDir'.*is not a directory"):
        read_platform_file(path)
    path.write_text("[1, 2", encoding="utf-8")
    with pytest.raises(DemoError, match="not valid JSON"):
        read_platform_file(path)
    with pytest.raises(DemoError, match="cannot read it"):
        read_platform_file(tmp_path / "nowhere.json")


def _event(time: float, component: str, trigger: str) -> TraceEvent:
    return TraceEvent(time=time, component=component, machine="orchestrator_startup", trigger=trigger,
                      source="a", dest="b")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.floats(0, 1000, allow_nan=False), max_size=8), min_size=1, max_size=4))
def test_merged_traces_are_in_time_order_and_keep_each_process_apart(per_process: list[list[float]]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        sources: dict[str, Path] = {}
        for n, times in enumerate(per_process):
            path = Path(tmp) / f"p{n}.jsonl"
            write_trace(path, [_event(t, "task:1", f"t{i}") for i, t in enumerate(sorted(times))])
            sources[f"p{n}"] = path
        sources["silent"] = Path(tmp) / "never-written.jsonl"
        merged = merge_traces(sources)
    assert [e.time for e in merged] == sorted(e.time for e in merged)
    assert len(merged) == sum(len(times) for times in per_process)
    for n, times in enumerate(per_process):
        mine = [e for e in merged if e.component == f"p{n}/task:1"]
        assert [e.trigger for e in mine] == [f"t{i}" for i in range(len(times))]  # written order kept
