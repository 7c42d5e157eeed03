"""The layout half of the print-quality check, measured in the page before it prints.

The measurement runs from the controlling side (`Runtime.evaluate`), never as a script of
the page: a page's own scripts stay off. It lays the document out at the width of the
page's printable area (the request's paper and margins, or the document's `@page` rules)
and lists elements whose boxes pass that width and are not clipped by an ancestor
(`overflow`), visible text smaller than `MIN_READABLE_PT` at the print's scale
(`tiny_text`), and images that loaded nothing (`broken_image`). Blank pages and missing
glyphs are found in the PDF itself (`pdfprompt.pdf.printed_findings`).

It costs one evaluation that reads the page box and walks the document (element by
element for overflow only when the document is wider than the page at all); when the page
box differs from the previous document's, the window's emulated width is changed first and
the evaluation made again (docs/prompts.md, "Print-quality check")."""

from __future__ import annotations

import json
from typing import Any, Protocol

from pdfprompt.domain import (
    MAX_FINDINGS_PER_CODE,
    MIN_READABLE_PT,
    JobWarning,
    LayoutFinding,
    RenderOptions,
    inches,
    layout_warnings,
)

# The most text nodes the tiny-text walk looks at (a document of hundreds of pages has more;
# its first ones are enough to tell a style that prints too small).
MAX_TEXT_NODES = 20_000
# The widest page laid out for the check (a page of 5 m of paper; a wider @page is measured
# at this width).
MAX_LAYOUT_WIDTH_PX = 20_000
# The most elements the overflow walk looks at, and text nodes (as many) it measures.
MAX_ELEMENTS = 50_000
_PX_PER_IN = 96.0

# Reads the page's printable width in CSS px from the last `@page` rules that name a size
# or side margins (the request's own rule is the last one), else the defaults it is given.
_PAGE_BOX = """
(() => {
  const given = %s;
  const paper = {a3: [11.69, 16.54], a4: [8.27, 11.69], a5: [5.83, 8.27], b4: [9.84, 13.9],
    b5: [6.93, 9.84], letter: [8.5, 11], legal: [8.5, 14], ledger: [11, 17],
    tabloid: [11, 17]};
  const px = (value) => {
    try { return CSSNumericValue.parse(value).to('px').value; } catch (e) { return null; }
  };
  let width = given.width, left = given.left, right = given.right;
  const rules = [];
  const collect = (list) => {
    for (const rule of list) {
      if (rule instanceof CSSPageRule) {
        if (!rule.selectorText) rules.push(rule.style);
      } else if (rule.cssRules) {
        collect(rule.cssRules);
      }
    }
  };
  for (const sheet of document.styleSheets) {
    try { collect(sheet.cssRules); } catch (e) {}
  }
  for (const style of rules) {
    const size = style.getPropertyValue('size').trim().toLowerCase();
    if (size) {
      const words = size.split(/\\s+/);
      const named = words.find((w) => paper[w]);
      const landscape = words.includes('landscape');
      const lengths = words.map(px).filter((v) => v !== null);
      if (named) {
        const [w, h] = paper[named];
        width = (landscape ? h : w) * 96;
      } else if (lengths.length) {
        width = lengths[0];
      } else if (landscape || words.includes('portrait')) {
        const long = Math.max(given.paperWidth, given.paperHeight);
        const short = Math.min(given.paperWidth, given.paperHeight);
        width = landscape ? long : short;
      }
    }
    const l = px(style.getPropertyValue('margin-left').trim());
    const r = px(style.getPropertyValue('margin-right').trim());
    if (l !== null) left = l;
    if (r !== null) right = r;
  }
  return Math.max(50, (width - left - right) / given.scale);
})()
"""

# The page box, then the measurement if the window has its width (else the width).
_CHECK = """
(() => {
  const pageWidth = %s;
  if (Math.round(pageWidth) !== %d) return {pageWidth};
  return %s;  // (stripped: a line break after `return` would end the statement)
})()
"""

