"""The local git platform: issue files, classification of git's complaints, pull-request records."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from runtime.resilience import classify
from runtime.workflow import (
    DELIVERED_ISSUE,
    DemoRepository,
    IssueFormatError,
    IssueNotFoundError,
    LocalGitPlatform,
    WorkflowConfigError,
    classify_git_output,
    create_demo_repository,
    parse_issue,
)
from spec.taxonomy import ErrorClass


def test_an_issue_file_gives_title_labels_and_body(demo: DemoRepository) -> None:
    issue = asyncio.run(demo.platform().get_issue(DELIVERED_ISSUE))
    assert issue.id == DELIVERED_ISSUE
    assert issue.title == "Add a multiply function"
    assert issue.labels == ("enhancement",)
    assert issue.body.startswith("The calculator can add but not multiply.")


def test_an_issue_file_without_a_title_is_refused_naming_the_file() -> None:
    with pytest.raises(IssueFormatError, match=r"issue file x\.md: the first line must be '# <title>'"):
        parse_issue("x", "no heading here\n", "x.md")


def test_unknown_and_malformed_issue_ids(demo: DemoRepository) -> None:
    platform = demo.platform()
    with pytest.raises(IssueNotFoundError) as caught:
        asyncio.run(platform.get_issue("99"))
    assert classify(caught.value) is ErrorClass.VALIDATION
    assert "known issues: 1, 2, 3" in str(caught.value)
    with pytest.raises(WorkflowConfigError, match="issue id '../etc/passwd'"):
        asyncio.run(platform.get_issue("../etc/passwd"))


@pytest.mark.parametrize(("output", "expected"), [
    ("fatal: unable to access 'https://x/': Could not resolve host: x", ErrorClass.NETWORK),
    ("ssh: connect to host x port 22: Connection refused\nfatal: Could not read from remote repository.",
     ErrorClass.NETWORK),
    ("fatal: the remote end hung up unexpectedly", ErrorClass.NETWORK),
    ("remote: Invalid username or password.\nfatal: Authentication failed for 'https://x/'", ErrorClass.AUTHENTICATION),
    (" ! [rejected]        feature/x -> feature/x (non-fast-forward)", ErrorClass.VALIDATION),
    ("fatal: '/nowhere' does not appear to be a git repository", ErrorClass.VALIDATION),
    ("error: unable to write file: No space left on device", ErrorClass.SYSTEM),
    ("something nobody has seen before", ErrorClass.UNKNOWN),
])
def test_git_output_is_classified_by_the_seed_taxonomy(output: str, expected: ErrorClass) -> None:
    assert classify_git_output(output) is expected


def test_pull_requests_are_numbered_and_a_reopened_branch_keeps_its_number(demo: DemoRepository) -> None:
    platform = demo.platform()

    async def open_(branch: str, commit: str) -> int:
        pr = await platform.open_pull_request(branch=branch, base="main", title=branch, body="", commit=commit)
        return pr.number

    assert asyncio.run(open_("feature/a", "c1")) == 1
    assert asyncio.run(open_("feature/b", "c2")) == 2
    assert asyncio.run(open_("feature/a", "c3")) == 1
    records = platform.pull_requests()
    summary = [(r["number"], r["branch"], r["commit"]) for r in records]
    assert summary == [(1, "feature/a", "c3"), (2, "feature/b", "c2")]
    assert sorted(p.name for p in demo.pulls_dir.iterdir()) == ["1.json", "2.json"]


def test_concurrent_pull_requests_get_distinct_numbers(demo: DemoRepository) -> None:
    platform = demo.platform()

    async def open_many() -> list[int]:
        prs = await asyncio.gather(*(platform.open_pull_request(branch=f"feature/{n}", base="main", title="t",
                                                                body="", commit="c") for n in range(8)))
        return [pr.number for pr in prs]

    assert sorted(asyncio.run(open_many())) == list(range(1, 9))
    assert all(json.loads((demo.pulls_dir / f"{n}.json").read_text())["number"] == n for n in range(1, 9))


def test_the_demo_repository_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    with pytest.raises(WorkflowConfigError, match="already exists and is not empty"):
        create_demo_repository(tmp_path / "taken")


def test_an_empty_base_branch_is_refused(tmp_path: Path) -> None:
    with pytest.raises(WorkflowConfigError, match="base_branch"):
        LocalGitPlatform(tmp_path / "r.git", base_branch="")
