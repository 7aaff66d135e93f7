"""A real platform for one test: an orchestrator process, workers running the user's handlers, their traces.

What the `spec_platform` fixture (`runtime.testing.plugin`) hands a test. Everything it starts
is stopped gracefully (SIGTERM, so the shutdown is in the traces too) by :meth:`finish`, which
then checks the traces: the orchestrator's and workers' against the platform's catalogue, and
what the handlers recorded (`runtime.testing.handler_trace`) against the user's catalogue. A
component left halfway (a task still running, a payment still authorising) fails the check.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from runtime.demo.traces import TIMING_TOLERANCE_S, merge_traces
from runtime.testing.handler_trace import HANDLER_TRACE_ENV
from runtime.testing.processes import DEADLINE_S, FAST_POLL, OrchestratorProcess, WorkerProcess, wait_for
from runtime.worker.cli import load_policies
from spec.conformance import ConformanceReport
from spec.machine import StateRole
from spec.machines import TASK_LIFECYCLE
from spec.platform import PLATFORM
from spec.policies import Policies
from spec.specification import Spec
from spec.testing import assert_conforms
from spec.trace import TraceEvent, read_trace

#: The test kit's policies: the platform's defaults with fast polling and heartbeats, so a killed
#: worker is noticed in seconds. Built the way a worker builds its own (`load_policies`).
TEST_POLICY_OVERRIDES = (*FAST_POLL, "heartbeat.interval_s=0.25", "heartbeat.timeout_s=1.5")
TEST_POLICIES = load_policies(None, list(TEST_POLICY_OVERRIDES))
TERMINAL_TASK_STATES = frozenset(s.name for s in TASK_LIFECYCLE.states if s.role is StateRole.TERMINAL)


class PlatformUnderTest:
    """One orchestrator process (SQLite in `directory`) and the workers a test starts on it."""

    def __init__(self, directory: Path, *, policies: Policies = TEST_POLICIES, catalogue: Spec | None = None,
                 allow_unfinished: Sequence[str] = (), pythonpath: Iterable[Path] = ()) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.policies = policies
        self.catalogue = catalogue
        self.allow_unfinished = tuple(allow_unfinished)
        self.policies_file = directory / "policies.json"
        self.policies_file.write_text(json.dumps(policies.model_dump(mode="json")), encoding="utf-8")
        self.orchestrator = OrchestratorProcess(
            directory, config=yaml.safe_dump({"policies": policies.model_dump(mode="json")}),
            config_name="orchestrator.yaml", pythonpath=pythonpath,
        )
        self.workers: dict[str, WorkerProcess] = {}
        self.stopped = False
        self.checked = False

    def start_worker(self, name: str, *, handlers: Iterable[str] = (), capabilities: Iterable[str] = (),
                     args: Sequence[str] = ()) -> WorkerProcess:
        """A worker process running the task types of the `handlers` modules; returns once it registered."""
        if name in self.workers:
            raise ValueError(f"a worker named {name!r} is already running in this test")
        worker = WorkerProcess(self.orchestrator, name, "--policies", str(self.policies_file), *args,
                               capabilities=capabilities, handlers=handlers,
                               env={HANDLER_TRACE_ENV: str(self.handler_trace(name))})
        self.workers[name] = worker
        worker.wait_registered()
        return worker

    def handler_trace(self, worker: str) -> Path:
        return self.directory / f"{worker}.handlers.jsonl"

    def submit(self, task_type: str, payload: dict[str, Any] | None = None) -> str:
        """Submit a one-task workflow; the task id."""
        return self.orchestrator.submit(task_type, payload)[1]

    def wait_finished(self, task_id: str, timeout: float = DEADLINE_S) -> dict[str, Any]:
        """The task's view once it is in a terminal state (completed, failed, ...)."""
        def finished() -> dict[str, Any] | None:
            view = self.orchestrator.task(task_id)
            return view if view["status"] in TERMINAL_TASK_STATES else None

        return wait_for(finished, f"task {task_id} to finish", timeout)

    # -- traces ---------------------------------------------------------------------------------

    def platform_events(self) -> list[TraceEvent]:
        """The orchestrator's and every worker's transitions, in time order, components named ``<process>/...``.

        Both sides trace some of the same machines (a worker's lifecycle, a task) under the same
        component ids; each side's view is checked on its own.
        """
        sources = {"orchestrator": self.orchestrator.trace, **{n: w.trace for n, w in self.workers.items()}}
        return merge_traces(sources)

    def handler_events(self) -> list[TraceEvent]:
        """What the handlers recorded, in time order."""
        paths = [self.handler_trace(name) for name in self.workers]
        return sorted((e for p in paths if p.exists() for e in read_trace(p)), key=lambda e: e.time)

    # -- the end --------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the workers, then the orchestrator, gracefully (their shutdown is traced too); once."""
        if self.stopped:
            return
        self.stopped = True
        try:
            for worker in self.workers.values():
                worker.terminate()
        finally:
            for worker in self.workers.values():
                with contextlib.suppress(OSError):
                    worker.stop()
            self.orchestrator.stop()

    def finish(self) -> tuple[ConformanceReport, ConformanceReport | None]:
        """Stop everything and check the traces; raises `spec.testing.ConformanceFailure` on a divergence.

        Returns the platform's report and the user's catalogue's (None when the handlers recorded
        nothing). The fixture calls it at teardown unless the test already did.
        """
        self.stop()
        self.checked = True
        platform = dataclasses.replace(PLATFORM, policies=self.policies)
        # A worker first sees a task when it is assigned: its view of the task starts mid-machine.
        platform_report = assert_conforms(self.platform_events(), platform, tolerance_s=TIMING_TOLERANCE_S,
                                          require_initial=False)
        recorded = self.handler_events()
        if not recorded:
            return platform_report, None
        if self.catalogue is None:
            raise ValueError("the handlers recorded transitions but no catalogue checks them: mark the test "
                             "with @pytest.mark.spec_catalogue(\"MODULE:ATTR\")")
        return platform_report, assert_conforms(recorded, self.catalogue, allow_unfinished=self.allow_unfinished)
