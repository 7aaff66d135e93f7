from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.worker.errors import WorkerConfigError
from runtime.worker.workspace import META_FILE, STAGING_PREFIX, WorkspaceRoot, workspace_name


def test_create_gives_a_private_empty_directory_and_remove_deletes_it(tmp_path: Path) -> None:
    root = WorkspaceRoot(tmp_path)
    ws = root.create("task-1", workerId="w1", fencingToken=3)
    assert ws.path.is_dir() and ws.path.parent.parent == tmp_path
    assert stat.S_IMODE(ws.path.stat().st_mode) == 0o700
    assert [p.name for p in ws.path.iterdir()] == ["tmp"]
    meta = json.loads((ws.base / META_FILE).read_text())
    assert meta["taskId"] == "task-1" and meta["workerId"] == "w1" and meta["fencingToken"] == 3
    (ws.path / "out.txt").write_text("x")
    ws.remove()
    assert not ws.base.exists()


def test_two_tasks_get_separate_workspaces(tmp_path: Path) -> None:
    root = WorkspaceRoot(tmp_path)
    a, b = root.create("a"), root.create("b")
    assert a.path != b.path
    (a.path / "f").write_text("a")
    assert not (b.path / "f").exists()


def test_creating_again_replaces_a_stale_workspace_of_the_same_task(tmp_path: Path) -> None:
    root = WorkspaceRoot(tmp_path)
    first = root.create("t")
    (first.path / "old").write_text("x")
    second = root.create("t")
    assert not (second.path / "old").exists()


@given(st.text(min_size=1, max_size=200))
def test_workspace_names_are_one_safe_path_component(task_id: str) -> None:
    name = workspace_name(task_id)
    assert "/" not in name and "\x00" not in name and name not in (".", "..") and not name.startswith(".")
    assert len(name) <= 80


@given(st.text(min_size=1, max_size=50), st.text(min_size=1, max_size=50))
def test_distinct_task_ids_get_distinct_names(a: str, b: str) -> None:
    if a != b:
        assert workspace_name(a) != workspace_name(b)


def test_a_root_that_cannot_be_created_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(WorkerConfigError, match="workspace root"):
        WorkspaceRoot(blocker / "sub")


def _workspace_made_by_a_process_that_exits(root: Path) -> None:
    code = (
        "import sys; from runtime.worker.workspace import WorkspaceRoot; "
        "WorkspaceRoot(sys.argv[1]).create('crashed-task', workerId='old-worker', fencingToken=7)"
    )
    subprocess.run([sys.executable, "-c", code, str(root)], check=True, cwd=Path(__file__).parents[3])


def test_workspaces_of_a_dead_process_are_leftovers_and_get_removed(tmp_path: Path) -> None:
    _workspace_made_by_a_process_that_exits(tmp_path)
    root = WorkspaceRoot(tmp_path)
    mine = root.create("live-task")
    leftovers = root.find_leftovers()
    assert [lo.task_id for lo in leftovers] == ["crashed-task"]
    assert leftovers[0].meta["fencingToken"] == 7 and leftovers[0].meta["workerId"] == "old-worker"
    removed = root.remove_leftovers()
    assert [lo.task_id for lo in removed] == ["crashed-task"]
    assert not leftovers[0].base.exists()
    assert mine.path.exists(), "a live process's workspace must survive recovery"


def test_workspaces_of_another_live_worker_are_not_leftovers(tmp_path: Path) -> None:
    code = (
        "import sys, time; from runtime.worker.workspace import WorkspaceRoot; "
        "WorkspaceRoot(sys.argv[1]).create('busy'); print('ready', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).parents[3])
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        root = WorkspaceRoot(tmp_path)
        assert root.find_leftovers() == []
        assert root.remove_own() == 0
    finally:
        proc.kill()
        proc.wait()
    assert [lo.task_id for lo in WorkspaceRoot(tmp_path).find_leftovers()] == ["busy"]


def test_unreadable_meta_and_dead_staging_directories_are_leftovers(tmp_path: Path) -> None:
    (tmp_path / "torn").mkdir()
    (tmp_path / "torn" / META_FILE).write_text("{not json")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / f"{STAGING_PREFIX}{dead.stdout.strip()}-x").mkdir()
    root = WorkspaceRoot(tmp_path)
    assert len(root.remove_leftovers()) == 2
    assert list(tmp_path.iterdir()) == []


def test_remove_own_removes_only_this_process_workspaces(tmp_path: Path) -> None:
    _workspace_made_by_a_process_that_exits(tmp_path)
    root = WorkspaceRoot(tmp_path)
    root.create("a")
    root.create("b")
    assert root.remove_own() == 2
    assert [lo.task_id for lo in root.find_leftovers()] == ["crashed-task"]


def test_a_saved_state_outlives_the_process_and_comes_back_with_the_leftover(tmp_path: Path) -> None:
    code = ("import sys; from runtime.worker.workspace import WorkspaceRoot; "
            "w = WorkspaceRoot(sys.argv[1]).create('crashed-task', workerId='old', fencingToken=3); "
            "w.save_state({'stepsDone': 1}); w.save_state({'stepsDone': 2})")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, cwd=Path(__file__).parents[3])
    [leftover] = WorkspaceRoot(tmp_path).remove_leftovers()
    assert leftover.saved_state == {"stepsDone": 2}  # read before the directory went
    assert not leftover.base.exists()


def test_an_unreadable_saved_state_is_no_state(tmp_path: Path) -> None:
    code = ("import sys; from runtime.worker.workspace import WorkspaceRoot, STATE_FILE; "
            "w = WorkspaceRoot(sys.argv[1]).create('t'); (w.base / STATE_FILE).write_text('{half')")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, cwd=Path(__file__).parents[3])
    assert [lo.saved_state for lo in WorkspaceRoot(tmp_path).find_leftovers()] == [{}]


def test_a_staging_directory_with_a_non_ascii_digit_pid_is_a_leftover_not_a_crash(tmp_path: Path) -> None:
    """``"¹".isdigit()`` is true and ``int("¹")`` raises: a stray directory must not stop recovery."""
    (tmp_path / f"{STAGING_PREFIX}¹-task").mkdir()
    assert [lo.meta for lo in WorkspaceRoot(tmp_path).find_leftovers()] == [{}]
