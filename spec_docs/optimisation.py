"""The ``recommendations`` directive: the optimisation page, from a simulator run at build time.

`render` runs `sim.recommend` once per build (before the pages are collected, so that its
plots are copied into the site) and writes ``docs_dir/optimisation/<name>.png`` only when an
image changed, like `spec_docs.sim_plots`. The directive then prints the same Markdown as
``python -m sim recommend``. The images are not kept in git.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from spec_docs.registry import directive
from spec_docs.sim_plots import publish_changed

IMAGE_DIR = "optimisation"
_USES = re.compile(r"(?<!\\)\{\{\s*recommendations\(")
#: The current build's recommendations (set by `render`).
_current: list[Any] = []


class RecommendationError(Exception):
    """The optimisation page cannot be built (the simulator cannot be imported or run)."""


def used(docs_dir: Path) -> bool:
    return any(_USES.search(page.read_text(encoding="utf-8")) for page in docs_dir.rglob("*.md"))


def render(docs_dir: Path) -> list[Path]:
    """Run the recommendations if a page uses them; write the plots that changed and return them."""
    _current.clear()
    if not used(docs_dir):
        return []
    try:
        from sim.recommend import recommend
        from sim.recommend_report import write_plots
    except ImportError as exc:
        raise RecommendationError(
            f"the optimisation page runs the simulator, which cannot be imported ({exc}); "
            "install the project with the docs extra: pip install -e '.[docs]'"
        ) from exc
    try:
        result = recommend()
    except Exception as exc:  # a spec change that leaves no feasible recommendation must say so
        raise RecommendationError(f"the optimisation page's simulation failed: {type(exc).__name__}: {exc}") from exc
    _current.append(result)
    target = docs_dir / IMAGE_DIR
    target.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        return publish_changed(write_plots(result, Path(scratch)), target)


@directive
def recommendations() -> str:
    """Worker count, heartbeat, breaker and retry recommendations for the stated workload, with their runs and plots."""
    from sim.recommend import recommend
    from sim.recommend_report import markdown

    if not _current:  # expanded without the hook (a page on its own): compute it, without plots
        _current.append(recommend())

    text: str = markdown(_current[0], image_dir=IMAGE_DIR)
    return text
