"""The three external parties of the reference workflow (seed 4.3) as Protocols, and what they exchange.

The pipeline only talks to these Protocols, so a real GitHub client or a real AI provider can
replace the shipped local/scripted ones without touching it. Every method is a coroutine: each
call goes through `runtime.resilience` (breaker → retry → rate limit) and must not block the
worker's event loop, which it shares with the heartbeat.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from runtime.worker.limits import CommandResult, TaskLimits

#: Receives one line of a command's output (without its newline), e.g. to stream it as progress.
LineSink = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class Issue:
    """An issue as the git platform returns it (seed ``getIssueDetails(issueId)``)."""

    id: str
    title: str
    body: str
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Analysis:
    """The AI provider's reading of an issue (seed ``analyzeIssue``): what to change and why."""

    issue: Issue
    summary: str
    #: Repository paths the change touches; their current text is given to code generation.
    files: tuple[str, ...]
    requirements: tuple[str, ...] = ()


@dataclass(frozen=True)
class Patch:
    """A validated unified diff and the repository paths it changes."""

    text: str
    files: tuple[str, ...]


@dataclass(frozen=True)
class PullRequest:
    """A pull request the git platform opened (seed ``createPullRequest()``)."""

    number: int
    title: str
    branch: str
    base: str
    commit: str
    #: Where the platform shows it: a URL, or for the local platform the record file.
    location: str

    def as_dict(self) -> dict[str, Any]:
        return {"number": self.number, "title": self.title, "branch": self.branch, "base": self.base,
                "commit": self.commit, "location": self.location}


@dataclass(frozen=True)
class Checkout:
    """A repository checked out inside a task's workspace, with the task's limits and environment.

    Every command run in it (git, build, tests) runs under ``limits`` with ``env``, so a task's
    resource limits (seed "Resource Limits") cover all of its work.
    """

    path: Path
    limits: TaskLimits
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GateResult:
    """How one quality gate (build or tests) ended."""

    gate: str
    result: CommandResult

    @property
    def ok(self) -> bool:
        return self.result.ok


@runtime_checkable
class GitPlatform(Protocol):
    """Seed participant "Git Platform": issues, branches, commits, pushes, pull requests."""

    #: The external service's name: its circuit breaker and metrics are keyed by it.
    name: str
    #: The branch pull requests target and clones start from.
    base_branch: str

    async def get_issue(self, issue_id: str) -> Issue: ...

    async def clone(self, checkout: Checkout) -> None:
        """Check out the base branch into ``checkout.path`` (created; removed first if a retry left it)."""
        ...

    async def create_branch(self, checkout: Checkout, branch: str) -> None: ...

    async def commit(self, checkout: Checkout, message: str) -> str:
        """Commit every change in the checkout; return the commit id."""
        ...

    async def push(self, checkout: Checkout, branch: str) -> None: ...

    async def open_pull_request(self, *, branch: str, base: str, title: str, body: str, commit: str) -> PullRequest:
        ...


@runtime_checkable
class AIProvider(Protocol):
    """Seed participant "AI Provider": analyses an issue, then streams the code that resolves it."""

    name: str

    async def analyze(self, issue: Issue) -> Analysis: ...

    def generate_code(self, analysis: Analysis, sources: Mapping[str, str]) -> AsyncIterator[str]:
        """Stream a unified diff in chunks; `sources` maps each of ``analysis.files`` to its text ("" if new)."""
        ...


@runtime_checkable
class QualityGates(Protocol):
    """Seed participant "Quality Gates": build and test in the workspace, streaming their output."""

    name: str

    async def run_build(self, checkout: Checkout, on_line: LineSink) -> GateResult: ...

    async def run_tests(self, checkout: Checkout, on_line: LineSink) -> GateResult: ...
