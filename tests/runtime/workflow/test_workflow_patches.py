"""Chunking, diff construction and patch validation: the AI provider's output is checked, never trusted."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.worker.limits import TaskLimits
from runtime.workflow import Checkout, PatchError, apply_patch, parse_patch, split_into_chunks, unified_diff
from spec.policies import DEFAULT_POLICIES

LIMITS = TaskLimits.from_policy(DEFAULT_POLICIES.resources)


@given(st.text(), st.integers(min_value=1, max_value=500))
def test_chunks_reassemble_exactly_and_respect_the_size(text: str, size: int) -> None:
    chunks = split_into_chunks(text, size)
    assert "".join(chunks) == text
    assert all(1 <= len(c) <= size for c in chunks)
    assert len(chunks) == -(-len(text) // size)


def test_a_chunk_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="chunk size must be at least 1"):
        split_into_chunks("abc", 0)


_line = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12)
_lines = st.lists(_line, max_size=8)


def _text(lines: list[str], final_newline: bool) -> str:
    return "\n".join(lines) + ("\n" if final_newline and lines else "")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(old=_lines, new=_lines, old_nl=st.booleans(), new_nl=st.booleans())
def test_a_generated_diff_applies_with_git_and_reproduces_the_new_text(
    tmp_path_factory: pytest.TempPathFactory, old: list[str], new: list[str], old_nl: bool, new_nl: bool
) -> None:
    before, after = _text(old, old_nl), _text(new, new_nl)
    if before == after or not after:
        return  # nothing to change, or a deletion (which generated patches may not do)
    repo = tmp_path_factory.mktemp("repo")
    subprocess.run(["git", "init", "--quiet", str(repo)], check=True)
    if before:
        (repo / "f.txt").write_text(before)
    patch = parse_patch(unified_diff("f.txt", before, after))
    asyncio.run(apply_patch(Checkout(repo, LIMITS), patch))
    assert (repo / "f.txt").read_text() == after


@pytest.mark.parametrize(("text", "reason"), [
    ("", "empty patch"),
    ("Sure! Here is the fix you asked for.\n", "not a unified diff"),
    ("--- a/x\n+++ b/x\nno hunks here\n", "not a unified diff"),
    ("--- /etc/passwd\n+++ /etc/passwd\n@@ -1 +1 @@\n-a\n+b\n", "outside the repository"),
    ("--- a/../x\n+++ b/../x\n@@ -1 +1 @@\n-a\n+b\n", "outside the repository"),
    ("--- a/.git/config\n+++ b/.git/config\n@@ -1 +1 @@\n-a\n+b\n", "inside .git"),
    ("--- a/x\n+++ /dev/null\n@@ -1 +0,0 @@\n-a\n", "deletes a file"),
])
def test_unusable_output_is_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(PatchError, match=reason):
        parse_patch(text)


def test_a_patch_that_does_not_apply_is_refused_whole(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "--quiet", str(tmp_path)], check=True)
    (tmp_path / "a.txt").write_text("one\n")
    good = unified_diff("b.txt", "", "new file\n")
    bad = unified_diff("a.txt", "something else\n", "changed\n")
    with pytest.raises(PatchError, match="does not apply"):
        asyncio.run(apply_patch(Checkout(tmp_path, LIMITS), parse_patch(good + bad)))
    assert not (tmp_path / "b.txt").exists()
    assert (tmp_path / "a.txt").read_text() == "one\n"
