"""Record a real reference-runtime run for the docs' "spec vs actual" sections (issue 6, §3).

``python tools/record_reference_run.py`` (or ``nox -s record``) starts a real orchestrator and a
real worker as subprocesses on 127.0.0.1, each writing its machine transitions to a trace; it
submits one ``sleep`` workflow (two progress steps) over HTTP, watches it over the WebSocket,
waits for it to complete, then stops the worker and the orchestrator with SIGTERM. The run falls
into phases (startup, registration and assignment, execution, worker shutdown, orchestrator
shutdown); each story drawn by the docs gets the events of its own machines inside its phase,
in ``docs/recorded/<story>.jsonl``.
The files are committed as evidence of a run and rendered next to the spec's diagrams by the
``spec_vs_actual`` directive.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from spec.sequences import STORIES  # noqa: E402
from spec.trace import TraceEvent, read_trace, write_trace  # noqa: E402

TOKEN = "record-token"
#: Generous: the machine running this may be loaded by other test runs.
DEADLINE_S = 60.0
#: The worker's heartbeat interval for the recording (the run lasts about two seconds).
HEARTBEAT_S = 0.25
_LISTENING = re.compile(r"orchestrator listening on (?P<url>http://\S+)")

#: Which phase of the run shows each story.
STORY_PHASES = {
    "orchestrator_startup": "startup",
    "worker_registration": "assignment",
    "task_execution": "execution",
    "worker_shutdown": "worker_shutdown",
    "orchestrator_shutdown": "orchestrator_shutdown",
}


class RecordingError(Exception):
    """The reference run did not get through a phase; the message says which and why."""


@dataclass
class Phases:
    """Wall-clock bounds of the run's phases, in the traces' clock (``time.time()``)."""

    start: float
    ready: float = 0.0
    task_done: float = 0.0
    worker_stopped: float = 0.0
    end: float = 0.0

    def window(self, phase: str) -> tuple[float, float]:
        windows = {
            "startup": (self.start, self.ready),
            # Up to the worker's deregistration, the last step of the registration story.
            "assignment": (self.ready, self.worker_stopped),
            "execution": (self.ready, self.task_done),
            "worker_shutdown": (self.task_done, self.worker_stopped),
            "orchestrator_shutdown": (self.worker_stopped, self.end),
        }
        return windows[phase]


def wait_for(what: str, condition: Callable[[], bool], deadline_s: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            raise RecordingError(f"timed out after {deadline_s:g} s waiting for {what}")
        time.sleep(0.05)


def _read_url(stream: IO[str]) -> str:
    for line in stream:
        match = _LISTENING.search(line)
        if match:
            return match.group("url")
    raise RecordingError("the orchestrator exited before printing 'orchestrator listening on URL'")


def _stop(process: subprocess.Popen[str], name: str) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=DEADLINE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        raise RecordingError(f"the {name} did not exit within {DEADLINE_S:g} s of SIGTERM") from None
    if process.returncode != 0:
        raise RecordingError(f"the {name} exited with status {process.returncode} after SIGTERM")


class EventWatcher:
    """A WebSocket client subscribed to one workflow's events, on a thread until closed."""

    def __init__(self, url: str, workflow: str) -> None:
        self.received = 0
        self.error: Exception | None = None
        self._uri = f"ws{url.removeprefix('http')}/ws?token={TOKEN}"
        self._workflow = workflow
        self._socket: ClientConnection | None = None
        self._thread = threading.Thread(target=self._run, name="event-watcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with ws_connect(self._uri, open_timeout=DEADLINE_S) as socket:
                self._socket = socket
                socket.send(json.dumps({"type": "subscribe", "workflowId": self._workflow}))
                for _ in socket:
                    self.received += 1
        except ConnectionClosed:
            pass
        except Exception as exc:  # reported by close(); the thread must not die silently
            self.error = exc

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
        self._thread.join(timeout=DEADLINE_S)
        if self.error is not None:
            raise RecordingError(f"the WebSocket client failed: {type(self.error).__name__}: {self.error}")


def _has_trigger(trace: Path, trigger: str) -> bool:
    return trace.exists() and f'"trigger":"{trigger}"' in trace.read_text(encoding="utf-8").replace(" ", "")


def run(scratch: Path) -> tuple[list[TraceEvent], Phases]:
    """One reference run; returns every traced event of both processes and the phase bounds."""
    orch_trace, worker_trace = scratch / "orchestrator.jsonl", scratch / "worker.jsonl"
    # A short run: the orchestrator tells the worker to beat faster than the default, so the
    # recording shows heartbeats.
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "ORCH_POLICIES__HEARTBEAT__INTERVAL_S": str(HEARTBEAT_S)}
    phases = Phases(start=time.time())
    orchestrator = subprocess.Popen(
        [sys.executable, "-m", "runtime", "orchestrator", "--db", str(scratch / "orch.db"), "--port", "0",
         "--token", TOKEN, "--trace", str(orch_trace), "--log-level", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True,
    )
    worker: subprocess.Popen[str] | None = None
    try:
        assert orchestrator.stdout is not None
        url = _read_url(orchestrator.stdout)
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10.0)
        wait_for("the orchestrator to report ready", lambda: client.get("/health/ready").status_code == 200)
        phases.ready = time.time()
        # Submit first and watch the workflow over the WebSocket, then start the worker: the
        # order of the task execution story (4.3).
        created = client.post("/api/v1/workflows", json={"type": "sleep", "payload": {"seconds": 0.4, "steps": 2}})
        if created.status_code != 201:
            raise RecordingError(f"POST /api/v1/workflows answered {created.status_code}: {created.text}")
        workflow = created.json()["workflowId"]
        watcher = EventWatcher(url, workflow)
        wait_for("the WebSocket subscription to be acknowledged",
                 lambda: watcher.received > 0 or watcher.error is not None)
        if watcher.error is not None:
            watcher.close()
        worker = subprocess.Popen(
            [sys.executable, "-m", "runtime", "worker", "--orchestrator", url, "--token", TOKEN, "--no-detect",
             "--capability", "sleep", "--worker-id", "worker-1", "--workspace-root", str(scratch / "workspaces"),
             "--trace", str(worker_trace), "--log-level", "WARNING"],
            cwd=ROOT, env=env, text=True,
        )
        wait_for("the workflow to complete",
                 lambda: client.get(f"/api/v1/workflows/{workflow}").json().get("status") == "completed")
        wait_for("the worker to record the end of its task", lambda: _has_trigger(worker_trace, "task_finished"))
        phases.task_done = time.time()
        watcher.close()
        _stop(worker, "worker")
        phases.worker_stopped = time.time()
        _stop(orchestrator, "orchestrator")
        phases.end = time.time()
    finally:
        for process in (worker, orchestrator):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
    return merge_views({"orchestrator": read_trace(orch_trace), "worker": read_trace(worker_trace)}), phases


