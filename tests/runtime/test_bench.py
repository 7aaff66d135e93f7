"""`runtime.bench` runs the parts it is asked for and ends with one table of every figure (issues 12, 16).

No timing is asserted (benchmarks print figures); what is checked is that each part runs its
processes end to end, counts every task it submitted, and puts its figures and ratios in the
table, so a user can run just the PostgreSQL part.
"""

from __future__ import annotations

import pytest

from runtime import bench, bench_pgqueuer
from runtime.bench_postgres_server import NO_POSTGRES, postgres_bin_dir

SMALL = ["--tasks", "24", "--workers", "2", "--tasks-per-poll", "4", "--batch", "4",
         "--scale-min", "10", "--scale-max", "60", "--scale-sample", "8"]


def _rows(out: str) -> dict[str, list[str]]:
    """The summary table's rows by figure: [part, result, note]."""
    rows = {}
    for line in out.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 4 and cells[0] != "part":
            rows[cells[1]] = [cells[0], cells[2], cells[3]]
    return rows


def test_the_postgresql_part_alone_measures_one_and_two_replicas_pgqueuer_and_cost_growth(
    capsys: pytest.CaptureFixture[str],
) -> None:
    if postgres_bin_dir() is None:
        pytest.skip(NO_POSTGRES)
    assert bench.main(["--part", "postgresql", *SMALL]) == 0
    rows = _rows(capsys.readouterr().out)
    assert {row[0] for row in rows.values()} == {"PostgreSQL"}, "only the part asked for ran"
    for replicas in ("1 replica", "2 replicas"):
        assert rows[f"2 x python -m runtime worker, {replicas}"][2].startswith("24 tasks in ")
    assert rows["2 replicas / 1 replica"][1].endswith("x")
    if bench_pgqueuer.available() is None:
        assert rows["pgqueuer, 2 consumers, batch 4"][2].startswith("24 tasks in ")
        assert rows["product workers, 1 replica / pgqueuer"][1].endswith("x")
    else:
        assert rows["pgqueuer"][1] == "skipped"
    for queued in ("10", "60"):
        assert rows[f"cost per task, {queued} queued"][1].endswith(" ms")
    assert rows["cost growth, 60 vs 10 queued"][1].endswith("x")


def test_the_submission_part_puts_bulk_and_single_submission_in_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--part", "submit", "--submit-tasks", "40", "--submit-single", "4"]) == 0
    rows = _rows(capsys.readouterr().out)
    assert rows["bulk submission, batches of 1000"][2].startswith("1,000 tasks, ")
    assert rows["submission, one request per task"][1].endswith(" tasks/s")
