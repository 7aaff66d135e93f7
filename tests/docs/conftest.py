"""Shared set-up for the docs tests: this checkout's packages first on ``sys.path``, a site copy to build.

The page generator is the `spec_docs` package (the orchestration-spec mkdocs plugin); the tests
import it, and `spec`, from this checkout rather than from whichever checkout is installed.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def copy_project(destination: Path) -> Path:
    """A copy of what the docs build reads: mkdocs.yml, docs/ (no Mermaid copy), spec/, spec_docs/, sim/, runtime/.

    runtime/ is copied too: the HTTP page reads its routes, and without a copy Python would
    import whatever ``runtime`` is installed (another checkout's) instead of this one.
    """
    ignore = shutil.ignore_patterns("__pycache__", "mermaid.min.js")
    shutil.copy2(ROOT / "mkdocs.yml", destination / "mkdocs.yml")
    shutil.copytree(ROOT / "docs", destination / "docs", ignore=ignore)
    shutil.copytree(ROOT / "spec", destination / "spec", ignore=ignore)
    shutil.copytree(ROOT / "spec_docs", destination / "spec_docs", ignore=ignore)  # the plugin and its directives
    shutil.copytree(ROOT / "sim", destination / "sim", ignore=ignore)  # the docs build draws its plots
    shutil.copytree(ROOT / "runtime", destination / "runtime", ignore=ignore)
    return destination


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A throw-away copy of the docs project, safe to edit and build."""
    root = tmp_path / "project"
    root.mkdir()
    return copy_project(root)
