"""Build the docs, serve them on 127.0.0.1, open every page in headless Chromium at 1440x900.

Every Mermaid block must render to an SVG without a syntax error, and be legible as drawn:
no text under `legibility.MIN_TEXT_PX`, no two edge or message labels touching. A second pass
in the dark colour scheme checks that arrowheads and labels stand out from the background.
Screenshots are kept in ``test-artifacts/screenshots/`` as evidence. Mermaid's JavaScript
comes from the npm package (``npm install --no-save mermaid@11``), served by the site itself.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.browser.chromium import (
    CHROMIUM,
    CHROMIUM_ARGS,
    OPEN_SHADOW_ROOTS,
    chromium_missing_reason,
    mermaid_problems,
    serve_directory,
)
from tests.browser.legibility import COLOURS, DiagramMeasure, contrast_ratio, measure_diagrams, parse_rgb
from tests.declared_entry_points import environment

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
MERMAID_JS = ROOT / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
VIEWPORT = {"width": 1440, "height": 900}
#: WCAG 2 AA minimum for body text; also asked of arrowheads, which carry the direction.
MIN_CONTRAST = 4.5

_missing = chromium_missing_reason() or (
    None if MERMAID_JS.exists() else f"{MERMAID_JS} missing: run `npm install --no-save mermaid@11`"
)
pytestmark = pytest.mark.skipif(_missing is not None, reason=_missing or "")


@dataclass
class SiteVisit:
    """What one pass over the built site found."""

    rendered_blocks: int = 0
    render_failures: dict[str, list[str]] = field(default_factory=dict)
    measures: list[DiagramMeasure] = field(default_factory=list)
    diagram_pages: list[str] = field(default_factory=list)
    #: Per page, the code names in table cells drawn on more than one line.
    broken_code: dict[str, list[str]] = field(default_factory=dict)


#: Code spans inside table cells that the browser laid out on two or more lines.
BROKEN_CODE = (
    "() => [...document.querySelectorAll('.md-typeset table code')]"
    ".filter(c => c.getClientRects().length > 1).map(c => c.textContent)"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


def _new_page(browser: Any, scheme: str = "light") -> Any:
    page = browser.new_page(viewport=VIEWPORT, color_scheme=scheme)
    page.add_init_script(OPEN_SHADOW_ROOTS)
    return page


@pytest.fixture(scope="module")
def browser_page(browser: Any) -> Iterator[Any]:
    page = _new_page(browser)
    yield page
    page.close()


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=environment(tmp_path_factory.mktemp("entry-points")),
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return site


def _page_urls(site: Path, base: str) -> list[tuple[str, str]]:
    pages = sorted(p for p in site.rglob("index.html") if "assets" not in p.parts)
    urls = []
    for html in pages:
        rel = html.parent.relative_to(site).as_posix()
        urls.append(("home" if rel == "." else rel, base + ("" if rel == "." else rel + "/")))
    return urls


@pytest.fixture(scope="module")
def light_visit(built_site: Path, browser_page: Any) -> SiteVisit:
    """Every page once, in the light scheme: render problems and every diagram's measures."""
    visit = SiteVisit()
    with serve_directory(built_site) as base:
        urls = _page_urls(built_site, base)
        assert len(urls) >= 5
        for name, url in urls:
            problems = mermaid_problems(browser_page, url, ARTIFACTS / f"{name.replace('/', '_')}.png")
            blocks = browser_page.evaluate(
                "() => [...document.querySelectorAll('.mermaid')].filter(e => (e.shadowRoot || e).querySelector('svg'))"
                ".length"
            )
            visit.rendered_blocks += blocks
            if blocks:
                visit.diagram_pages.append(url.removeprefix(base))
                visit.measures.extend(measure_diagrams(browser_page, name))
            if problems:
                visit.render_failures[url] = problems
            broken = browser_page.evaluate(BROKEN_CODE)
            if broken:
                visit.broken_code[name] = broken
    return visit


def test_every_page_renders_every_mermaid_block(light_visit: SiteVisit) -> None:
    assert not light_visit.render_failures, light_visit.render_failures
    assert light_visit.rendered_blocks >= 20  # every seed section page carries diagrams


def test_every_diagram_is_legible_at_1440_by_900(light_visit: SiteVisit) -> None:
    """Smallest rendered text at least 11 px, and no two labels touching, on every diagram."""
    assert len(light_visit.measures) >= 20
    problems = [p for m in light_visit.measures for p in m.problems]
    assert not problems, "\n".join(problems)


def test_no_code_name_breaks_across_lines_in_a_table(light_visit: SiteVisit) -> None:
    assert not light_visit.broken_code, light_visit.broken_code


