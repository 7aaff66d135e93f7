"""Serving Mermaid from the site (spec_docs/mermaid_js.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from spec_docs.mermaid_js import NPM_COPY, MermaidAssetError, install


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "project"
    docs = root / "docs"
    docs.mkdir(parents=True)
    return root, docs


def _npm_copy(root: Path, content: bytes) -> Path:
    path = root / NPM_COPY
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    return path


def test_copies_the_npm_library_into_docs(layout: tuple[Path, Path]) -> None:
    root, docs = layout
    _npm_copy(root, b"npm build")
    target = install("js/mermaid.min.js", docs, root, environ={})
    assert target == (docs / "js" / "mermaid.min.js").resolve()
    assert target.read_bytes() == b"npm build"


def test_unchanged_library_is_not_rewritten(layout: tuple[Path, Path]) -> None:
    root, docs = layout
    source = _npm_copy(root, b"v1")
    target = install("js/mermaid.min.js", docs, root, environ={})
    assert target is not None
    first = target.stat().st_mtime_ns
    install("js/mermaid.min.js", docs, root, environ={})
    assert target.stat().st_mtime_ns == first  # mkdocs serve sees no change, so no rebuild loop
    source.write_bytes(b"v2")
    install("js/mermaid.min.js", docs, root, environ={})
    assert target.read_bytes() == b"v2"


def test_mermaid_js_variable_names_the_file_relative_to_the_project(layout: tuple[Path, Path]) -> None:
    root, docs = layout
    (root / "vendor").mkdir()
    (root / "vendor" / "mermaid.min.js").write_bytes(b"vendored")
    _npm_copy(root, b"npm build")
    target = install("js/mermaid.min.js", docs, root, environ={"MERMAID_JS": "vendor/mermaid.min.js"})
    assert target is not None and target.read_bytes() == b"vendored"


def test_a_missing_mermaid_js_file_is_an_error_naming_the_variable(layout: tuple[Path, Path]) -> None:
    root, docs = layout
    with pytest.raises(MermaidAssetError, match="MERMAID_JS='nope.js': no such file"):
        install("js/mermaid.min.js", docs, root, environ={"MERMAID_JS": "nope.js"})


def test_nothing_to_copy_says_how_to_install_it(layout: tuple[Path, Path]) -> None:
    root, docs = layout
    with pytest.raises(MermaidAssetError, match="npm install --no-save mermaid@11"):
        install("js/mermaid.min.js", docs, root, environ={})


def test_an_existing_copy_is_kept_when_npm_is_absent(layout: tuple[Path, Path]) -> None:
    root, docs = layout
    (docs / "js").mkdir()
    (docs / "js" / "mermaid.min.js").write_bytes(b"by hand")
    target = install("js/mermaid.min.js", docs, root, environ={})
    assert target is not None and target.read_bytes() == b"by hand"


def test_a_url_needs_no_copy(layout: tuple[Path, Path]) -> None:
    root, docs = layout
    assert install("https://cdn.example/mermaid.min.js", docs, root, environ={}) is None
    assert not (docs / "js").exists()


def test_the_copy_must_stay_inside_docs(layout: tuple[Path, Path]) -> None:
    root, docs = layout
    _npm_copy(root, b"x")
    with pytest.raises(MermaidAssetError, match="must stay inside docs_dir"):
        install("../mermaid.min.js", docs, root, environ={})
