"""Issue 6 §4: build the docs, serve them on 127.0.0.1, open every page in headless Chromium.

Every Mermaid block must render to an SVG without a syntax error. Screenshots are kept in
``test-artifacts/screenshots/`` as evidence. Mermaid's JavaScript comes from the npm package
(``npm install --no-save mermaid@11``), served by the site itself.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
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

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
MERMAID_JS = ROOT / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"

_missing = chromium_missing_reason() or (
    None if MERMAID_JS.exists() else f"{MERMAID_JS} missing: run `npm install --no-save mermaid@11`"
)
pytestmark = pytest.mark.skipif(_missing is not None, reason=_missing or "")


@pytest.fixture(scope="module")
def browser_page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.add_init_script(OPEN_SHADOW_ROOTS)
            yield page
        finally:
            browser.close()


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return site


def test_every_page_renders_every_mermaid_block(built_site: Path, browser_page: Any) -> None:
    pages = sorted(p for p in built_site.rglob("index.html") if "assets" not in p.parts)
    assert len(pages) >= 5
    rendered_blocks = 0
    failures: dict[str, list[str]] = {}
    with serve_directory(built_site) as base:
        for html in pages:
            rel = html.parent.relative_to(built_site).as_posix()
            url = base + ("" if rel == "." else rel + "/")
            name = "home" if rel == "." else rel.replace("/", "_")
            problems = mermaid_problems(browser_page, url, ARTIFACTS / f"{name}.png")
            rendered_blocks += browser_page.evaluate(
                "() => [...document.querySelectorAll('.mermaid')].filter(e => (e.shadowRoot || e).querySelector('svg'))"
                ".length"
            )
            if problems:
                failures[url] = problems
    assert not failures, failures
    assert rendered_blocks >= 20  # every seed section page carries diagrams


def test_a_broken_label_is_caught(tmp_path: Path, browser_page: Any) -> None:
    """The check above can fail: a block Mermaid cannot parse is reported."""
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
