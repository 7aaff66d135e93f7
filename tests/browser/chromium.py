"""Shared pieces of the real-browser tests: a static server and a Mermaid render check."""

from __future__ import annotations

import functools
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

#: mkdocs-material renders each Mermaid block into a *closed* shadow root. Opening every shadow
#: root before any page script runs lets the test look inside.
OPEN_SHADOW_ROOTS = """(() => {
    const attach = Element.prototype.attachShadow;
    Element.prototype.attachShadow = function (init) { return attach.call(this, {...init, mode: 'open'}); };
})();"""

_ROOT = "(e => e.shadowRoot || e)"
#: Mermaid renders each block into an <svg>; a block it cannot parse becomes an error SVG whose
#: text says "Syntax error" (or the block is left unrendered). Wait until every block has an svg.
ALL_RENDERED = f"""() => [...document.querySelectorAll('.mermaid')].every(e => {_ROOT}(e).querySelector('svg'))"""
RENDER_ERRORS = f"""() => [...document.querySelectorAll('.mermaid')]
    .map((e, i) => [i, {_ROOT}(e).textContent || ''])
    .filter(([i, t]) => /Syntax error|Parse error|error in text/i.test(t))
    .map(([i, t]) => `block ${{i}}: ${{t.slice(0, 200)}}`)"""


#: An svg with no drawn text is as bad as none (Mermaid sometimes leaves an empty one on errors).
EMPTY_SVGS = f"""() => [...document.querySelectorAll('.mermaid')]
    .map((e, i) => [i, {_ROOT}(e).querySelector('svg')])
    .filter(([i, svg]) => svg && !(svg.textContent || '').trim())
    .map(([i]) => `block ${{i}}: empty SVG`)"""


def chromium_missing_reason() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} not installed (apt-get install chromium); .ci/run installs it"
    if shutil.which("node") is None:
        return "node is needed by playwright's driver"
    return None


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        pass


@contextmanager
def serve_directory(root: Path) -> Iterator[str]:
    """Serve `root` on 127.0.0.1 on a free port; yield the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def mermaid_problems(page: Any, url: str, screenshot: Path | None = None, timeout_ms: int = 30_000) -> list[str]:
    """Open `url`; return every Mermaid render problem on it (empty list when all blocks render)."""
    console_errors: list[str] = []
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
    page.goto(url, wait_until="load")
    problems: list[str] = []
    blocks = page.locator(".mermaid").count()
    if blocks:
        try:
            page.wait_for_function(ALL_RENDERED, timeout=timeout_ms)
        except Exception:  # playwright's TimeoutError: report which blocks stayed unrendered
            pending = page.evaluate(
                f"() => [...document.querySelectorAll('.mermaid')].filter(e => !{_ROOT}(e).querySelector('svg')).length"
            )
            problems.append(f"{pending} of {blocks} Mermaid blocks did not render to SVG")
        problems.extend(page.evaluate(RENDER_ERRORS))
    problems.extend(f"console error: {e}" for e in console_errors if "mermaid" in e.lower() or "syntax" in e.lower())
    if blocks:
        problems.extend(page.evaluate(EMPTY_SVGS))
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)
    return problems