# Measures the document laid out at the printable width (the viewport's).
_MEASURE = """
(() => {
  const limit = %d, maxText = %d, minPx = %f, maxElements = %d;
  const width = document.documentElement.clientWidth;
  const found = [];
  const counts = {overflow: 0, tiny_text: 0, broken_image: 0};
  const body = document.body;
  if (!body) return {found, counts};
  const describe = (el) => {
    let name = el.localName;
    if (el.id) name += '#' + el.id;
    const classes = (el.getAttribute('class') || '').trim().split(/\\s+/).filter(Boolean);
    if (classes.length) name += '.' + classes.slice(0, 3).join('.');
    const parent = el.parentElement;
    if (parent && parent !== body && parent.localName !== 'html') {
      name = parent.localName + (parent.id ? '#' + parent.id : '') + ' > ' + name;
    }
    return name;
  };
  const words = (el) => (el.textContent || '').trim().slice(0, 80);
  const add = (code, el, detail, text) => {
    counts[code] += 1;
    if (counts[code] <= limit) {
      found.push({code, element: describe(el), text: text === undefined ? words(el) : text,
        detail});
    }
  };
  const shown = (el) => {
    const style = getComputedStyle(el);
    return style.visibility !== 'hidden' && style.display !== 'none' &&
      el.getClientRects().length > 0;
  };
  const clipped = (el) => {
    for (let a = el.parentElement; a && a !== body; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== 'visible') return true;
    }
    return false;
  };
  const past = (rect) => rect.right > width + 1 || rect.left < -1;
  const root = document.documentElement;
  if (root.scrollWidth > width + 1 || body.scrollWidth > width + 1) {
    const reported = new Set();
    const elements = body.getElementsByTagName('*');
    for (let i = 0; i < elements.length && i < maxElements; i++) {
      const el = elements[i];
      const rect = el.getBoundingClientRect();
      if (rect.width === 0 && rect.height === 0) continue;
      if (!past(rect)) continue;
      const parent = el.parentElement;
      if (parent !== body && past(parent.getBoundingClientRect())) continue;
      if (clipped(el) || !shown(el)) continue;
      reported.add(el);
      add('overflow', el, 'reaches ' + Math.round(rect.left < -1 ? -rect.left : rect.right) +
        ' px ' + (rect.left < -1 ? 'left of the page' : 'across a page ' + Math.round(width) +
        ' px wide'));
    }
    // Text that runs past the edge of a box that fits (a long word, a line that may not
    // wrap).
    const walker = document.createTreeWalker(body, NodeFilter.SHOW_TEXT);
    const range = document.createRange();
    let measured = 0;
    for (let node = walker.nextNode(); node && measured < maxElements;
         node = walker.nextNode()) {
      measured += 1;
      const el = node.parentElement;
      if (!el || reported.has(el) || !node.data.trim()) continue;
      range.selectNodeContents(node);
      const rect = range.getBoundingClientRect();
      if (!past(rect)) continue;
      let inside = false;
      for (let a = el; a && a !== body; a = a.parentElement) {
        if (reported.has(a)) { inside = true; break; }
      }
      if (inside || clipped(el) || !shown(el)) continue;
      reported.add(el);
      add('overflow', el, 'has text running ' + Math.round(rect.right - width) +
        ' px past the page\\'s edge', node.data.trim().slice(0, 80));
    }
  }
  const sizes = new Map();
  const walker = document.createTreeWalker(body, NodeFilter.SHOW_TEXT);
  let seen = 0;
  for (let node = walker.nextNode(); node && seen < maxText; node = walker.nextNode()) {
    if (!node.data.trim()) continue;
    seen += 1;
    const el = node.parentElement;
    if (!el || sizes.has(el)) continue;
    const size = parseFloat(getComputedStyle(el).fontSize);
    sizes.set(el, size);
    if (size < minPx && shown(el)) {
      add('tiny_text', el, (size * 0.75).toFixed(1) + ' pt', node.data.trim().slice(0, 80));
    }
  }
  for (const img of document.images) {
    const src = img.getAttribute('src') || img.getAttribute('srcset');
    if (!src || !img.complete || img.naturalWidth !== 0 || !shown(img)) continue;
    let where = img.currentSrc || src;
    if (where.startsWith('data:')) where = where.slice(0, where.indexOf(',') + 1) + '…';
    add('broken_image', img, '(' + where.slice(0, 120) + ')',
      img.getAttribute('alt') || '');
  }
  return {found, counts};
})()
"""


