from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sim.catalogue import catalogue_files

ROOT = Path(__file__).resolve().parents[2]


def _sim(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "160"}
    return subprocess.run([sys.executable, "-m", "sim", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)


def test_list_prints_one_scenario_per_line_name_first() -> None:
    out = _sim("list")
    assert out.returncode == 0
    names = [line.split("\t")[0] for line in out.stdout.splitlines()]
    assert names == [p.stem for p in catalogue_files()]


def test_run_writes_json_and_mermaid(tmp_path: Path) -> None:
    out = _sim("run", "baseline", "worker_crash", "--json", str(tmp_path / "r.json"), "--mermaid",
               str(tmp_path / "mm"), "--traces", str(tmp_path / "traces"))
    assert out.returncode == 0, out.stdout + out.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["passed"] is True
    assert [r["scenario"] for r in data["runs"]] == ["baseline", "worker_crash"]
    assert all(r["deterministic"] for r in data["runs"])
    assert (tmp_path / "mm" / "worker_crash.mmd").read_text().startswith("sequenceDiagram")
    assert (tmp_path / "traces" / "baseline.jsonl").stat().st_size > 0
    assert "trace sha256" in out.stdout


def test_a_violation_exits_non_zero_and_failing_runs_come_first(tmp_path: Path) -> None:
    failing = tmp_path / "claims_breaker.yaml"
    failing.write_text("name: claims_breaker\ndescription: says it exercises the breaker but injects nothing\n"
                       "duration_s: 60\nworkload: {tasks: 2}\nexpect: {exercises: [breaker]}\n")
    out = _sim("run", "baseline", str(failing), "--no-determinism", "--mermaid", str(tmp_path / "mm"))
    assert out.returncode == 1
    assert "claims_breaker" in out.stdout and "did not meet their scenario's expectations" in out.stdout
    assert "violated the spec" not in out.stdout  # nothing broke a rule: the scenario produced no breaker
    index = (tmp_path / "mm" / "index.md").read_text()
    assert index.index("claims_breaker (FAIL") < index.index("baseline (PASS")


def test_bad_input_exits_2_before_running(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ndescription: d\nduration_s: 10\nfaults:\n  - {kind: worker_crash, at: -1}\n")
    out = _sim("run", str(bad))
    assert out.returncode == 2
    assert f"{bad}: field 'faults[0].at'" in out.stderr
    unknown = _sim("run", "no_such_scenario")
    assert unknown.returncode == 2 and "the catalogue holds" in unknown.stderr


def test_recommend_prints_the_recommendations_and_writes_the_plots(tmp_path: Path) -> None:
    out = _sim("recommend", "--plots", str(tmp_path))
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("**Recommendation:") == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["breaker.png", "heartbeat.png", "retry.png", "workers.png"]
