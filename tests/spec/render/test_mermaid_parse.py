"""Every generated diagram, and diagrams full of hostile labels, pass Mermaid's own parser.

Runs only where Node and the npm packages ``mermaid`` and ``jsdom`` are installed: in a
``node_modules`` named by ``MERMAID_NODE_MODULES``, or in ``.cache/mermaid/node_modules`` or
``node_modules`` at the repository root (``npm install --prefix .cache/mermaid mermaid@11 jsdom``).
Elsewhere it is skipped with that instruction; the structural checks in the other tests still run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from spec.catalog import DIAGRAMS, render_diagram
from spec.machine import SAME, MachineSpec, StateRole, StateSpec, transition
from spec.machines import MACHINES
from spec.messages import call, push, reply, step
from spec.participants import ADMIN, CLIENT, ORCHESTRATOR, WORKER
from spec.render import render_error_flowchart, render_sequence, render_state, render_trace
from spec.story import Note, Step, Story, alt, branch, loop
from spec.taxonomy import ErrorCategory, ErrorClass, RetryStrategy
from spec.trace import TraceEvent

REPO = Path(__file__).resolve().parents[3]
SCRIPT = Path(__file__).with_name("mermaid_parse.mjs")

HOSTILE = (
    'a;b #c {d} <e> f:g "h" |i| `j` %%{init: {}}%% end else style:#1; classDef x fill:#f00; '
    "->> -->> --> [*] ;; ## #59; &amp; <br/> \u2028 tab\there"
)


def _node_modules() -> Path | None:
    candidates = [os.environ.get("MERMAID_NODE_MODULES"), REPO / ".cache/mermaid/node_modules", REPO / "node_modules"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "mermaid").is_dir() and (Path(candidate) / "jsdom").is_dir():
            return Path(candidate)
    return None


def _hostile_diagrams() -> dict[str, str]:
    machine = MachineSpec(
        name="hostile", title="t", seed_section="t", description="d", initial="end",
        states=(StateSpec("end", HOSTILE), StateSpec("state-2", HOSTILE, StateRole.TERMINAL)),
        transitions=(transition("go", "end", SAME, HOSTILE, call(ADMIN, WORKER, HOSTILE), step(WORKER, HOSTILE),
                                push(WORKER, CLIENT, HOSTILE)),
                     transition("stop", "end", "state-2", "d", reply(WORKER, ADMIN, HOSTILE))),
    )
    story = Story("hostile", "t", "t", "d", ("hostile",), (
        Note(HOSTILE, (ADMIN, CLIENT)),
        loop(HOSTILE, Step("hostile", "go")),
        alt(branch(HOSTILE, Note(HOSTILE, (WORKER,), side="left"))),
        alt(branch(HOSTILE, Step("hostile", "stop")), branch(HOSTILE, Note(HOSTILE, (ORCHESTRATOR,), side="right"))),
    ))
    row = ErrorCategory(ErrorClass.NETWORK, HOSTILE, (HOSTILE,), True, RetryStrategy.EXPONENTIAL_BACKOFF, "backoff",
                        HOSTILE, HOSTILE, (HOSTILE, HOSTILE, HOSTILE))
    auth = ErrorCategory(ErrorClass.AUTHENTICATION, HOSTILE, (HOSTILE,), False, RetryStrategy.REAUTHENTICATE, None,
                         HOSTILE, HOSTILE, (HOSTILE, HOSTILE))
    task = MACHINES["task_lifecycle"].bind()
    records = [task.fire(t) for t in ("assign", "start")]
    events = [TraceEvent.from_record(r, time=float(i), component=HOSTILE) for i, r in enumerate(records)]
    silent = TraceEvent(time=9.0, component=HOSTILE, machine="m", trigger="t", source="a", dest="b")
    return {
        "hostile.state": render_state(machine),
        "hostile.sequence": render_sequence(story, {"hostile": machine}),
        "hostile.flowchart": render_error_flowchart((row, auth)),
        "hostile.trace": render_trace([*events, silent]),
    }


def test_mermaid_parses_every_diagram(tmp_path: Path) -> None:
    node = shutil.which("node")
    modules = _node_modules()
    if node is None or modules is None:
        pytest.skip("needs node and `npm install --prefix .cache/mermaid mermaid@11 jsdom` (or MERMAID_NODE_MODULES)")
    (tmp_path / "node_modules").symlink_to(modules, target_is_directory=True)
    shutil.copy(SCRIPT, tmp_path / SCRIPT.name)
    texts = {f"{name}.{kind}": render_diagram(name, kind) for name, d in DIAGRAMS.items() for kind in d.kinds}
    texts.update(_hostile_diagrams())
    files = []
    for name, text in texts.items():
        path = tmp_path / f"{name}.mmd"
        path.write_text(text, encoding="utf-8")
        files.append(str(path))
    result = subprocess.run([node, SCRIPT.name, *files], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            check=False)
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert result.returncode == 0 and not failures, "\n".join(failures) or result.stderr
    assert result.stdout.count("OK ") == len(files)
