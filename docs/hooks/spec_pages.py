"""MkDocs hook: the pages' diagrams, tables and numbers are generated from `spec` at build time.

Pages hold ``{{ directive(...) }}`` calls (see docs/contributing.md and `spec_docs.expand`);
this hook expands them for every page, so a changed policy value or transition in `spec/`
changes the site with no other edit. A directive that cannot be expanded stops the build with
the page, line and reason. The hook also puts Mermaid's JavaScript next to the pages
(`spec_docs.mermaid_js`) so the site works offline.

Wired in mkdocs.yml as ``hooks: [docs/hooks/spec_pages.py]``; ``watch: [spec, sim]`` makes
``mkdocs serve`` rebuild on spec and simulator changes, and `spec_reload` makes the rebuild
re-import them.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

HOOKS_DIR = Path(__file__).resolve().parent

_generator: ModuleType | None = None
_docs_prefix = "docs"


def _project_root(config: MkDocsConfig) -> Path:
    return Path(config.config_file_path).resolve().parent


def _load_generator(root: Path) -> ModuleType:
    """Import the page generator (and `spec` from this checkout), fresh if the sources changed."""
    # MkDocs puts HOOKS_DIR on sys.path only while it imports this file; the generator's
    # modules are imported later, and `spec` must come from this checkout.
    for path in (str(root), str(HOOKS_DIR)):
        if path not in sys.path:
            sys.path.insert(0, path)
    spec_reload = importlib.import_module("spec_reload")
    # `sim` too: it draws the plots and recommendations from `spec`, and a `sim` kept from the
    # first build would keep the first build's `spec` objects (and write stale plots).
    spec_reload.forget_stale_modules(
        "spec_pages", [root / "spec", root / "sim", HOOKS_DIR / "spec_docs"], ["spec", "sim", "spec_docs"]
    )
    try:
        return importlib.import_module("spec_docs.expand")
    except Exception as exc:  # a broken spec must stop the build with its own message
        raise PluginError(f"cannot import the spec package from {root}: {type(exc).__name__}: {exc}") from exc


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    global _generator, _docs_prefix
    root = _project_root(config)
    docs_dir = Path(config.docs_dir).resolve()
    _docs_prefix = str(docs_dir.relative_to(root)) if root in docs_dir.parents else str(docs_dir)
    _generator = _load_generator(root)
    plugin = config.plugins.get("mermaid2")
    if plugin is None:
        raise PluginError("mkdocs.yml must enable the mermaid2 plugin; the diagram pages need it")
    javascript = str(plugin.config.get("javascript") or "")
    if not javascript:
        raise PluginError("mkdocs.yml: set plugins.mermaid2.javascript (a path in docs_dir, or MERMAID_JS_URL)")
    mermaid_js = importlib.import_module("spec_docs.mermaid_js")
    try:
        mermaid_js.install(javascript, docs_dir, root)
    except mermaid_js.MermaidAssetError as exc:
        raise PluginError(str(exc)) from exc
    sim_plots = importlib.import_module("spec_docs.sim_plots")
    try:
        sim_plots.render(docs_dir)
    except sim_plots.SimulationPlotError as exc:
        raise PluginError(str(exc)) from exc
    importlib.import_module("spec_docs.monitoring").write_dashboard(docs_dir)
    optimisation = importlib.import_module("spec_docs.optimisation")
    try:
        optimisation.render(docs_dir)
    except optimisation.RecommendationError as exc:
        raise PluginError(str(exc)) from exc
    return config


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files, **_: Any) -> str:
    if _generator is None:  # pragma: no cover - on_config always runs first
        raise PluginError("spec_pages: on_config did not run")
    registry = importlib.import_module("spec_docs.registry")
    try:
        expanded: str = _generator.expand(markdown, f"{_docs_prefix}/{page.file.src_uri}")
    except registry.DirectiveError as exc:
        raise PluginError(str(exc)) from exc
    return expanded
