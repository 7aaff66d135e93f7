"""The ``orchestration-spec`` mkdocs plugin: pages' diagrams, tables and numbers generated from a spec catalogue.

Pages hold ``{{ directive(...) }}`` calls (see docs/contributing.md and `spec_docs.expand`); the
plugin expands them on every page, so a changed policy value or transition changes the site with
no other edit. A directive that cannot be expanded stops the build with the page, line and
reason. Configured in ``mkdocs.yml``::

    plugins:
      - orchestration-spec:
          spec: mypkg.spec:SPEC   # the catalogue the catalogue_* directives draw by default
      - mermaid2

(registered in the ``mkdocs.plugins`` entry-point group by this package). The plugin also puts
Mermaid's JavaScript next to the pages (`spec_docs.mermaid_js`) so a site works offline, and
with ``platform_pages: true`` (this project's own site) writes the files the platform's pages
embed: simulation plots, the Grafana dashboard and the optimisation recommendations.

``mkdocs serve`` stays live: the catalogue's package, `spec`, `sim` and this package are watched,
and a rebuild after one of them changed re-imports them (`spec_docs.reload`), so the page shows
the machines as they are now. The site's own directory (where ``mkdocs.yml`` is) goes first on
``sys.path``: a catalogue package next to it, or this checkout's `spec`, is the one drawn.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from mkdocs.config import base
from mkdocs.config import config_options as options
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.livereload import LiveReloadServer
from mkdocs.plugins import BasePlugin
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

from spec_docs import reload

#: Packages re-imported when their sources change; the plugin and its reload memory survive.
RELOADED = ("spec", "sim", "spec_docs")
KEPT = ("spec_docs.plugin", "spec_docs.reload")


class SpecPagesConfig(base.Config):  # type: ignore[no-untyped-call]  # mkdocs leaves __init_subclass__ untyped
    """``plugins: - orchestration-spec: {...}`` in mkdocs.yml."""

    #: ``MODULE:ATTR`` (or an ``orchestration_spec.specs`` entry-point name): the catalogue that
    #: ``catalogue_diagram`` and ``catalogue_check`` draw when a page does not name one.
    spec = options.Optional(options.Type(str))
    #: Also write the platform site's generated files (plots, dashboard, recommendations).
    platform_pages = options.Type(bool, default=False)


class SpecPagesPlugin(BasePlugin[SpecPagesConfig]):  # type: ignore[no-untyped-call]  # as above
    """Expands the spec directives on every page of a site."""

    def __init__(self) -> None:
        self._generator: ModuleType | None = None
        self._docs_prefix = "docs"
        self._watched: list[Path] = []

    def on_config(self, config: MkDocsConfig) -> MkDocsConfig:
        root = Path(config.config_file_path).resolve().parent
        docs_dir = Path(config.docs_dir).resolve()
        self._docs_prefix = str(docs_dir.relative_to(root)) if root in docs_dir.parents else str(docs_dir)
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        catalogue_package = _catalogue_package(self.config.spec)
        self._watched = [path for name in (*RELOADED, *catalogue_package) for path in _package_paths(name)]
        reload.forget_stale_modules("orchestration-spec", self._watched, (*RELOADED, *catalogue_package), keep=KEPT)
        try:
            self._generator = importlib.import_module("spec_docs.expand")
        except Exception as exc:  # a broken spec must stop the build with its own message
            raise PluginError(f"cannot import the spec package from {root}: {type(exc).__name__}: {exc}") from exc
        importlib.import_module("spec_docs.catalogues").use_catalogue(self.config.spec)
        importlib.import_module("spec_docs.recorded").use_recordings(docs_dir / "recorded")
        _install_mermaid(config, docs_dir, root)
        if self.config.platform_pages:
            _write_platform_files(docs_dir)
        return config

    def on_serve(self, server: LiveReloadServer, /, *, config: MkDocsConfig, builder: Any) -> LiveReloadServer:
        """Rebuild when the catalogue, `spec`, `sim` or the directives change, not only the pages."""
        for path in self._watched:
            server.watch(str(path))
        return server

    def on_page_markdown(self, markdown: str, /, *, page: Page, config: MkDocsConfig, files: Files) -> str:
        if self._generator is None:  # pragma: no cover - on_config always runs first
            raise PluginError("orchestration-spec: on_config did not run")
        registry = importlib.import_module("spec_docs.registry")
        try:
            expanded: str = self._generator.expand(markdown, f"{self._docs_prefix}/{page.file.src_uri}")
        except registry.DirectiveError as exc:
            raise PluginError(str(exc)) from exc
        return expanded


def _catalogue_package(reference: str | None) -> tuple[str, ...]:
    """The top-level package of a ``MODULE:ATTR`` reference (watched and reloaded), if it names a module."""
    if reference is None or ":" not in reference:
        return ()
    top = reference.split(":", 1)[0].split(".", 1)[0]
    return () if top in RELOADED else (top,)


def _package_paths(name: str) -> list[Path]:
    """The directories (or the one file) a top-level module or package is imported from; none if not found."""
    try:
        found = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return []
    if found is None:
        return []
    if found.submodule_search_locations:
        return [Path(p) for p in found.submodule_search_locations]
    return [Path(found.origin)] if found.origin else []


def _install_mermaid(config: MkDocsConfig, docs_dir: Path, root: Path) -> None:
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


def _write_platform_files(docs_dir: Path) -> None:
    """The files the platform's own pages embed: simulation plots, Grafana dashboard, recommendations."""
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
