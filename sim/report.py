"""Reports of evaluated runs: a rich table, JSON results and Mermaid sequence diagrams (issue 5, §5).

Diagrams come from the spec's own trace renderer (`spec.render.render_trace`), failing runs
first. A whole run's trace is far too long to read as a diagram, so a failing run shows every
event of the components its violations name, and a passing run its first events.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sim.outcome import Outcome
from sim.recorder import Entry
from spec.render import render_trace

DIAGRAM_EVENTS = 150


def results_table(outcomes: Sequence[Outcome]) -> Table:
    table = Table(title="Simulation results", show_lines=False)
    table.add_column("scenario", no_wrap=True)
    for column in ("seed", "result", "pass/fail/n-a", "tasks/s", "p95 latency s", "failed (reasons)", "events",
                   "sim s", "wall s", "sim/wall", "trace sha256"):
        table.add_column(column, justify="left" if column in ("result", "failed (reasons)", "trace sha256")
                         else "right")
    for o in outcomes:
        counts = {s: sum(1 for c in o.checks if c.status == s) for s in ("pass", "fail", "n/a")}
        result = ("[green]PASS[/]" if o.passed else "[red]FAIL[/]" if o.violated_spec
                  else "[yellow]EXPECTATION NOT MET[/]")
        figures = o.figures
        reasons = ", ".join(f"{reason} {n}" for reason, n in figures.failure_reasons.items())
        latency = "-" if figures.latency_p95_s is None else f"{figures.latency_p95_s:.2f}"
        det = {True: "", False: " [red](nondeterministic)[/]", None: ""}[o.deterministic]
        table.add_row(o.name, str(o.run.seed), result + det,
                      f"{counts['pass']}/{counts['fail']}/{counts['n/a']}",
                      f"{figures.throughput_per_s:.2f}", latency,
                      f"{figures.failed}" + (f" ({reasons})" if reasons else ""),
                      str(len(o.run.entries)), f"{o.run.sim_time_s:.0f}", f"{o.run.wall_s:.2f}",
                      f"{o.run.sim_to_wall:,.0f}", o.run.digest[:12])
    return table


def checks_table(outcome: Outcome) -> Table:
    table = Table(title=f"{outcome.name} (seed {outcome.run.seed})")
    for column in ("check", "status", "measured", "expected"):
        table.add_column(column)
    colour = {"pass": "green", "fail": "red", "n/a": "dim"}
    for c in outcome.checks:
        table.add_row(c.name, f"[{colour[c.status]}]{c.status}[/]", c.measured, c.expected)
    return table


def print_report(console: Console, outcomes: Sequence[Outcome], *, verbose: bool = False) -> None:
    for o in outcomes:
        if verbose or not o.passed:
            console.print(checks_table(o))
            for c in o.checks:
                for v in c.violations:
                    console.print(f"  [red]{c.name}[/]: {v}", highlight=False)
        if o.deterministic is False:
            console.print(f"  [red]determinism[/]: {o.name} seed {o.run.seed} gave {o.run.digest[:16]} then "
                          f"{(o.replay_digest or '')[:16]}")
    console.print(results_table(outcomes))


def write_json(path: Path, outcomes: Sequence[Outcome]) -> None:
    data = {"passed": all(o.passed for o in outcomes), "runs": [o.to_json() for o in outcomes]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _diagram_entries(outcome: Outcome) -> list[Entry]:
    entries = outcome.run.entries
    if outcome.passed:
        return entries[:DIAGRAM_EVENTS]
    named = {v.split(": ", 1)[0] for c in outcome.checks for v in c.violations}
    picked = [e for e in entries if e.component in named]
    return (picked or entries)[:DIAGRAM_EVENTS * 2]


def write_mermaid(directory: Path, outcomes: Sequence[Outcome]) -> list[Path]:
    """One ``.mmd`` per run plus ``index.md`` embedding them, failing runs first."""
    directory.mkdir(parents=True, exist_ok=True)
    ordered = sorted(outcomes, key=lambda o: (o.passed, o.name))
    written: list[Path] = []
    index = ["# Simulation traces", "", "Failing runs first. Each diagram is drawn by `spec.render.render_trace`.", ""]
    seen: set[str] = set()
    for o in ordered:
        diagram = render_trace(o.run.recorder.events(_diagram_entries(o)))
        # The same scenario under several seeds (``--every-seed``): one file per run.
        stem = o.name if o.name not in seen else f"{o.name}-seed-{o.run.seed}"
        seen.add(o.name)
        path = directory / f"{stem}.mmd"
        path.write_text(diagram, encoding="utf-8")
        written.append(path)
        status = "PASS" if o.passed else "FAIL"
        index += [f"## {o.name} ({status}, seed {o.run.seed})", "", "```mermaid", diagram.rstrip(), "```", ""]
    (directory / "index.md").write_text("\n".join(index), encoding="utf-8")
    return written
