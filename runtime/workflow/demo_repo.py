"""A tiny git platform to run the reference workflow against: used by the tests and ``python -m runtime demo``.

:func:`create_demo_repository` lays out, under one directory, a bare repository holding a small
Python module with a unit test, three issues the scripted AI provider can act on, and the
directory pull requests are recorded in (see `runtime.workflow.local_git` for the layout):

* issue 1 asks for ``multiply`` with a test: the workflow delivers a pull request;
* issue 2 asks for ``subtract`` with a wrong implementation: the tests fail (TEST_FAILED);
* issue 3 asks for ``divide`` with a syntax error: the build fails (BUILD_FAILED).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from runtime.workflow.errors import WorkflowConfigError
from runtime.workflow.local_git import GitAuthor, LocalGitPlatform, isolated_git_env
from runtime.workflow.quality_gates import CommandQualityGates

DELIVERED_ISSUE = "1"
FAILING_TESTS_ISSUE = "2"
FAILING_BUILD_ISSUE = "3"

_FENCE = "```"

SOURCES: dict[str, str] = {
    ".gitignore": "__pycache__/\n*.pyc\n",
    "README.md": "# calc\n\nA tiny calculator the AI-coding workflow demo changes.\n",
    "calc.py": '"""A tiny calculator."""\n\n\ndef add(a: int, b: int) -> int:\n    return a + b\n',
    "tests/__init__.py": "",
    "tests/test_calc.py": (
        "import unittest\n\nimport calc\n\n\nclass AddTest(unittest.TestCase):\n"
        "    def test_add(self) -> None:\n        self.assertEqual(calc.add(2, 3), 5)\n"
    ),
}


def _issue(title: str, labels: str, prose: str, function: str, test: str) -> str:
    return (
        f"# {title}\nLabels: {labels}\n\n{prose}\n\n"
        f"{_FENCE}change path=calc.py\n{function}{_FENCE}\n\n"
        f"{_FENCE}change path=tests/test_calc.py\n{test}{_FENCE}\n"
    )


ISSUES: dict[str, str] = {
    DELIVERED_ISSUE: _issue(
        "Add a multiply function", "enhancement",
        "The calculator can add but not multiply. Add multiply(a, b) and a test for it.",
        "def multiply(a: int, b: int) -> int:\n    return a * b\n",
        "class MultiplyTest(unittest.TestCase):\n    def test_multiply(self) -> None:\n"
        "        self.assertEqual(calc.multiply(4, 5), 20)\n",
    ),
    FAILING_TESTS_ISSUE: _issue(
        "Add a subtract function", "enhancement",
        "Add subtract(a, b). (The requested code is wrong on purpose: its test fails.)",
        "def subtract(a: int, b: int) -> int:\n    return a + b\n",
        "class SubtractTest(unittest.TestCase):\n    def test_subtract(self) -> None:\n"
        "        self.assertEqual(calc.subtract(5, 3), 2)\n",
    ),
    FAILING_BUILD_ISSUE: _issue(
        "Add a divide function", "enhancement",
        "Add divide(a, b). (The requested code has a syntax error on purpose: the build fails.)",
        "def divide(a: int, b: int) -> float\n    return a / b\n",
        "class DivideTest(unittest.TestCase):\n    def test_divide(self) -> None:\n"
        "        self.assertEqual(calc.divide(6, 3), 2)\n",
    ),
}


@dataclass(frozen=True)
class DemoRepository:
    """Where the demo platform lives; :meth:`platform` and :meth:`quality_gates` give its providers."""

    root: Path
    remote: Path
    issues_dir: Path
    pulls_dir: Path
    base_branch: str

    def platform(self) -> LocalGitPlatform:
        return LocalGitPlatform(self.remote, issues_dir=self.issues_dir, pulls_dir=self.pulls_dir,
                                base_branch=self.base_branch)

    def quality_gates(self, python: str = sys.executable) -> CommandQualityGates:
        """Build = byte-compile every module; tests = unittest discovery, verbose (one line per test)."""
        return CommandQualityGates([python, "-m", "compileall", "calc.py", "tests"],
                                   [python, "-m", "unittest", "discover", "-v", "-s", "tests", "-t", "."])

    def branch_commit(self, branch: str) -> str | None:
        """The commit `branch` points to in the bare repository, or None if it was never pushed."""
        argv = ["git", "--git-dir", str(self.remote), "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"]
        done = subprocess.run(argv, capture_output=True, text=True, env=isolated_git_env(GitAuthor()))
        return done.stdout.strip() if done.returncode == 0 else None


def _git(cwd: Path, *args: str) -> None:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=isolated_git_env(GitAuthor()))
    if done.returncode != 0:
        raise WorkflowConfigError(f"demo repository: 'git {' '.join(args)}' failed in {cwd}: {done.stderr.strip()}")


def create_demo_repository(root: Path | str, *, base_branch: str = "main") -> DemoRepository:
    """Create the demo platform under `root` (which must not exist yet, or be empty)."""
    if shutil.which("git") is None:
        raise WorkflowConfigError("demo repository: the 'git' command is not installed or not on PATH")
    root = Path(root).resolve()
    if root.exists() and any(root.iterdir()):
        raise WorkflowConfigError(f"demo repository: {root} already exists and is not empty; choose a new directory")
    source = root / "source"
    for relative, text in SOURCES.items():
        path = source / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    _git(source, "init", "--quiet", "--initial-branch", base_branch)
    _git(source, "add", "--all")
    _git(source, "commit", "--quiet", "-m", "Initial calculator")
    remote = root / "remote.git"
    _git(root, "clone", "--quiet", "--bare", str(source), str(remote))
    shutil.rmtree(source)
    issues = root / "issues"
    issues.mkdir()
    for issue_id, text in ISSUES.items():
        (issues / f"{issue_id}.md").write_text(text, encoding="utf-8")
    pulls = root / "pull-requests"
    pulls.mkdir()
    return DemoRepository(root, remote, issues, pulls, base_branch)
