"""Shared set-up for the docs tests: make the hook's generator importable, build a site copy.

The generator lives in ``docs/hooks`` (MkDocs loads it from there, it is not an installed
package), so these tests put that folder on ``sys.path`` the way the hook itself does.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOOKS = ROOT / "docs" / "hooks"

for _path in (str(ROOT), str(HOOKS)):
    if _path not in sys.path:
        sys.path.insert(0, _path)


def copy_project(destination: Path) -> Path:
    """A copy of what the docs build reads: mkdocs.yml, docs/ (without the Mermaid copy), spec/, sim/, runtime/.

    runtime/ is copied too: the HTTP page reads its routes, and without a copy Python would
    import whatever ``runtime`` is installed (another checkout's) instead of this one.
    """
    ignore = shutil.ignore_patterns("__pycache__", "mermaid.min.js")
    shutil.copy2(ROOT / "mkdocs.yml", destination / "mkdocs.yml")
    shutil.copytree(ROOT / "docs", destination / "docs", ignore=ignore)
    shutil.copytree(ROOT / "spec", destination / "spec", ignore=ignore)
    shutil.copytree(ROOT / "sim", destination / "sim", ignore=ignore)  # the docs build draws its plots
    shutil.copytree(ROOT / "runtime", destination / "runtime", ignore=ignore)
    return destination


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A throw-away copy of the docs project, safe to edit and build."""
    root = tmp_path / "project"
    root.mkdir()
    return copy_project(root)
