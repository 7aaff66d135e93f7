"""Generated inputs of the runtime conformance tests: a workload, workers and a fault schedule.

A `Schedule` is plain data so Hypothesis can shrink it, and `Schedule.describe` prints the
minimal failing one in a form a person can replay by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import strategies as st

from spec.injected_faults import ProcessFault

#: Capabilities workers advertise and tasks may require.
CAPABILITIES = ("python", "git", "gpu")
#: Answers the fake AI provider gives, in order, before it answers normally.
PROVIDER_OUTCOMES = ("ok", "503", "refused", "429", "429-retry-after-0")
#: The kinds are declared once, in `spec.injected_faults`.
FAULT_KINDS = tuple(ProcessFault)


@dataclass(frozen=True)
class TaskSpec:
    priority: int
    requires: tuple[str, ...]
    steps: int


@dataclass(frozen=True)
class WorkerSpec:
    capabilities: tuple[str, ...]


@dataclass(frozen=True)
class Fault:
    """One fault, applied `after_s` policy seconds after the previous one (or the submissions).

    ``worker_kill`` is a SIGKILL (the worker's coroutine is cancelled: nothing reported, nothing
    deregistered, its workspace left behind); ``worker_sigterm`` a graceful stop;
    ``heartbeat_loss`` drops the worker's heartbeats for two heartbeat timeouts;
    ``orchestrator_restart`` crashes the orchestrator (no shutdown, no clean-stop record) and
    starts a new one on the same database and port, which runs ``orchestrator_recovery``.
    """

    kind: ProcessFault
    worker: int = 0
    after_s: float = 0.0


@dataclass(frozen=True)
class Schedule:
    workers: tuple[WorkerSpec, ...]
    tasks: tuple[TaskSpec, ...]
    faults: tuple[Fault, ...] = ()
    provider: tuple[str, ...] = field(default=())

    def describe(self) -> str:
        lines = [f"workers: {len(self.workers)}"]
        lines += [f"  worker {i}: capabilities {list(w.capabilities)}" for i, w in enumerate(self.workers)]
        lines.append(f"tasks: {len(self.tasks)}")
        lines += [f"  task {i}: priority {t.priority}, requires {list(t.requires)}, {t.steps} step(s)"
                  for i, t in enumerate(self.tasks)]
        lines.append(f"provider answers: {list(self.provider) or 'all ok'}")
        lines.append("faults:" if self.faults else "faults: none")
        for f in self.faults:
            target = f" worker {f.worker}" if f.kind != ProcessFault.ORCHESTRATOR_RESTART else ""
            lines.append(f"  after {f.after_s:g} policy s: {f.kind}{target}")
        lines.append("then: a rescue worker with every capability, wait for every task, SIGTERM workers and "
                     "orchestrator")
        return "\n".join(lines)


_caps = st.lists(st.sampled_from(CAPABILITIES), unique=True, max_size=2).map(tuple)


def workers(max_workers: int = 3) -> st.SearchStrategy[tuple[WorkerSpec, ...]]:
    return st.lists(st.builds(WorkerSpec, capabilities=_caps), min_size=1, max_size=max_workers).map(tuple)


def tasks(max_tasks: int = 5) -> st.SearchStrategy[tuple[TaskSpec, ...]]:
    one = st.builds(TaskSpec, priority=st.integers(0, 10),
                    requires=st.lists(st.sampled_from(CAPABILITIES), unique=True, max_size=1).map(tuple),
                    steps=st.integers(1, 3))
    return st.lists(one, min_size=1, max_size=max_tasks).map(tuple)


def faults(max_faults: int = 2) -> st.SearchStrategy[tuple[Fault, ...]]:
    one = st.builds(Fault, kind=st.sampled_from(FAULT_KINDS), worker=st.integers(0, 2),
                    after_s=st.sampled_from([0.0, 5.0, 20.0]))
    return st.lists(one, max_size=max_faults).map(tuple)


def schedules() -> st.SearchStrategy[Schedule]:
    return st.builds(Schedule, workers=workers(), tasks=tasks(), faults=faults(),
                     provider=st.lists(st.sampled_from(PROVIDER_OUTCOMES), max_size=4).map(tuple))