class InspectedPage(Protocol):
    """What the measurement needs of a page: a way to send it commands, and the width its
    layout is emulated at (None: the window's)."""

    layout_width: int | None

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]: ...


async def inspect_layout(
    page: InspectedPage, options: RenderOptions, refused: set[str], world: int | None = None
) -> list[JobWarning]:
    """The layout findings of the document `page` holds, printed with `options`, as
    warnings; images whose address the sandbox refused are left out (their
    `resource_refused` warning says it). `world`: the execution context to measure in (an
    isolated world, where the document's scripts ran), else the page's own."""
    paper_width, paper_height = options.paper_inches
    if options.landscape:
        paper_width, paper_height = paper_height, paper_width
    margin = options.page_margin
    given = {
        "width": paper_width * _PX_PER_IN,
        "paperWidth": paper_width * _PX_PER_IN,
        "paperHeight": paper_height * _PX_PER_IN,
        "left": inches(margin.left) * _PX_PER_IN,
        "right": inches(margin.right) * _PX_PER_IN,
        "scale": options.scale,
    }
    box = (_PAGE_BOX % json.dumps(given)).strip()
    min_px = MIN_READABLE_PT * 4 / 3 / options.scale
    measure = _MEASURE % (MAX_FINDINGS_PER_CODE + 1, MAX_TEXT_NODES, min_px, MAX_ELEMENTS)
    measure = measure.strip()
    # One evaluation: the page box, and the measurement when the window already has its
    # width; else the width, and a second one once the window has it.
    measured = await _evaluate(page, _CHECK % (box, page.layout_width or -1, measure), world)
    if isinstance(measured, dict) and "pageWidth" in measured:
        try:
            width = min(MAX_LAYOUT_WIDTH_PX, round(float(measured["pageWidth"])))
        except (TypeError, ValueError, OverflowError):
            return []
        # Kept for the page's next documents: a print lays the document out at its paper's
        # size whatever the window's (tests/integration/test_print_check.py), so renders of
        # one paper size after another change nothing.
        page.layout_width = None
        metrics = {"width": width, "height": 1000, "deviceScaleFactor": 1, "mobile": False}
        await page.call("Emulation.setDeviceMetricsOverride", metrics)
        page.layout_width = width
        measured = await _evaluate(page, _CHECK % (box, width, measure), world)
    try:
        return _warnings(measured, refused)
    except (AttributeError, TypeError, ValueError, KeyError):
        # Not expected (the document's scripts cannot reach the measurement's world): its
        # layout is then left unchecked, and the job goes on.
        return []


def _warnings(measured: Any, refused: set[str]) -> list[JobWarning]:
    """The warnings for the measurement's answer."""
    if not isinstance(measured, dict):
        return []
    findings = []
    counts = {str(k): int(v) for k, v in dict(measured.get("counts") or {}).items()}
    for item in list(measured.get("found") or [])[: 3 * (MAX_FINDINGS_PER_CODE + 1)]:
        code = str(item.get("code", ""))
        if code not in counts:
            continue
        detail = str(item.get("detail", ""))[:300]
        if code == "broken_image" and any(url and url[:100] in detail for url in refused):
            counts[code] -= 1
            continue
        findings.append(
            LayoutFinding(
                code, str(item.get("element", ""))[:200], str(item.get("text", ""))[:200], detail
            )
        )
    return layout_warnings(findings, counts)


async def _evaluate(page: InspectedPage, expression: str, world: int | None = None) -> Any:
    """The value of `expression` evaluated in the page (in `world` when given) by the
    controlling side (the page's own scripts may be off: this is not one of them)."""
    params: dict[str, Any] = {"expression": expression, "returnByValue": True, "silent": True}
    if world is not None:
        params["contextId"] = world
    answer = await page.call("Runtime.evaluate", params)
    if "exceptionDetails" in answer:
        return None
    return answer.get("result", {}).get("value")