def test_a_code_name_broken_across_lines_is_caught(tmp_path: Path, browser_page: Any) -> None:
    """The check above can fail: a narrow cell that breaks its code mid-word is reported."""
    (tmp_path / "index.html").write_text(
        '<!doctype html><html><body><div class="md-typeset"><table style="width: 80px"><tr><td>'
        '<code style="word-break: break-all">health_check_timeout_s</code></td></tr></table></div></body></html>',
        encoding="utf-8",
    )
    with serve_directory(tmp_path) as base:
        browser_page.goto(base, wait_until="load")
        assert browser_page.evaluate(BROKEN_CODE) == ["health_check_timeout_s"]


def test_dark_scheme_arrowheads_and_labels_contrast(built_site: Path, browser: Any, light_visit: SiteVisit) -> None:
    page = _new_page(browser, "dark")
    failures: list[str] = []
    checked = 0
    try:
        with serve_directory(built_site) as base:
            for rel in light_visit.diagram_pages:
                assert not mermaid_problems(page, base + rel)
                assert page.evaluate("() => document.body.getAttribute('data-md-color-scheme')") == "slate"
                background = parse_rgb(page.evaluate("() => getComputedStyle(document.body).backgroundColor"))
                for diagram in page.evaluate(COLOURS):
                    where = f"{rel or 'home'} diagram {diagram['index']} ({diagram['kind']})"
                    drawn = [("arrowhead", c) for c in diagram["markers"]] + [(t, c) for t, c in diagram["texts"]]
                    for what, colour in drawn:
                        if not colour.startswith("rgb"):
                            continue  # "none": an unfilled marker outline
                        checked += 1
                        ratio = contrast_ratio(parse_rgb(colour, background), background)
                        if ratio < MIN_CONTRAST:
                            failures.append(f"{where}: {what!r} {colour} is {ratio:.1f}:1 on the background")
            page.screenshot(path=str(ARTIFACTS / "dark-scheme.png"), full_page=False)
    finally:
        page.close()
    assert checked > 100
    assert not failures, "\n".join(sorted(set(failures))[:40])


def test_a_broken_label_is_caught(tmp_path: Path, browser_page: Any) -> None:
    """The render check above can fail: a block Mermaid cannot parse is reported."""
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "mermaid.min.js").write_bytes(MERMAID_JS.read_bytes())
    (tmp_path / "index.html").write_text(
        """<!doctype html><html><body>
<pre class="mermaid">sequenceDiagram
    participant a as A
    a->>a: fine
</pre>
<pre class="mermaid">sequenceDiagram
    participant a as A
    a->>: broken; label {with} #hash
    alt never closed
</pre>
<script src="js/mermaid.min.js"></script>
<script>mermaid.initialize({startOnLoad: true});</script>
</body></html>""",
        encoding="utf-8",
    )
    with serve_directory(tmp_path) as base:
        problems = mermaid_problems(browser_page, base, ARTIFACTS / "broken-label.png", timeout_ms=10_000)
    assert problems, "a syntactically broken diagram was not reported"


def test_tiny_text_touching_labels_and_dark_markers_are_caught(tmp_path: Path, browser: Any) -> None:
    """The legibility and contrast checks can fail: a shrunk diagram, "YesNo", a #333 arrowhead."""
    (tmp_path / "index.html").write_text(
        """<!doctype html><html><body style="background: rgb(30, 33, 41)">
<div class="mermaid"><svg width="200" height="50" viewBox="0 0 800 200" aria-roledescription="flowchart-v2">
  <defs><marker id="__mermaid_0-arrowhead"><path d="M0,0 L4,2 L0,4z" style="fill: #333"/></marker></defs>
  <g class="edgeLabel"><text x="100" y="100" font-size="16">Yes</text></g>
  <g class="edgeLabel"><text x="128" y="100" font-size="16">No</text></g>
</svg></div></body></html>""",
        encoding="utf-8",
    )
    page = _new_page(browser, "dark")
    try:
        with serve_directory(tmp_path) as base:
            page.goto(base, wait_until="load")
            [measure] = measure_diagrams(page, "fixture")
            [colours] = page.evaluate(COLOURS)
    finally:
        page.close()
    assert measure.smallest_px == pytest.approx(4.0, abs=0.1)  # 16 px drawn at a quarter of its size
    assert measure.overlaps == ("Yes / No",)
    assert len(measure.problems) == 2
    background = (30.0, 33.0, 41.0)
    assert contrast_ratio(parse_rgb(colours["markers"][0], background), background) < MIN_CONTRAST
