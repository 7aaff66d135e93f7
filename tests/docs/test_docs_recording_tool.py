"""tools/record_reference_run.py: a real orchestrator and worker run recorded for the docs."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from spec.conformance import check_trace
from spec.sequences import STORIES
from spec.trace import TraceEvent, read_trace

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "record_reference_run.py"


def _tool() -> ModuleType:
    found = importlib.util.spec_from_file_location("record_reference_run", TOOL)
    assert found is not None and found.loader is not None
    module = importlib.util.module_from_spec(found)
    sys.modules[found.name] = module  # dataclasses look their module up
    found.loader.exec_module(module)
    return module


def _event(trigger: str, time: float, component: str = "worker:w") -> TraceEvent:
    return TraceEvent(time=time, component=component, machine="worker_lifecycle", trigger=trigger,
                      source="idle", dest="polling")


def test_each_component_comes_from_the_process_that_traced_most_of_it() -> None:
    merged = _tool().merge_views({
        "orchestrator": [_event("poll", 1.0), _event("poll", 3.0), _event("poll", 2.0, component="task:t")],
        "worker": [_event("poll", 0.9), _event("poll", 3.1), _event("poll", 5.0)],
    })
    assert [(e.time, e.component, e.data["recordedBy"]) for e in merged] == [
        (0.9, "worker:w", "worker"), (2.0, "task:t", "orchestrator"), (3.1, "worker:w", "worker"),
        (5.0, "worker:w", "worker")]


def test_a_tie_goes_to_the_first_process_name() -> None:
    merged = _tool().merge_views({"worker": [_event("poll", 1.0)], "orchestrator": [_event("poll", 2.0)]})
    assert [(e.time, e.data["recordedBy"]) for e in merged] == [(2.0, "orchestrator")]


def test_a_real_run_records_every_story_from_its_own_machines(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(TOOL), "--out", str(tmp_path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    tool = _tool()
    for story in tool.STORY_PHASES:
        events = read_trace(tmp_path / f"{story}.jsonl")
        assert events, story
        assert {e.machine for e in events} <= set(STORIES[story].machines), story
        assert [e.time for e in events] == sorted(e.time for e in events)
    # Stories whose components start inside their phase replay on the spec machines from the start.
    for story in ("orchestrator_startup", "worker_registration", "task_execution", "orchestrator_shutdown"):
        report = check_trace(read_trace(tmp_path / f"{story}.jsonl"))
        assert report.divergence is None, (story, report)
    triggers = [e.trigger for e in read_trace(tmp_path / "worker_registration.jsonl")]
    for expected in ("register", "capabilities_accepted", "poll", "task_received", "deregister"):
        assert expected in triggers
    assert triggers[-1] == "deregister"


RESILIENCE_TOOL = ROOT / "tools" / "record_resilience_run.py"


def test_a_real_resilience_run_obeys_the_spec_it_was_recorded_with(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(RESILIENCE_TOOL), "--out", str(tmp_path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    found = importlib.util.spec_from_file_location("record_resilience_run", RESILIENCE_TOOL)
    assert found is not None and found.loader is not None
    module = importlib.util.module_from_spec(found)
    sys.modules[found.name] = module
    found.loader.exec_module(module)
    policies = module.quick_policies()
    for story in ("retry_backoff", "circuit_breaker", "rate_limit", "auth_error"):
        events = read_trace(tmp_path / f"{story}.jsonl")
        assert events and {e.machine for e in events} <= set(STORIES[story].machines), story
        # Behaviour *and* timing: the delays are the (shortened) policy's, within scheduling jitter.
        report = check_trace(events, policies=policies, tolerance_s=0.25)
        assert report.divergence is None, (story, report.format())
    triggers = [e.trigger for e in read_trace(tmp_path / "circuit_breaker.jsonl") if e.machine == "circuit_breaker"]
    for expected in ("trip", "reject", "probe", "trial_succeeded"):
        assert expected in triggers
