"""What must hold for every run of the runtime (issue 6 §2), with readable explanations.

Each check returns findings: strings meant for a person, naming the trace, the component and
the divergence, followed by the Mermaid sequence diagram of that component's events up to the
divergence (`spec.render.render_trace`), so a shrunk failing example reads as a story.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence

from spec.conformance import ConformanceReport, check_trace
from spec.policies import Policies
from spec.render import render_trace
from spec.trace import TraceError, TraceEvent

#: Events shown around a divergence when its component's own events cannot be drawn.
CONTEXT_EVENTS = 12


def per_attempt(events: Iterable[TraceEvent]) -> list[TraceEvent]:
    """A worker's view of a task starts at its lease; each attempt is its own machine instance.

    The worker binds ``task_lifecycle`` at ``assigned`` for every lease it gets, under
    ``task:<id>``; a task leased twice to one worker (after a lost lease) would otherwise look
    like one instance jumping from ``queued`` back to ``assigned``.
    """
    out = []
    for event in events:
        if event.machine == "task_lifecycle" and "attempt" in event.data:
            event = event.model_copy(update={"component": f"{event.component}@{event.data['attempt']}"})
        out.append(event)
    return out


def diagram(events: Sequence[TraceEvent]) -> str:
    try:
        return render_trace(events)
    except TraceError as exc:
        listing = "\n".join(f"  {e.time:.3f} {e.component} {e.trigger} ({e.source} -> {e.dest})" for e in events)
        return f"(no diagram: {exc})\n{listing}"


def explain(name: str, report: ConformanceReport, events: Sequence[TraceEvent]) -> str:
    """The divergence and the diverging component's story as a Mermaid sequence diagram."""
    divergence = report.divergence
    assert divergence is not None
    upto = list(events[: divergence.index])
    own = [e for e in upto if e.component == divergence.component]
    lines = [f"{name} trace DIVERGES from the spec at {divergence}"]
    lines.append(f"Mermaid sequence diagram of {divergence.component} up to the divergence:")
    lines.append(diagram(own if own else upto[-CONTEXT_EVENTS:]))
    return "\n".join(lines)


def conformance_findings(
    traces: Mapping[str, tuple[list[TraceEvent], bool]], policies: Policies, tolerance_s: float
) -> list[str]:
    """Replay every trace (name -> (events, require_initial)); one finding per diverging trace."""
    findings = []
    for name, (events, require_initial) in traces.items():
        report = check_trace(events, policies=policies, tolerance_s=tolerance_s, require_initial=require_initial)
        if not report.ok:
            findings.append(explain(name, report, events))
    return findings


def completion_findings(
    views: Sequence[Mapping[str, object]],
    orchestrator: Sequence[TraceEvent],
    workers: Mapping[str, Sequence[TraceEvent]],
    submitted: Sequence[str],
) -> list[str]:
    """No task lost (every submitted task is known and settled) and none completed twice."""
    findings = []
    status = {str(v["taskId"]): str(v["status"]) for v in views}
    for task_id in submitted:
        if task_id not in status:
            findings.append(f"task {task_id} was accepted (201) but the store does not know it: lost")
    completions = Counter(e.component for e in orchestrator
                          if e.machine == "task_lifecycle" and e.trigger == "complete")
    worker_completions: dict[str, list[str]] = defaultdict(list)
    for name, events in workers.items():
        for e in events:
            if e.machine == "task_lifecycle" and e.trigger == "complete":
                worker_completions[e.component].append(name)
    for task_id in submitted:
        component = f"task:{task_id}"
        if completions[component] > 1:
            findings.append(f"{component} completed {completions[component]} times in the orchestrator's trace")
        if len(worker_completions[component]) > 1:
            findings.append(f"{component} completed by several workers: {worker_completions[component]}")
        if status.get(task_id) == "completed" and completions[component] != 1:
            findings.append(f"{component} is completed in the store but its trace records "
                            f"{completions[component]} completion(s)")
        if worker_completions[component] and status.get(task_id) != "completed":
            findings.append(f"{component}: worker {worker_completions[component][0]} saw its completion accepted "
                            f"but the store says {status.get(task_id)!r}")
    return findings


def routing_findings(
    orchestrator: Sequence[TraceEvent], capabilities: Mapping[str, set[str]], requires: Mapping[str, set[str]]
) -> list[str]:
    """Every lease went to a worker that has every capability the task requires."""
    findings = []
    for e in orchestrator:
        if e.machine == "task_lifecycle" and e.trigger == "assign":
            task_id = e.component.removeprefix("task:")
            worker = str(e.data.get("workerId"))
            missing = requires.get(task_id, set()) - capabilities.get(worker, set())
            if missing:
                findings.append(f"{e.component} leased to {worker}, which lacks {sorted(missing)}")
    return findings
