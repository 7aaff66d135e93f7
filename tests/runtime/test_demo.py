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
from runtime.demo.ai_failure import AI_SERVICE, DemoAIFailure, demo_ai_script, expected_alert
from runtime.demo.alerts import firing, read_alerts
from runtime.demo.platform import register_demo_workflow
from runtime.demo.traces import TIMING_TOLERANCE_S
from runtime.worker.agent import Worker
from runtime.workflow import FAILING_BUILD_ISSUE, AIFailure, AIOperation, AIScript, create_demo_repository
from spec.conformance import check_trace
from spec.machines import MACHINES
from spec.taxonomy import ErrorClass
from spec.trace import TraceEvent, read_trace, write_trace

REPO = Path(__file__).resolve().parents[2]
DEMO_TIMEOUT_S = 300
#: The failing-AI demo runs in about 15 s on an idle machine; these bound it well below a minute.
FAILURE_DEMO_TIMEOUT_S = 40
FAILURE_PROCESS_TIMEOUT_S = 58

if shutil.which("git") is None:  # pragma: no cover - git is installed wherever the suite normally runs
    pytest.skip("the demo drives real git repositories and 'git' is not on PATH", allow_module_level=True)


def run_demo(*args: str, timeout_s: float = DEMO_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return subprocess.run([sys.executable, "-m", "runtime", "demo", *args], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=timeout_s)


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

    # The workers' calls reached the orchestrator's metrics; nothing is alerting.
    scrape = (out / "metrics.txt").read_text(encoding="utf-8")
    assert f'orchestration_external_calls_total{{operation="analyze",outcome="success",service="{AI_SERVICE}"}}' \
        in scrape
    assert firing(read_alerts(json.loads((out / "alerts.json").read_text(encoding="utf-8")))) == []


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


@pytest.mark.parametrize("failure", list(DemoAIFailure))
def test_a_failing_ai_provider_raises_its_alert_which_the_demo_prints_and_saves(tmp_path: Path,
                                                                             failure: DemoAIFailure) -> None:
    out = tmp_path / "out"
    done = run_demo("--out", str(out), "--ai-failure", failure.value, "--timeout", str(FAILURE_DEMO_TIMEOUT_S),
                    timeout_s=FAILURE_PROCESS_TIMEOUT_S)
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    name, states = expected_alert(failure)
    printed = done.stdout.replace("\n", " ")
    assert f"alert         {name} [" in printed and f"service={AI_SERVICE}" in printed

    alerts = read_alerts(json.loads((out / "alerts.json").read_text(encoding="utf-8")))
    raised = [a for a in alerts if a.name == name and a.labels.get("service") == AI_SERVICE]
    assert raised and raised[0].state in states, alerts
    scrape = (out / "metrics.txt").read_text(encoding="utf-8")
    breaker = f'orchestration_circuit_breaker_state{{service="{AI_SERVICE}",state="open"}}'
    # An error opens the breaker; a rate limit is a healthy service's answer and leaves it closed (taxonomy).
    assert f"{breaker} {'1.0' if failure is DemoAIFailure.ERROR else '0.0'}" in scrape
    assert f'orchestration_external_calls_total{{operation="analyze",outcome="error",service="{AI_SERVICE}"}}' in scrape
    events = read_trace(out / "trace.jsonl")
    assert check_trace(events, require_initial=False, tolerance_s=TIMING_TOLERANCE_S).ok
    trips = [e for e in events if e.machine == "circuit_breaker" and e.trigger == "trip"]
    assert bool(trips) == (failure is DemoAIFailure.ERROR)


def test_alerts_are_read_in_prometheus_shape_and_the_earlier_one() -> None:
    prometheus = {"status": "success", "data": {"alerts": [
        {"labels": {"alertname": "CircuitBreakerOpen", "severity": "warning", "service": "ai"},
         "annotations": {"summary": "Circuit breaker open"}, "state": "firing", "activeAt": "2026-01-01T00:00:00Z",
         "value": "1e+00"}]}}
    earlier = {"alerts": [{"alert": "CircuitBreakerOpen", "labels": {"service": "ai"}, "state": "firing",
                           "summary": "Circuit breaker open"}], "breakers": {}}
    new, old = read_alerts(prometheus), read_alerts(earlier)
    assert [(a.name, a.labels.get("service"), a.state, a.summary) for a in new + old] == [
        ("CircuitBreakerOpen", "ai", "firing", "Circuit breaker open")] * 2
    assert firing(new, "CircuitBreakerOpen") == new and firing(new, "HighErrorRate") == []
    with pytest.raises(DemoError, match="data"):
        read_alerts({"status": "error"})
    with pytest.raises(DemoError, match="alertname"):
        read_alerts({"status": "success", "data": {"alerts": [{"labels": {}}]}})


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


def test_the_demo_ai_provider_fails_as_asked(tmp_path: Path) -> None:
    demo = create_demo_repository(tmp_path / "platform")
    path = write_platform_file(demo, tmp_path / "demo-platform.json")
    workflow = register_demo_workflow(Worker("http://127.0.0.1:1", capabilities=["python"]), path,
                                      ai_failure="rate-limited")
    script = workflow.services.ai.script  # type: ignore[attr-defined]
    assert (script.failure, script.during) == (AIFailure.RATE_LIMIT, AIOperation.ANALYZE)
    assert demo_ai_script(DemoAIFailure.ERROR) == AIScript(failure=AIFailure.ERROR, during=AIOperation.ANALYZE,
                                                          error_class=ErrorClass.NETWORK)
    assert demo_ai_script(None) is None
    with pytest.raises(DemoError, match="--demo-ai-failure 'sideways': expected one of error, rate-limited"):
        register_demo_workflow(Worker("http://127.0.0.1:1", capabilities=["python"]), path, ai_failure="sideways")


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
