"""`runtime.bench_workers` measures real ``python -m runtime worker`` processes (issue 12).

No timing is asserted (benchmarks print figures); what is checked is that the benchmark runs the
product's processes end to end and counts every task it submitted, so a figure it prints is a
figure about work that happened.
"""

from __future__ import annotations

import pytest

from runtime import bench_workers


def test_the_benchmark_completes_every_task_it_submits_through_real_worker_processes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert bench_workers.main(["--tasks", "24", "--workers", "2", "--tasks-per-poll", "4"]) == 0
    out = capsys.readouterr().out
    assert "2 x python -m runtime worker --tasks-per-poll 4: 24 no-op tasks in " in out


def test_replicas_are_refused_on_sqlite_which_has_one_orchestrator(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        bench_workers.main(["--replicas", "2"])
    assert exited.value.code == 2
    assert "above 1 only with --store postgresql" in capsys.readouterr().err
