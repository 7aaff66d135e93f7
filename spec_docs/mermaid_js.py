"""Serving Mermaid's JavaScript from the site itself, so the docs render offline.

mkdocs-mermaid2 takes the library location from its ``javascript`` option: a URL, or a path
relative to ``docs_dir`` that must exist there when pages are written (the plugin checks it
and links it relative to each page). The library itself comes from npm (``mermaid``), which
lands it in ``node_modules/mermaid/dist/mermaid.min.js``; this module copies it to the path
the option names, inside ``docs_dir`` (git-ignored), before any page is built.

Configuration, by environment variable:

* ``MERMAID_JS`` — a ``mermaid.min.js`` file to copy instead of the npm one;
* ``MERMAID_JS_URL`` — read by ``mkdocs.yml``: load Mermaid from this URL and copy nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

NPM_COPY = Path("node_modules/mermaid/dist/mermaid.min.js")
SOURCE_VARIABLE = "MERMAID_JS"


class MermaidAssetError(Exception):
    """Mermaid's JavaScript cannot be found; the message says how to provide it."""


def is_url(location: str) -> bool:
    return location.startswith(("http://", "https://", "//"))


def source_path(project_root: Path, environ: Mapping[str, str]) -> Path:
    """Where to copy Mermaid from: ``$MERMAID_JS`` (relative to the project) or the npm copy."""
    configured = environ.get(SOURCE_VARIABLE, "").strip()
    if configured:
        path = Path(configured).expanduser()
        return path if path.is_absolute() else project_root / path
    return project_root / NPM_COPY


def install(
    javascript: str,
    docs_dir: Path,
    project_root: Path,
    environ: Mapping[str, str] | None = None,
) -> Path | None:
    """Make ``docs_dir/javascript`` hold the current Mermaid library; return its path.

    Returns ``None`` when `javascript` is a URL (nothing to serve locally). The copy is written
    only when its content changed, so ``mkdocs serve`` does not see a change on every build.
    """
    if is_url(javascript):
        return None
    env = os.environ if environ is None else environ
    target = (docs_dir / javascript).resolve()
    if docs_dir.resolve() not in target.parents:
        raise MermaidAssetError(f"mermaid2 javascript path {javascript!r} must stay inside docs_dir {docs_dir}")
    source = source_path(project_root, env)
    if not source.is_file():
        if SOURCE_VARIABLE in env and env[SOURCE_VARIABLE].strip():
            raise MermaidAssetError(f"{SOURCE_VARIABLE}={env[SOURCE_VARIABLE]!r}: no such file ({source})")
        if target.is_file():
            return target  # a copy provided by hand (or an earlier build) still serves
        raise MermaidAssetError(
            f"Mermaid's JavaScript is missing: expected {source}. Run `npm install --no-save mermaid@11` "
            f"in {project_root}, or set {SOURCE_VARIABLE} to a mermaid.min.js file, "
            "or set MERMAID_JS_URL to load it from a URL"
        )
    content = source.read_bytes()
    if not target.is_file() or target.read_bytes() != content:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return target
