/*
 * Legible diagrams: every Mermaid diagram at its natural size, a click-to-enlarge view, and
 * dark-scheme colours for the parts Material's theme misses.
 *
 * Material renders each Mermaid block itself (in a closed shadow root) after calling
 * `mermaid.initialize` once with its own theme CSS. Mermaid's default `useMaxWidth` shrinks a
 * wide diagram to the content column, which put 52 diagrams' text at 2.5-8 px. This script is
 * loaded before mermaid.min.js, catches the moment the library defines `window.mermaid`, and
 * wraps `initialize` so Material's configuration gains:
 *
 *   - `useMaxWidth: false` for every diagram type: natural size, 16 px text, and the block
 *     scrolls horizontally (docs/stylesheets/wide.css) instead of shrinking;
 *   - the page's diagram font, so Mermaid sizes label boxes for the font the labels are drawn in;
 *   - CSS appended to Material's theme CSS: Mermaid 11 names sequence markers
 *     `<diagram id>-arrowhead` (Material styles `#arrowhead`), and gives the labels of the
 *     second and later branches of an alt block the class `sectionTitle` with a black fill;
 *     both follow the page's colour variables here.
 *
 * Clicking a diagram opens it in a full-window view (scrolling both ways, scaled up when it is
 * narrower than the window); clicking again or Escape closes it.
 */
(() => {
  "use strict";

  const THEME_CSS = [
    '[id$="-arrowhead"] path, [id$="-crosshead"] path, [id$="-filled-head"] path {' +
      " fill: var(--md-mermaid-sequence-message-line-color) !important;" +
      " stroke: var(--md-mermaid-sequence-message-line-color) !important; }",
    ".loopText, .loopText > tspan, .sectionTitle, .sectionTitle > tspan { fill: var(--md-mermaid-sequence-loop-fg-color) !important; }",
    ".labelText, .labelText > tspan { fill: var(--md-mermaid-sequence-label-fg-color) !important; }",
    ".noteText, .noteText > tspan { fill: var(--md-mermaid-sequence-note-fg-color) !important; }",
    ".messageText { fill: var(--md-mermaid-sequence-message-fg-color) !important; }",
    "marker path { fill: var(--md-mermaid-edge-color); stroke: var(--md-mermaid-edge-color); }",
  ].join("\n");

  const DIAGRAM_TYPES = ["flowchart", "sequence", "state", "class", "er", "gantt", "journey", "pie", "gitGraph"];

  // Material's CSS draws labels in --md-mermaid-font-family; Mermaid must measure them in the
  // same font, or a label wider than its measured box runs into its neighbour ("YesNo").
  function pageFont() {
    const family = getComputedStyle(document.body).getPropertyValue("--md-mermaid-font-family").trim();
    return family || undefined;
  }

  function naturalSize(config) {
    const merged = Object.assign({}, config || {});
    const font = pageFont();
    if (font) {
      merged.fontFamily = font;
      merged.themeVariables = Object.assign({}, merged.themeVariables || {}, { fontFamily: font });
    }
    for (const type of DIAGRAM_TYPES) {
      merged[type] = Object.assign({}, merged[type] || {}, { useMaxWidth: false });
    }
    // Wider than Mermaid's 50 px: the "Yes" and "No" labels of a decision's two edges touched.
    merged.flowchart.nodeSpacing = 80;
    // Material paints every `rect` block of a sequence diagram in one colour; the spec-vs-actual
    // diagrams shade spec-only and run-only messages in two, given in the diagram source.
    const material = (merged.themeCSS || "").replace(/rect\.rect\s*\{[^}]*\}/g, "");
    merged.themeCSS = material + "\n" + THEME_CSS;
    return merged;
  }

  function wrap(library) {
    if (!library || typeof library.initialize !== "function" || library.__naturalSize) return library;
    const initialize = library.initialize.bind(library);
    library.initialize = (config) => initialize(naturalSize(config));
    library.__naturalSize = true;
    return library;
  }

  let current = window.mermaid ? wrap(window.mermaid) : undefined;
  Object.defineProperty(window, "mermaid", {
    configurable: true,
    enumerable: true,
    get: () => current,
    set: (value) => {
      current = wrap(value);
    },
  });

  const ENLARGED = "diagram--enlarged";

  function close(host) {
    host.classList.remove(ENLARGED);
    host.style.removeProperty("zoom");
    document.documentElement.classList.remove("diagram-open");
  }

  function open(host) {
    host.classList.add(ENLARGED);
    document.documentElement.classList.add("diagram-open");
    // Scale a narrow diagram up to the window; a wide one keeps its size and scrolls.
    const natural = host.scrollWidth || 1;
    const zoom = Math.min(2, Math.max(1, (window.innerWidth - 48) / natural));
    host.style.zoom = String(zoom);
  }

  document.addEventListener("click", (event) => {
    const host = event.target instanceof Element ? event.target.closest(".mermaid") : null;
    if (!host) return;
    if (host.classList.contains(ENLARGED)) close(host);
    else open(host);
  });

  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    for (const host of document.querySelectorAll("." + ENLARGED)) close(host);
  });
})();