def merge_views(views: dict[str, list[TraceEvent]]) -> list[TraceEvent]:
    """One consistent event stream, in time order, from several processes' traces.

    The orchestrator and the worker both trace a worker's and a task's machines, each driving its
    own copy, and the two copies can disagree on timing (the worker is ``polling`` while the
    orchestrator's registry still has it ``idle``). Interleaving both would make neither replay,
    so each component is taken from one process only: the one that traced the most transitions
    of it (ties: the first process name). ``data.recordedBy`` names that process.
    """
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for process, events in views.items():
        for event in events:
            per_process = counts.setdefault((event.component, event.machine), {})
            per_process[process] = per_process.get(process, 0) + 1
    authority = {key: min(per.items(), key=lambda item: (-item[1], item[0]))[0] for key, per in counts.items()}
    kept = [
        event.model_copy(update={"data": {**event.data, "recordedBy": process}})
        for process, events in views.items()
        for event in events
        if authority[(event.component, event.machine)] == process
    ]
    return sorted(kept, key=lambda e: e.time)


def story_events(story: str, events: list[TraceEvent], phases: Phases) -> list[TraceEvent]:
    """The events of `story`'s machines inside its phase, times made relative to the run's start."""
    machines = set(STORIES[story].machines)
    low, high = phases.window(STORY_PHASES[story])
    return [e.model_copy(update={"time": round(e.time - phases.start, 6)})
            for e in events if e.machine in machines and low <= e.time <= high]


def write_recording(out: Path, story: str, events: list[TraceEvent]) -> bool:
    """Write `story`'s own machines' events to ``out/<story>.jsonl``, times relative to the first.

    Returns False (and says so on stderr) when the run recorded nothing for the story. Shared by
    the three recording tools.
    """
    mine = sorted((e for e in events if e.machine in STORIES[story].machines), key=lambda e: e.time)
    if not mine:
        print(f"error: the run recorded no event for story {story!r}", file=sys.stderr)
        return False
    start = mine[0].time
    path = out / f"{story}.jsonl"
    write_trace(path, [e.model_copy(update={"time": round(e.time - start, 6)}) for e in mine])
    print(f"{story}: {len(mine)} events -> {path}")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "recorded",
                        help="directory for <story>.jsonl (default docs/recorded)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="reference-run-") as scratch:
        try:
            events, phases = run(Path(scratch))
        except RecordingError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    args.out.mkdir(parents=True, exist_ok=True)
    for story in STORY_PHASES:
        selected = story_events(story, events, phases)
        if not selected:
            print(f"error: the run recorded no event for story {story!r}", file=sys.stderr)
            return 1
        write_trace(args.out / f"{story}.jsonl", selected)
        print(f"{story}: {len(selected)} events -> {args.out / f'{story}.jsonl'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
