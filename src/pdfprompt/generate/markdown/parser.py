"""pdfprompt's Markdown parser: CommonMark with GitHub's extensions (tables with alignment,
strikethrough, task lists, autolinks), footnotes, definition lists, heading ids, TeX math,
highlighted code, GitHub's callouts (`> [!NOTE]`), page breaks and a contents marker. Raw
HTML is shown as text, never run. `render_body` turns Markdown into the body's HTML.

comrak (a Rust CommonMark/GFM library) parses and writes the HTML. What it has no option
for is done on its output, whose shape is fixed: every tag in it is comrak's own (raw HTML
arrives escaped, code and formulas as escaped text), so a few precise patterns, each pass
linear in the HTML, find headings, code blocks, formulas, callouts and markers."""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import comrak

from pdfprompt.domain import JobWarning, check_markdown
from pdfprompt.generate.markdown.code import code_block
from pdfprompt.generate.markdown.math import formula
from pdfprompt.generate.markdown.typography import (
    language_quotes,
    quotes_for,
    replacements,
    stand_ins,
)

ADMONITIONS = {
    "note": "Note",
    "tip": "Tip",
    "important": "Important",
    "warning": "Warning",
    "caution": "Caution",
}
CONTENTS_TITLES = {
    "de": "Inhalt",
    "fr": "Table des matières",
    "es": "Índice",
    "it": "Indice",
    "pt": "Sumário",
    "nl": "Inhoud",
}


_NOT_WORD = re.compile(r"[^\w\- ]")
_HYPHENS = re.compile(r"-{2,}")


@dataclass(frozen=True, slots=True)
class Heading:
    """A heading of the document: its level (1-6), id, text and section number ('' unless
    headings are numbered)."""

    level: int
    id: str
    text: str
    number: str = ""


def slug(text: str) -> str:
    """A heading's id: its words in lower case joined by hyphens, letters of any script kept
    ("section" when nothing is left); `render_body` makes repeated ones unique."""
    words = _NOT_WORD.sub("", text.strip().lower()).replace(" ", "-")
    return _HYPHENS.sub("-", words).strip("-") or "section"


@functools.cache
def comrak_options() -> tuple[comrak.ExtensionOptions, comrak.ParseOptions, comrak.RenderOptions]:
    """comrak's configuration. GitHub's callouts are found by `_callouts`, not by comrak's
    `alerts`: that extension's search is quadratic in the nesting depth of block quotes (a
    line of 100,000 `>` took it 8 s, against 0.03 s without it)."""
    extensions = comrak.ExtensionOptions()
    extensions.autolink = True
    extensions.description_lists = True
    extensions.footnotes = True
    extensions.math_dollars = True
    extensions.strikethrough = True
    extensions.table = True
    extensions.tasklist = True
    parse = comrak.ParseOptions()
    parse.smart = True
    render = comrak.RenderOptions()
    render.escape = True  # raw HTML is shown as text
    render.full_info_string = True  # a fence's info string after its language: data-meta
    render.tasklist_classes = True
    return extensions, parse, render


_HEADING = re.compile(r"<h([1-6])>(.*?)</h\1>", re.S)
# The container tags comrak writes: a heading inside one is not a section of the document.
_CONTAINER = re.compile(r"<(/?)(?:blockquote>|li\b|dd>|section\b)")
_HEADING_ID = re.compile(r"\s+\{#([A-Za-z][A-Za-z0-9_:.-]{0,99})\}\s*$")
_FOOTNOTE_REF = r'<sup class="footnote-ref">.*?</sup>'
_NOT_TEXT = re.compile(_FOOTNOTE_REF + r"|<[^>]*>", re.S)
_NOT_SLUG = re.compile(_FOOTNOTE_REF + r'|<span data-math-style="[a-z]+">[^<]*</span>|<[^>]*>')
_MARKER = r"\\pagebreak|\\newpage|\[\[(?:_?toc_?|<em>toc</em>)\]\]|&lt;!--\s*page-?break\s*--&gt;"
_MAY_BE_MARKER = (
    re.compile(r"\\(?i:pagebreak|newpage)"),
    re.compile(r"\[\["),
    re.compile("&lt;!--"),
)
# What `_blocks` replaces: code blocks (their text escaped, so free of "<"), a paragraph
# that is one display formula (with its label), any other formula; and where there may be
# markers, a marker's line (slower to look for: only then).
_CODE_AND_MATH = (
    r'<(?:pre><code((?: [a-z-]+="[^"]*")*)>([^<]*)</code></pre>\n'
    r'|p><span data-math-style="display">([^<]*)</span>(?: \(([^\s()<]{1,100})\))?</p>\n'
    r'|span data-math-style="(inline|display)">([^<]*)</span>)'
)
_BLOCKS = re.compile(_CODE_AND_MATH)
_BLOCKS_AND_MARKERS = re.compile(_CODE_AND_MATH + rf"|^(<p>)?(?i:({_MARKER}))(</p>)?\n", re.M)
_ATTRIBUTE = re.compile(r'([a-z-]+)="([^"]*)"')
_CALLOUT = re.compile(
    r"<(?:blockquote>\n(?:<p>\[!(?i:(NOTE|TIP|IMPORTANT|WARNING|CAUTION))\](?:<br />)?"
    r"(\n|</p>\n))?|/blockquote>\n)"
)
_MAY_BE_CALLOUT = re.compile(r"\[!")
_PAGE_BREAK = '<div class="page-break" aria-hidden="true"></div>\n'
_ALIGNED = re.compile(r'<t[hd] align="')
_DEL = re.compile(r"<(/?)del>")
_FOOTNOTES = re.compile('<section class="footnotes" data-footnotes>\n<ol>\n')
_FOOTNOTES_OPENING = (
    '<hr class="footnotes-sep">\n<section class="footnotes">\n<ol class="footnotes-list">\n'
)
_FOOTNOTE = re.compile('<li id="fn-')


