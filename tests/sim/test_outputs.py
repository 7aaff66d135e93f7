from __future__ import annotations

from pathlib import Path

from sim import RunResult, run_checks
from sim.catalogue import resolve
from sim.outcome import Outcome
from sim.plots import breaker_series, fault_spans, latency_points, liveness_series, plot_run, queue_depth_series
from sim.report import write_json, write_mermaid


def test_timeline_series_follow_the_trace(runs: dict[str, RunResult]) -> None:
    run = runs["ai_provider_5xx"]
    levels = breaker_series(run)["breaker:ai_provider"][1]
    assert 2 in levels and levels[-1] == 0  # opened, then closed again by the trial
    times, depth = queue_depth_series(runs["baseline"])
    assert depth[-1] == 0 and min(depth) == 0 and times == sorted(times)
    assert max(liveness_series(runs["worker_crash"])[1]) == 3
    assert min(latency_points(runs["baseline"])[1]) > 0


def test_plot_is_written_as_png(runs: dict[str, RunResult], tmp_path: Path) -> None:
    path = plot_run(runs["worker_crash"], tmp_path / "plots" / "worker_crash.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fault_spans_are_bands_for_windows_and_instants_for_crashes() -> None:
    spans = {name: (start, end) for name, start, end in fault_spans(resolve("bad_day"))}
    scenario = resolve("bad_day")
    outage = next(f for f in scenario.faults if f.kind == "database_outage")
    crash = next(f for f in scenario.faults if f.kind == "worker_crash")
    assert spans["database outage"] == (outage.at, outage.at + outage.duration)
    assert spans["worker crash"] == (crash.at, None)
    assert fault_spans(resolve("baseline")) == []


def test_json_results(runs: dict[str, RunResult], tmp_path: Path) -> None:
    run = runs["baseline"]
    outcome = Outcome(run, run_checks(run), run.digest)
    write_json(tmp_path / "r.json", [outcome])
    text = (tmp_path / "r.json").read_text()
    assert '"trace_sha256": "' + run.digest in text and '"sim_to_wall"' in text
    written = write_mermaid(tmp_path / "mm", [outcome])
    assert written[0].read_text().startswith("sequenceDiagram")
