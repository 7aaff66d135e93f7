"""Measuring a rendered Mermaid diagram the way a reader sees it: text size, label overlaps, contrast.

Mermaid scales each SVG to fit its container unless told not to, so the font size in the
source says nothing about what lands on screen. These probes run in the page (with shadow
roots opened by `chromium.OPEN_SHADOW_ROOTS`) and read sizes off the screen transform:

* the smallest rendered text height of a diagram, as computed font size times the scale from
  SVG units to CSS pixels (a reader at 1440x900 cannot read under 11 px);
* every pair of edge or message labels whose boxes intersect (``Yes``/``No`` drawn as
  ``YesNo``);
* the fill of every arrowhead marker and the colour of every text, for the dark-scheme test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Readers of the site at 1440x900 need at least this text height, in CSS pixels.
MIN_TEXT_PX = 11.0

_ROOT = "(e => e.shadowRoot || e)"

#: Per rendered diagram: index, smallest text px (with its text), and overlapping label pairs.
MEASURE = f"""() => {{
  const out = [];
  const blocks = [...document.querySelectorAll('.mermaid')];
  blocks.forEach((host, index) => {{
    const svg = {_ROOT}(host).querySelector('svg');
    if (!svg || svg.getBoundingClientRect().width === 0) return;  // hidden (inactive tab)
    let smallest = Infinity, smallestText = '';
    const scaleOf = el => {{
      const anchor = el instanceof SVGGraphicsElement ? el : el.closest('foreignObject');
      const ctm = anchor && anchor.getScreenCTM();
      return ctm ? Math.hypot(ctm.a, ctm.b) : 1;
    }};
    const leaves = [...svg.querySelectorAll('text, tspan, foreignObject *')].filter(el =>
      [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()));
    for (const el of leaves) {{
      const rect = el.getBoundingClientRect();
      if (rect.width === 0 && rect.height === 0) continue;
      const px = parseFloat(getComputedStyle(el).fontSize) * scaleOf(el);
      if (px < smallest) {{ smallest = px; smallestText = el.textContent.trim().slice(0, 60); }}
    }}
    const selector = '.edgeLabel, .messageText, .loopText, .labelText';
    // The outermost label element only: Mermaid nests a span.edgeLabel inside g.edgeLabel.
    const labels = [...svg.querySelectorAll(selector)]
      .filter(el => (el.textContent || '').trim() && !el.parentElement.closest(selector))
      .map(el => [el.textContent.trim(), el.getBoundingClientRect()])
      .filter(([t, r]) => r.width > 0 && r.height > 0);
    const overlaps = [];
    for (let a = 0; a < labels.length; a++) {{
      for (let b = a + 1; b < labels.length; b++) {{
        const [ta, ra] = labels[a], [tb, rb] = labels[b];
        const w = Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left);
        const h = Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top);
        // Touching counts: two labels with no gap between them read as one word ("YesNo").
        if (w > -1 && h > 2) overlaps.push(`${{ta}} / ${{tb}}`);
      }}
    }}
    out.push({{index, smallest, smallestText, overlaps: overlaps.slice(0, 5),
               kind: svg.getAttribute('aria-roledescription') || ''}});
  }});
  return out;
}}"""

#: Per rendered diagram: the fill of each sequence arrowhead marker path and each label's colour.
COLOURS = f"""() => [...document.querySelectorAll('.mermaid')].map((host, index) => {{
  const svg = {_ROOT}(host).querySelector('svg');
  if (!svg || svg.getBoundingClientRect().width === 0) return null;
  const markers = [...svg.querySelectorAll('marker path')].map(p => getComputedStyle(p).fill);
  const selector = ['.messageText', '.loopText', '.loopText > tspan', '.sectionTitle', '.labelText', '.noteText',
                    'text.actor > tspan'].join(', ');
  const texts = [...svg.querySelectorAll(selector)]
    .filter(el => (el.textContent || '').trim())
    .map(el => [el.textContent.trim().slice(0, 40), getComputedStyle(el).fill]);
  return {{index, markers, texts, kind: svg.getAttribute('aria-roledescription') || ''}};
}}).filter(x => x)"""


@dataclass(frozen=True)
class DiagramMeasure:
    """One rendered diagram on one page."""

    page: str
    index: int
    kind: str
    smallest_px: float
    smallest_text: str
    overlaps: tuple[str, ...]

    @property
    def problems(self) -> list[str]:
        where = f"{self.page} diagram {self.index} ({self.kind})"
        found = []
        if self.smallest_px < MIN_TEXT_PX:
            found.append(f"{where}: text {self.smallest_text!r} is {self.smallest_px:.1f} px (< {MIN_TEXT_PX:g})")
        found.extend(f"{where}: labels overlap: {pair}" for pair in self.overlaps)
        return found


def measure_diagrams(page: Any, name: str) -> list[DiagramMeasure]:
    """Measure every visible rendered diagram on the open `page` (already rendered)."""
    return [
        DiagramMeasure(name, m["index"], m["kind"], float(m["smallest"]), m["smallestText"], tuple(m["overlaps"]))
        for m in page.evaluate(MEASURE)
    ]


RGB = tuple[float, float, float]


def parse_rgb(colour: str, background: RGB = (255.0, 255.0, 255.0)) -> RGB:
    """``rgb(51, 51, 51)`` → (51, 51, 51); an ``rgba`` colour is composited on `background`."""
    inner = colour[colour.index("(") + 1 : colour.index(")")]
    parts = [float(part) for part in inner.replace("/", ",").split(",")]
    alpha = parts[3] if len(parts) > 3 else 1.0
    red, green, blue = (alpha * c + (1 - alpha) * b for c, b in zip(parts[:3], background, strict=True))
    return red, green, blue


def contrast_ratio(one: RGB, two: RGB) -> float:
    """WCAG 2 contrast ratio of two sRGB colours (1 to 21)."""

    def luminance(rgb: RGB) -> float:
        channels = [c / 255 for c in rgb]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(one), luminance(two)), reverse=True)
    return (high + 0.05) / (low + 0.05)