def _formula(env: dict[str, Any], tex: str, *, display: bool) -> str:
    """A formula of the document, counted (`math.MAX_FORMULAS`)."""
    count = env.get("formulas", 0)
    env["formulas"] = count + 1
    return formula(tex, display=display, warnings=_warnings(env), count=count)


def _warnings(env: dict[str, Any]) -> list[JobWarning]:
    found = env.setdefault("warnings", [])
    assert isinstance(found, list)
    return found


def _unique(base: str, taken: set[str], counters: dict[str, int]) -> str:
    """`base`, else `base-1`, `base-2`… the first not taken (each base remembers where it
    got to, so many equal headings cost no more than different ones)."""
    if base not in taken:
        taken.add(base)
        return base
    n = counters.get(base, 1)
    while f"{base}-{n}" in taken:
        n += 1
    counters[base] = n + 1
    taken.add(f"{base}-{n}")
    return f"{base}-{n}"


def _headings(out: str, env: dict[str, Any]) -> str:
    """Each heading given its id (its own `{#id}`, else its slug made unique) and, when
    `env["numbered"]`, its number; the document's headings (those outside quotes, lists and
    notes) collected into `env["headings"]`, numbered as 1, 1.1, 1.1.1: from level 2 when the
    first heading is the only level-1 one (the title), else from the top level used."""
    found: list[tuple[re.Match[str], int, str, str | None, bool]] = []
    depth = 0
    since = 0
    for match in _HEADING.finditer(out):
        tags = _CONTAINER.findall(out, since, match.start())  # "" opens, "/" closes
        depth += len(tags) - 2 * tags.count("/")
        since = match.end()
        inner = match.group(2)
        own = _HEADING_ID.search(inner)
        written = None
        if own is not None and own.start() > 0:
            written, inner = own.group(1), inner[: own.start()]
        found.append((match, int(match.group(1)), inner, written, depth == 0))
    if not found:
        env["headings"], env["top_level"] = [], 1
        return out
    taken = {written for *_, written, _ in found if written}
    counters: dict[str, int] = {}
    levels = [level for _, level, _, _, top_level in found if top_level]
    top = 2 if levels and levels[0] == 1 and levels.count(1) == 1 else min(levels, default=1)
    numbered = bool(env.get("numbered"))
    counts = [0] * 7
    headings = []
    parts = []
    done = 0
    for match, level, inner, written, top_level in found:
        ident = written or _unique(slug(html.unescape(_NOT_SLUG.sub("", inner))), taken, counters)
        number = ""
        if top_level:
            if numbered and top <= level <= top + 2:
                counts[level] += 1
                counts[level + 1 :] = [0] * (6 - level)
                number = ".".join(str(max(n, 1)) for n in counts[top : level + 1])
            text = html.unescape(_NOT_TEXT.sub("", inner)).replace("\n", "").strip()
            headings.append(Heading(level, ident, text, number))
        secno = f'<span class="secno">{number}</span> ' if number else ""
        parts += [
            out[done : match.start()],
            f'<h{level} id="{html.escape(ident)}">{secno}{inner}</h{level}>',
        ]
        done = match.end()
    parts.append(out[done:])
    env["headings"], env["top_level"] = headings, top
    return "".join(parts)


