"""A git platform on the local filesystem (seed participant "Git Platform"), on real ``git``.

Layout, all beside each other so one directory holds a whole "platform"::

    <root>/remote.git/            the bare repository: clones come from it, pushes go to it
    <root>/issues/<id>.md         one issue per file: "# Title", optional "Labels: a, b", then the body
    <root>/pull-requests/<n>.json one pull request per file, numbered from 1

Git runs with an empty configuration (no system or user config, no prompts) and a fixed author,
so a run behaves the same on every machine. A failed git command is classified from what git
printed: a refused connection is a network error and is retried; a rejected push is not.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runtime.workflow.commands import run_in_checkout
from runtime.workflow.errors import (
    GitCommandError,
    IssueFormatError,
    IssueNotFoundError,
    WorkflowConfigError,
)
from runtime.workflow.providers import Checkout, Issue, PullRequest
from spec.metrics import GIT_PLATFORM_SERVICE
from spec.taxonomy import ErrorClass

ISSUE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ISSUE_SUFFIX = ".md"

# What git prints, lower-cased, mapped to the seed 4.5 class; checked in this order, first match wins.
_GIT_OUTPUT_CLASSES: tuple[tuple[ErrorClass, tuple[str, ...]], ...] = (
    (ErrorClass.AUTHENTICATION, ("authentication failed", "permission denied (publickey", "could not read username",
                                 "requested url returned error: 401", "requested url returned error: 403")),
    (ErrorClass.VALIDATION, ("rejected", "non-fast-forward", "does not appear to be a git repository",
                             "not a git repository", "already exists", "nothing to commit", "not a valid branch name",
                             "did not match any file", "couldn't find remote ref", "not found in upstream",
                             "invalid", "refusing")),
    (ErrorClass.SYSTEM, ("no space left on device", "out of memory", "cannot allocate memory")),
    (ErrorClass.NETWORK, ("could not resolve host", "connection refused", "connection timed out", "connection reset",
                          "timed out", "the remote end hung up unexpectedly", "early eof", "rpc failed",
                          "unable to access", "network is unreachable", "temporary failure")),
)


def classify_git_output(output: str) -> ErrorClass:
    """The error class of a failed git command, from its output (unknown: retried by default logic)."""
    text = output.lower()
    for error_class, needles in _GIT_OUTPUT_CLASSES:
        if any(needle in text for needle in needles):
            return error_class
    return ErrorClass.UNKNOWN


@dataclass(frozen=True)
class GitAuthor:
    """Who the pipeline's commits are written by."""

    name: str = "AI coding workflow"
    email: str = "workflow@localhost"


def isolated_git_env(author: GitAuthor, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: PATH and LANG) plus an empty git configuration, no prompts and `author`."""
    env = dict(base) if base else {k: v for k, v in os.environ.items() if k in ("PATH", "LANG")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_TERMINAL_PROMPT="0",
        GIT_AUTHOR_NAME=author.name,
        GIT_AUTHOR_EMAIL=author.email,
        GIT_COMMITTER_NAME=author.name,
        GIT_COMMITTER_EMAIL=author.email,
    )
    return env


def parse_issue(issue_id: str, text: str, source: str) -> Issue:
    """An issue file's text as an :class:`Issue`: ``# Title``, optional ``Labels:`` line, then the body."""
    lines = text.splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines or not lines[0].startswith("# ") or not lines[0][2:].strip():
        raise IssueFormatError(f"issue file {source}: the first line must be '# <title>'")
    title = lines[0][2:].strip()
    rest = lines[1:]
    labels: tuple[str, ...] = ()
    if rest and rest[0].lower().startswith("labels:"):
        labels = tuple(label.strip() for label in rest[0].split(":", 1)[1].split(",") if label.strip())
        rest = rest[1:]
    return Issue(issue_id, title, "\n".join(rest).strip() + "\n", labels)


