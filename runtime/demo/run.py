"""``python -m runtime demo``: the whole platform in one command (issue 4 §4).

It starts an orchestrator on a temporary SQLite database and two workers (real processes on
127.0.0.1 with a generated token), creates the tiny demo repository, submits the reference
AI-coding workflow (seed 4.3) over HTTP, follows it over the WebSocket with live progress bars,
then prints where the branch, its commit and the pull request are, stops every process with
SIGTERM, and writes the run's merged trace and its Mermaid sequence diagram. Every run saves the
orchestrator's final ``/metrics`` scrape and ``/api/v1/alerts`` answer (`runtime.demo.observations`).

With ``--ai-failure error|rate-limited`` the AI provider fails instead, and the demo submits
workflows until the orchestrator raises the alert that failure should raise
(`runtime.demo.ai_failure`), which it prints.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import websockets
from rich.console import Console
from rich.markup import escape

from runtime.demo.ai_failure import DemoAIFailure, FailureRun, drive_until_alert, slots_per_worker
from runtime.demo.errors import DemoError, DemoProcessError
from runtime.demo.observations import ALERTS_FILE, METRICS_FILE, Observations, save_observations
from runtime.demo.platform import write_platform_file
from runtime.demo.processes import READY_MARKER, ChildProcess, child_env, wait_for_workers, wait_until_ready
from runtime.demo.progress import WorkflowProgress
from runtime.demo.traces import TraceOutputs, merge_traces, write_trace_outputs
from runtime.errors import RuntimeServiceError
from runtime.protocol import EventType
from runtime.workflow import (
    DELIVERED_ISSUE,
    FAILING_BUILD_ISSUE,
    FAILING_TESTS_ISSUE,
    TASK_TYPE,
    DemoRepository,
    WorkflowError,
    create_demo_repository,
)
from spec.machines.alerting import AlertRuleState

DEFAULT_OUT = Path("demo-output")
WORKERS = 2
DEFAULT_TIMEOUT_S = 300.0
#: What the demo writes into the output directory; a rerun replaces exactly these.
PLATFORM_FILE = "demo-platform.json"
OUTPUT_NAMES = ("platform", "logs", "trace.jsonl", "trace.mmd", PLATFORM_FILE, METRICS_FILE, ALERTS_FILE)
_WATCH_INTERVAL_S = 0.5


@dataclass
class DemoRun:
    """What one run did; filled in as it goes, so an error still tells what was there."""

    out_dir: Path
    demo: DemoRepository | None = None
    workflow_id: str | None = None
    workflow: dict[str, Any] | None = None
    commit: str | None = None
    outputs: TraceOutputs | None = None
    wall_s: float = 0.0
    ai_failure: DemoAIFailure | None = None
    failure: FailureRun | None = None
    observations: Observations | None = None

    @property
    def task(self) -> dict[str, Any]:
        tasks = (self.workflow or {}).get("tasks") or [{}]
        first: dict[str, Any] = tasks[0]
        return first

    @property
    def delivered(self) -> bool:
        return (self.workflow or {}).get("status") == "completed" and self.commit is not None


def prepare_out_dir(out_dir: Path) -> None:
    """Make `out_dir` ready; the outputs of an earlier demo there are replaced, anything else is refused."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if (out_dir / PLATFORM_FILE).exists():
        for name in OUTPUT_NAMES:
            target = out_dir / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    elif (out_dir / "platform").exists():
        raise DemoError(f"{out_dir / 'platform'} exists but was not made by the demo; pass another --out DIR")
    (out_dir / "logs").mkdir()