def _blocks(out: str, env: dict[str, Any]) -> str:
    """Code blocks highlighted, formulas as MathML, markers as page breaks and contents, in
    the document's order (formulas are counted)."""

    def block(found: re.Match[str]) -> str:
        if found.group(2) is not None:
            return _code(found.group(1), html.unescape(found.group(2)), env)
        if found.group(3) is not None:
            shown = _formula(env, html.unescape(found.group(3)), display=True)
            if found.group(4) is None:
                return shown + "\n"
            label = html.escape(html.unescape(found.group(4)))
            return (
                f'<div class="math-labelled" id="{label}">{shown}'
                f'<span class="math-label">({label})</span></div>\n'
            )
        if found.group(6) is not None:
            display = found.group(5) == "display"
            return _formula(env, html.unescape(found.group(6)), display=display)
        return _marker(found.group(8), found.group(7) is not None, found.group(9) is not None, env)

    markers = any(pattern.search(out) for pattern in _MAY_BE_MARKER)
    return (_BLOCKS_AND_MARKERS if markers else _BLOCKS).sub(block, out)


def _code(attributes: str, text: str, env: dict[str, Any]) -> str:
    """A code block (its language and the rest of its info string are comrak's `class` and
    `data-meta`), or a formula when the language is `math`."""
    named = dict(_ATTRIBUTE.findall(attributes))
    language = html.unescape(named.get("class", "").removeprefix("language-"))
    info = f"{language} {html.unescape(named.get('data-meta', ''))}".strip()
    if language == "math":
        return _formula(env, text, display=True)
    return code_block(text, info)


def _marker(marker: str, opens: bool, closes: bool, env: dict[str, Any]) -> str:
    """A line that is only a page break (`\\pagebreak`, `\\newpage`, `<!-- pagebreak -->`)
    or the contents marker (`[[toc]]`), taken out of the paragraph it is in."""
    if marker.startswith("["):
        shown = ""
        if not env.get("toc_done"):
            env["toc_done"] = True
            shown = contents(env.get("headings", []), env.get("top_level", 1), env.get("lang", ""))
    else:
        shown = _PAGE_BREAK
    if marker.startswith("&"):  # a comment: a block of its own
        return shown
    before = "" if opens else "</p>\n"
    after = "" if closes else "<p>"
    return before + shown + after


def _callouts(out: str) -> str:
    """A block quote whose first line is `[!NOTE]` (TIP, IMPORTANT, WARNING, CAUTION) as a
    titled box, as on GitHub; one pass, whatever the nesting."""
    if _MAY_BE_CALLOUT.search(out) is None:
        return out
    kinds: list[str | None] = []

    def callout(found: re.Match[str]) -> str:
        if found.group(0).startswith("</"):
            return "</div>\n" if kinds and kinds.pop() else found.group(0)
        name = found.group(1)
        kinds.append(name)
        if name is None:
            return found.group(0)
        kind = name.lower()
        more = "<p>" if found.group(2) == "\n" else ""
        return (
            f'<div class="admonition {kind}" role="note">'
            f'<p class="admonition-title">{ADMONITIONS[kind]}</p>\n{more}'
        )

    return _CALLOUT.sub(callout, out)


def contents(headings: Sequence[Heading], top: int, lang: str) -> str:
    """The table of contents: a link to each heading of the top three numbered levels, the
    page number after it where the engine can (CSS `target-counter`, docs/markdown.md)."""
    title = CONTENTS_TITLES.get(lang.split("-")[0].lower(), "Contents")
    items = []
    for heading in headings:
        if not top <= heading.level <= top + 2 or not heading.id:
            continue
        number = f'<span class="secno">{heading.number}</span> ' if heading.number else ""
        items.append(
            f'<li class="toc-level-{heading.level - top + 1}">'
            f'<a href="#{html.escape(heading.id)}">{number}{html.escape(heading.text)}</a></li>'
        )
    return (
        f'<nav class="toc" role="doc-toc"><p class="toc-title">{title}</p>'
        f"<ol>{''.join(items)}</ol></nav>\n"
    )


def render_body(text: str, env: dict[str, Any], *, lang: str = "") -> str:
    """The Markdown `text` as the body's HTML; `env` collects `warnings` (JobWarning) and
    `headings` (Heading); `env["numbered"]` numbers the headings."""
    check_markdown(text)  # before comrak: a table's cells are made whatever the rows hold
    env.setdefault("lang", lang)
    quotes = quotes_for(lang)
    source, stood_in = stand_ins(text, quotes)
    extensions, parse, render = comrak_options()
    out = comrak.render_markdown(
        source, extension_options=extensions, parse_options=parse, render_options=render
    )
    out = language_quotes(replacements(out), quotes, stood_in)
    out = _callouts(_blocks(_headings(out, env), env))
    if _ALIGNED.search(out) is not None:
        for side in ("left", "right", "center"):
            out = out.replace(f' align="{side}">', f' style="text-align:{side}">')
    out = _DEL.sub(r"<\1s>", out)
    if _FOOTNOTES.search(out) is not None:
        out = _FOOTNOTES.sub(_FOOTNOTES_OPENING, out, count=1)
        out = _FOOTNOTE.sub('<li class="footnote-item" id="fn-', out)
    return out