class LocalGitPlatform:
    """:class:`~runtime.workflow.providers.GitPlatform` on a local bare repository and two directories."""

    def __init__(
        self,
        remote: Path | str,
        *,
        issues_dir: Path | str | None = None,
        pulls_dir: Path | str | None = None,
        base_branch: str = "main",
        author: GitAuthor | None = None,
        name: str = GIT_PLATFORM_SERVICE,
        git: str = "git",
    ) -> None:
        self.remote = Path(remote).resolve()
        self.issues_dir = Path(issues_dir) if issues_dir is not None else self.remote.parent / "issues"
        self.pulls_dir = Path(pulls_dir) if pulls_dir is not None else self.remote.parent / "pull-requests"
        if not base_branch:
            raise WorkflowConfigError("base_branch: must name a branch, e.g. 'main'")
        self.base_branch = base_branch
        self.author = author or GitAuthor()
        self.name = name
        self.git = git

    # -- issues ---------------------------------------------------------------------------------

    def issue_path(self, issue_id: str) -> Path:
        if not ISSUE_ID.match(issue_id):
            raise WorkflowConfigError(
                f"issue id {issue_id!r}: use letters, digits, '.', '_' or '-' (at most 64), starting with a letter "
                "or digit"
            )
        return self.issues_dir / f"{issue_id}{ISSUE_SUFFIX}"

    def issue_ids(self) -> list[str]:
        if not self.issues_dir.is_dir():
            return []
        return sorted(p.name[: -len(ISSUE_SUFFIX)] for p in self.issues_dir.glob(f"*{ISSUE_SUFFIX}"))

    async def get_issue(self, issue_id: str) -> Issue:
        path = self.issue_path(issue_id)
        try:
            text = await asyncio.to_thread(path.read_text, encoding="utf-8")
        except FileNotFoundError:
            raise IssueNotFoundError(issue_id, str(self.issues_dir), self.issue_ids()) from None
        return parse_issue(issue_id, text, str(path))

    # -- git --------------------------------------------------------------------------------------

    def git_env(self, checkout: Checkout) -> dict[str, str]:
        """The checkout's environment plus an empty git configuration and the fixed author."""
        return isolated_git_env(self.author, checkout.env)

    async def _git(self, checkout: Checkout, *args: str, in_checkout: bool = True) -> str:
        argv = [self.git, *args]
        run_at = Checkout(checkout.path, checkout.limits, self.git_env(checkout))
        result = await run_in_checkout(argv, run_at, cwd=checkout.path if in_checkout else checkout.path.parent)
        if not result.ok:
            output = f"{result.stderr}\n{result.stdout}".strip()
            raise GitCommandError(argv, result.returncode, output, classify_git_output(output))
        return result.stdout

    async def clone(self, checkout: Checkout) -> None:
        if checkout.path.exists():  # a retried clone starts over
            await asyncio.to_thread(shutil.rmtree, checkout.path)
        checkout.path.parent.mkdir(parents=True, exist_ok=True)
        await self._git(checkout, "clone", "--quiet", "--branch", self.base_branch, str(self.remote),
                        str(checkout.path), in_checkout=False)

    async def create_branch(self, checkout: Checkout, branch: str) -> None:
        await self._git(checkout, "check-ref-format", "--branch", branch)
        await self._git(checkout, "checkout", "--quiet", "-B", branch)

    async def commit(self, checkout: Checkout, message: str) -> str:
        await self._git(checkout, "add", "--all")
        await self._git(checkout, "commit", "--quiet", "--no-verify", "-m", message)
        return (await self._git(checkout, "rev-parse", "HEAD")).strip()

    async def push(self, checkout: Checkout, branch: str) -> None:
        # --force-with-lease: a retried task replaces its own earlier push of this branch, but never a
        # branch someone else moved since the clone.
        await self._git(checkout, "push", "--quiet", "--force-with-lease", "origin", f"{branch}:{branch}")

    # -- pull requests ------------------------------------------------------------------------------

    async def open_pull_request(self, *, branch: str, base: str, title: str, body: str, commit: str) -> PullRequest:
        return await asyncio.to_thread(self._record_pull_request, branch, base, title, body, commit)

    def pull_requests(self) -> list[dict[str, Any]]:
        """Every recorded pull request, by number."""
        if not self.pulls_dir.is_dir():
            return []
        records = [json.loads(p.read_text(encoding="utf-8")) for p in self.pulls_dir.glob("*.json")]
        return sorted(records, key=lambda r: int(r["number"]))

    def _record_pull_request(self, branch: str, base: str, title: str, body: str, commit: str) -> PullRequest:
        self.pulls_dir.mkdir(parents=True, exist_ok=True)
        now = datetime.now(UTC).isoformat()
        record: dict[str, Any] = {"title": title, "body": body, "branch": branch, "base": base, "commit": commit,
                                  "remote": str(self.remote), "state": "open", "updatedAt": now}
        for existing in self.pull_requests():
            if existing["branch"] == branch and existing["base"] == base and existing["state"] == "open":
                # A retried task pushed the branch again: the open pull request follows it.
                number = int(existing["number"])
                path = self.pulls_dir / f"{number}.json"
                record = {**existing, **record, "number": number}
                # A staging name of its own: two retries of one branch may update the record at once.
                staging = self.pulls_dir / f".upd-{os.getpid()}-{threading.get_ident()}-{number}.json.tmp"
                staging.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
                os.replace(staging, path)
                return self._pull_request(record, path)
        number = max((int(r["number"]) for r in self.pull_requests()), default=0) + 1
        staging = self.pulls_dir / f".new-{os.getpid()}-{threading.get_ident()}.json.tmp"
        try:
            while True:
                record = {**record, "number": number, "createdAt": now}
                staging.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
                path = self.pulls_dir / f"{number}.json"
                try:
                    os.link(staging, path)  # atomic and exclusive: concurrent workers get distinct numbers
                except FileExistsError:
                    number += 1
                    continue
                return self._pull_request(record, path)
        finally:
            staging.unlink(missing_ok=True)

    @staticmethod
    def _pull_request(record: dict[str, Any], path: Path) -> PullRequest:
        return PullRequest(int(record["number"]), record["title"], record["branch"], record["base"], record["commit"],
                           str(path))