async def follow_workflow(url: str, token: str, workflow_id: str, view: WorkflowProgress) -> None:
    """Subscribe over ``/ws`` and feed every event to `view` until the workflow completes or fails."""
    ws_url = "ws" + url.removeprefix("http") + "/ws"
    try:
        async with websockets.connect(ws_url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
            await ws.send(json.dumps({"type": "subscribe", "workflowId": workflow_id}))
            while not view.finished:
                message = json.loads(await ws.recv())
                if message.get("type") == "subscribed":
                    continue
                if message.get("type") == "error":
                    raise DemoError(f"the orchestrator refused the subscription: {message.get('error')}")
                if message.get("type") == EventType.SHUTDOWN:
                    raise DemoError("the orchestrator is shutting down before the workflow ended")
                view.apply(message)
    except websockets.ConnectionClosed as exc:
        raise DemoError(f"the WebSocket {ws_url} closed before the workflow ended ({exc})") from None
    except OSError as exc:
        raise DemoError(f"cannot connect to the WebSocket {ws_url}: {exc}") from None


async def watch_processes(children: list[ChildProcess]) -> None:
    """Raise as soon as one of the demo's processes exits on its own."""
    while True:
        for child in children:
            if not child.running:
                raise child.exited_error("the workflow was running")
        await asyncio.sleep(_WATCH_INTERVAL_S)


async def _until_first(*coroutines: Any, timeout_s: float, what: str) -> None:
    """Run `coroutines` until the first one ends (its error propagates); the others are cancelled."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        done, _ = await asyncio.wait(tasks, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        if not done:
            raise DemoError(f"{what} did not finish within {timeout_s:g} s (pass --timeout to wait longer)")
        for task in done:
            task.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def stop_children(children: list[ChildProcess], console: Console) -> None:
    """Workers first (they deregister and clean their workspaces), then the orchestrator; SIGTERM once each."""
    for group in ([c for c in children if c.name != "orchestrator"], [c for c in children if c.name == "orchestrator"]):
        codes = await asyncio.gather(*(c.stop() for c in group))
        for child, code in zip(group, codes, strict=True):
            note = "" if code == 0 else f" [yellow](exit code {code}; see {child.stderr_path})[/]"
            console.print(f"stopped {child.name}{note}", highlight=False)


async def _follow_one_workflow(run: DemoRun, http: httpx.AsyncClient, url: str, token: str, issue_id: str,
                               timeout_s: float, console: Console, children: list[ChildProcess]) -> None:
    """Submit the workflow and follow it over the WebSocket to its end."""
    request = {"type": TASK_TYPE, "payload": {"issueId": issue_id}}
    response = await http.post("/api/v1/workflows", json=request)
    if response.status_code != 201:
        raise DemoError(f"submitting the workflow failed: HTTP {response.status_code} {response.text}")
    run.workflow_id = str(response.json()["workflowId"])
    console.print(f"workflow      {run.workflow_id} ({TASK_TYPE}, issue #{issue_id}) submitted",
                  highlight=False, soft_wrap=True)
    with WorkflowProgress(console) as view:
        await _until_first(follow_workflow(url, token, run.workflow_id, view), watch_processes(children),
                           timeout_s=timeout_s, what=f"workflow {run.workflow_id}")
    console.print(f"streamed      {view.counts.chunks} code chunks ({view.counts.chunk_chars} chars), "
                  f"{view.counts.events} WebSocket events", highlight=False)
    run.workflow = (await http.get(f"/api/v1/workflows/{run.workflow_id}")).json()


async def _drive_failure(run: DemoRun, http: httpx.AsyncClient, issue_id: str, timeout_s: float, console: Console,
                         children: list[ChildProcess]) -> None:
    assert run.ai_failure is not None

    async def drive() -> None:
        assert run.ai_failure is not None
        run.failure = await drive_until_alert(http, run.ai_failure, issue_id, WORKERS, timeout_s, console)

    await _until_first(drive(), watch_processes(children), timeout_s=timeout_s + 5.0,
                       what=f"the {run.ai_failure.value} AI provider demo")


async def run_platform(run: DemoRun, issue_id: str, timeout_s: float, console: Console,
                       children: list[ChildProcess]) -> None:
    """Start the processes, run the workflow to its end, stop the processes (whatever happened)."""
    assert run.demo is not None
    out, logs = run.out_dir, run.out_dir / "logs"
    platform_file = write_platform_file(run.demo, out / PLATFORM_FILE)
    token = secrets.token_urlsafe(24)
    env = child_env(token)
    with tempfile.TemporaryDirectory(prefix="runtime-demo-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            orchestrator = ChildProcess("orchestrator", [
                "orchestrator", "--db", str(tmp / "orchestrator.db"), "--host", "127.0.0.1", "--port", "0",
                "--trace", str(logs / "orchestrator.jsonl"), "--log-level", "WARNING"], logs, env)
            children.append(orchestrator)
            url = await orchestrator.wait_for_output(READY_MARKER)
            console.print(f"orchestrator  {url}  (SQLite {tmp / 'orchestrator.db'}, pid {orchestrator.process.pid})",
                          highlight=False, soft_wrap=True)
            headers = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30, trust_env=False) as http:
                await wait_until_ready(http, orchestrator)
                ids = [f"demo-worker-{n}" for n in range(1, WORKERS + 1)]
                failing = [] if run.ai_failure is None else [
                    "--demo-ai-failure", run.ai_failure.value, "--tasks-per-poll", str(slots_per_worker())]
                for worker_id in ids:
                    children.append(ChildProcess(worker_id, [
                        "worker", "--orchestrator", url, "--worker-id", worker_id, "--demo-platform",
                        str(platform_file), "--workspace-root", str(tmp / worker_id), "--trace",
                        str(logs / f"{worker_id}.jsonl"), "--log-level", "WARNING", *failing], logs, env))
                await wait_for_workers(http, children[1:], ids)
                console.print(f"workers       {', '.join(ids)} registered", highlight=False)
                try:
                    if run.ai_failure is None:
                        await _follow_one_workflow(run, http, url, token, issue_id, timeout_s, console, children)
                    else:
                        await _drive_failure(run, http, issue_id, timeout_s, console, children)
                finally:  # while the workers are still in rotation: their breakers still count
                    if orchestrator.running:
                        run.observations = await save_observations(http, run.out_dir)
        finally:
            await stop_children(children, console)
    branch = (run.task.get("result") or {}).get("branch")
    run.commit = run.demo.branch_commit(branch) if isinstance(branch, str) else None


def print_summary(run: DemoRun, console: Console) -> None:
    task = run.task
    result = task.get("result") or {}
    if run.delivered and run.demo is not None:
        pull = result.get("pullRequest") or {}
        console.print(f"[green]branch[/]        {result['branch']} at commit {run.commit}", highlight=False)
        console.print(f"  repository  {run.demo.remote}", highlight=False, soft_wrap=True)
        console.print(f"  inspect     git --git-dir {run.demo.remote} log --stat -1 {result['branch']}",
                      highlight=False, soft_wrap=True)
        console.print("[green]pull request[/]  " + escape(f"#{pull.get('number')} {pull.get('title')!r} "
                                                           f"({pull.get('branch')} -> {pull.get('base')})"),
                      highlight=False)
        console.print(f"  record      {pull.get('location')}", highlight=False, soft_wrap=True)
    elif task.get("error"):
        error = task["error"]
        console.print(f"[red]workflow failed[/]: {escape(str(error.get('code')))}: {escape(str(error.get('message')))}",
                      highlight=False, soft_wrap=True)
    if run.observations is not None:
        seen = run.observations
        for alert in seen.alerts:
            if alert.state == AlertRuleState.FIRING:
                console.print(f"[red]firing[/]        {escape(alert.describe())}", highlight=False, soft_wrap=True)
        console.print(f"metrics       {seen.metrics} (final /metrics scrape)", highlight=False, soft_wrap=True)
        console.print(f"alerts        {seen.alerts_file} ({len(seen.alerts)} alert series)", highlight=False,
                      soft_wrap=True)
    if run.outputs is not None:
        o = run.outputs
        verdict = "[green]" if o.report.ok else "[red]"
        console.print(f"trace         {o.trace} ({o.events} events)", highlight=False, soft_wrap=True)
        console.print(f"diagram       {o.diagram} (Mermaid sequenceDiagram)", highlight=False, soft_wrap=True)
        console.print(f"conformance   {verdict}{o.report.format()}[/]", highlight=False, soft_wrap=True)
    console.print(f"logs          {run.out_dir / 'logs'}", highlight=False, soft_wrap=True)
    console.print(f"wall time     {run.wall_s:.1f} s", highlight=False)


async def run_demo(out_dir: Path, *, issue_id: str = DELIVERED_ISSUE, timeout_s: float = DEFAULT_TIMEOUT_S,
                   console: Console | None = None, children: list[ChildProcess] | None = None,
                   ai_failure: DemoAIFailure | None = None) -> DemoRun:
    """Run the demo into `out_dir`; `children` collects the processes started (for a last-resort kill)."""
    console = console or Console()
    children = children if children is not None else []
    started = time.monotonic()
    run = DemoRun(out_dir.resolve(), ai_failure=ai_failure)
    try:
        prepare_out_dir(run.out_dir)
    except OSError as exc:
        raise DemoError(f"--out {out_dir}: cannot prepare it ({exc.strerror or exc})") from None
    try:
        run.demo = create_demo_repository(run.out_dir / "platform")
    except WorkflowError as exc:
        raise DemoError(str(exc)) from None
    console.print(f"demo platform {run.demo.root} (bare repository, {run.demo.issues_dir.name}/, "
                  f"{run.demo.pulls_dir.name}/)", highlight=False, soft_wrap=True)
    await run_platform(run, issue_id, timeout_s, console, children)
    sources = {c.name: run.out_dir / "logs" / f"{c.name}.jsonl" for c in children}
    run.outputs = write_trace_outputs(merge_traces(sources), run.out_dir)
    run.wall_s = time.monotonic() - started
    print_summary(run, console)
    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m runtime demo",
        description="Run an orchestrator, two workers and the AI-coding workflow on a demo repository, "
                    "with live progress; write the run's trace and sequence diagram.",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                        help=f"output directory (default ./{DEFAULT_OUT}); an earlier demo's outputs in it are "
                             "replaced")
    parser.add_argument("--issue", default=DELIVERED_ISSUE, metavar="ID",
                        help=f"demo issue to work on (default {DELIVERED_ISSUE}; {FAILING_TESTS_ISSUE} fails its "
                             f"tests, {FAILING_BUILD_ISSUE} its build)")
    parser.add_argument("--ai-failure", type=DemoAIFailure, choices=list(DemoAIFailure), metavar="MODE",
                        help="make the AI provider fail every analysis, 'error' or 'rate-limited', and submit "
                             "workflows until the orchestrator raises the alert for it")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                        help=f"give up on the workflow after this long (default {DEFAULT_TIMEOUT_S:g})")
    return parser


def main(argv: list[str]) -> int:
    """Exit 0 when the workflow delivered its pull request and the trace conforms, 1 otherwise, 130 on Ctrl-C."""
    args = build_parser().parse_args(argv)
    console = Console(highlight=False)
    errors = Console(stderr=True, highlight=False)
    children: list[ChildProcess] = []

    async def guarded() -> DemoRun:
        loop = asyncio.get_running_loop()
        current = asyncio.current_task()
        if current is not None:  # SIGTERM stops the demo the way Ctrl-C does
            loop.add_signal_handler(signal.SIGTERM, current.cancel)
        return await run_demo(args.out, issue_id=args.issue, timeout_s=args.timeout, console=console,
                              children=children, ai_failure=args.ai_failure)

    try:
        run = asyncio.run(guarded())
    except (KeyboardInterrupt, asyncio.CancelledError):
        for child in children:  # already stopped gracefully unless a second signal cut that short
            with contextlib.suppress(OSError):
                child.kill()
        console.print("[yellow]demo interrupted; every process it started is stopped[/]")
        return 130
    except (DemoProcessError, DemoError, RuntimeServiceError) as exc:
        errors.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        return 1
    if run.ai_failure is not None:
        if run.failure is None or run.failure.raised is None:
            errors.print("[red]error:[/] the orchestrator raised no alert for the failing AI provider")
            return 1
    elif not run.delivered:
        errors.print("[red]error:[/] the workflow did not deliver a pull request (see above and the logs)")
        return 1
    if run.outputs is None or not run.outputs.report.ok:
        errors.print("[red]error:[/] the run's trace does not conform to the spec machines (see above)")
        return 1
    return 0
