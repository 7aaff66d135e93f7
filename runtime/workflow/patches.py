"""What the AI provider hands back (seed 4.3 step 2): a unified diff, streamed in chunks, then applied.

The pipeline trusts nothing it receives: text that is not a unified diff ("garbage"), a diff that
writes outside the repository or into ``.git``, or one that ``git apply --check`` refuses, is an
AI_ERROR and never touches the checkout.
"""

from __future__ import annotations

import difflib
import re
from pathlib import PurePosixPath

from runtime.workflow.commands import run_in_checkout
from runtime.workflow.errors import PatchError
from runtime.workflow.providers import Checkout, Patch

_NEW_FILE = re.compile(r"^\+\+\+ (\S+)", re.MULTILINE)
_OLD_FILE = re.compile(r"^--- (\S+)", re.MULTILINE)
_HUNK = re.compile(r"^@@ -\d+(,\d+)? \+\d+(,\d+)? @@", re.MULTILINE)
_NO_NEWLINE = "\\ No newline at end of file\n"


def split_into_chunks(text: str, size: int) -> list[str]:
    """`text` cut into consecutive pieces of at most `size` characters (the seed's ``codeChunk``)."""
    if size < 1:
        raise ValueError(f"chunk size must be at least 1 character, got {size}")
    return [text[i : i + size] for i in range(0, len(text), size)]


def unified_diff(path: str, old: str, new: str) -> str:
    """A ``git apply``-able diff turning `old` into `new` at repository path `path` ("" old = new file)."""
    old_lines = old.splitlines(keepends=True)
    new_lines = new.splitlines(keepends=True)
    lines = difflib.unified_diff(
        old_lines, new_lines, fromfile=f"a/{path}" if old else "/dev/null", tofile=f"b/{path}"
    )
    # difflib leaves a last line without its newline as is; the format wants an explicit marker.
    return "".join(line if line.endswith("\n") else f"{line}\n{_NO_NEWLINE}" for line in lines)


def repository_path(raw: str) -> str | None:
    """The repository path a ``---``/``+++`` header names (``a/x`` → ``x``); None for /dev/null."""
    if raw == "/dev/null":
        return None
    path = raw[2:] if raw.startswith(("a/", "b/")) else raw
    parts = PurePosixPath(path).parts
    if not path or path.startswith("/") or ".." in parts or (parts and parts[0] == ".git"):
        raise PatchError(f"patch names the path {raw!r}, which is outside the repository or inside .git")
    return path


def parse_patch(text: str) -> Patch:
    """Validate the provider's output as a unified diff; :class:`PatchError` says what is wrong."""
    if not text.strip():
        raise PatchError("the AI provider returned an empty patch")
    olds = _OLD_FILE.findall(text)
    news = _NEW_FILE.findall(text)
    if not news or not olds or not _HUNK.search(text):
        preview = text.strip()[:120]
        raise PatchError(f"the AI provider's output is not a unified diff (no ---/+++ headers or @@ hunks): "
                         f"{preview!r}")
    for raw in olds:
        repository_path(raw)
    files: list[str] = []
    for raw in news:
        path = repository_path(raw)
        if path is None:
            raise PatchError("patch deletes a file (+++ /dev/null); generated changes may only add or edit files")
        if path not in files:
            files.append(path)
    return Patch(text if text.endswith("\n") else text + "\n", tuple(files))


async def apply_patch(checkout: Checkout, patch: Patch, *, git: str = "git") -> None:
    """Apply `patch` to the checkout with ``git apply``; refuse it whole if any hunk does not apply."""
    patch_file = checkout.path.parent / f".{checkout.path.name}.patch"
    patch_file.write_text(patch.text, encoding="utf-8")
    try:
        check = await run_in_checkout([git, "apply", "--check", "--whitespace=nowarn", str(patch_file)], checkout)
        if not check.ok:
            reason = (check.stderr or check.stdout).strip()[-800:]
            raise PatchError(f"the generated patch does not apply to {', '.join(patch.files)}: {reason}")
        applied = await run_in_checkout([git, "apply", "--whitespace=nowarn", str(patch_file)], checkout)
        if not applied.ok:  # pragma: no cover - --check passed a moment ago in the same checkout
            raise PatchError(f"git apply failed after its check passed: {(applied.stderr or applied.stdout).strip()}")
    finally:
        patch_file.unlink(missing_ok=True)
