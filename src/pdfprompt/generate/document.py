"""What the LLM is asked for, and what is done with its answer before rendering.

The answer is taken from a code fence if there is one, checked to be an HTML
document with content, cleaned by nh3 (scripts, event handlers, iframes,
objects, forms and external URLs go; inline CSS stays, without `@import` or
non-`data:` `url()`), and wrapped with the base print stylesheet. Inline SVG
(charts) and `<img>`s of SVG data are kept by the SVG rules (`inline_svg.py`,
`svg.py`); SVG data in CSS goes. The renderer's sandbox still holds behind all
of this.
"""

from __future__ import annotations

import html
import re

import nh3

from pdfprompt.generate.inline_svg import clean_svg_src, put_back, set_aside
from pdfprompt.generate.markdown import print_stylesheet

SYSTEM_PROMPT = """You write print-ready documents as HTML.
Answer with one complete HTML document and nothing else: <!DOCTYPE html>, <html>, <head> with
<meta charset="utf-8"> and a <title>, and <body>.
- Semantic structure: headings in order, paragraphs, lists, tables with <thead>, <figure>.
- CSS only in one <style> element in <head> (no external stylesheets, fonts or images; no
  url() except data: URIs). No scripts, no event handlers, no forms, no iframes.
- Made for paper: A4 and US Letter friendly, `@page` margins around 16mm, print colours,
  font sizes in pt. Keep headings with the text after them (break-after: avoid) and never
  split a table row across pages (break-inside: avoid on tr).
- Charts and diagrams as inline <svg> in a <figure> with a <figcaption>: a viewBox, <text>
  labels and values, colours as fill/stroke; no scripts, animation, <foreignObject>, links
  or outside images (references only to #ids in the same SVG).
- Layouts that fit the page width: tables with few, narrow columns; long URLs, codes and
  identifiers in <a> or <code>, or with overflow-wrap: anywhere; break-inside: avoid on
  figures.
- Keep the user's language as written. For right-to-left scripts (Arabic, Hebrew, Persian,
  Urdu) set dir="rtl" and lang on <html>.
- Real, complete content: no placeholders like "Lorem ipsum" or "[Your name]" unless asked."""

_FENCE = re.compile(r"```(?:html|HTML)?\s*\n(.*?)```", re.S)
_TAGS = {
    "a", "abbr", "address", "article", "aside", "b", "bdi", "bdo", "blockquote", "br",
    "caption", "cite", "code", "col", "colgroup", "dd", "del", "details", "dfn", "div", "dl",
    "dt", "em", "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header",
    "hr", "i", "img", "ins", "kbd", "li", "main", "mark", "nav", "ol", "p", "pre", "q", "rp",
    "rt", "ruby", "s", "samp", "section", "small", "span", "strong", "sub", "summary", "sup",
    "table", "tbody", "td", "tfoot", "th", "thead", "time", "tr", "u", "ul", "var", "wbr",
}  # fmt: skip
_ATTRIBUTES = {
    "*": {"class", "id", "style", "dir", "lang", "title"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align", "scope"},
    "col": {"span"},
    "colgroup": {"span"},
    "ol": {"start", "type", "reversed"},
    "time": {"datetime"},
}
# A CSS escape: a backslash and 1-6 hex digits (one whitespace after them belongs to it),
# or a backslash and any other character but a line break.
_CSS_ESCAPE = re.compile(r"\\([0-9A-Fa-f]{1,6})\s?|\\([^\n\r\f0-9A-Fa-f])")
_IMAGE_SET = re.compile(r"(?:-webkit-)?image-set\((?:[^()]|\([^()]*\))*\)", re.I)
# A string in CSS, and what one naming an image may start with to be kept (as in url()).
_CSS_STRING = re.compile(r"""(['"])(.*?)(?:\1|$)""", re.S)
_KEPT_IMAGE = re.compile(r"\s*(?:data:(?!\s*image/svg)(?!.*\\)|asset:[A-Za-z0-9])", re.I | re.S)
_CSS_IMPORT = re.compile(r"@import[^;]*;?", re.I)
# A user's asset (`asset:NAME`): the pipeline serves it from the owner's assets, or refuses it.
_ASSET = r"asset:[A-Za-z0-9][A-Za-z0-9._-]{0,99}"
# Kept: `data:` URLs other than SVG ones (an SVG in CSS is not cleaned: it goes, and so does
# a data: URL with a CSS escape, which could spell one) and assets.
_CSS_URL = re.compile(
    r"url\(\s*(?!(['\"]?)(?:data:(?!\s*image/svg)(?![^)]*\\)|" + _ASSET + r"\1\s*\)))[^)]*\)",
    re.I,
)
_SRC = re.compile(r'\bsrc="([^"]*)"')
_KEPT_SRC = re.compile(r"^(?:data:|" + _ASSET + "$)")
_SVG_SRC = re.compile(r"^\s*data:image/svg", re.I)
_STYLE_BLOCK = re.compile(r"<style\b[^>]*>(.*?)</style\s*>", re.I | re.S)
_BODY_START = re.compile(r"<body\b[^>]*>", re.I)
_BODY_END = re.compile(r"</body\s*>", re.I)
_HTML_ATTRS = re.compile(r"<html\b([^>]*)>", re.I)
_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.I | re.S)
_ATTR = re.compile(r"""\b(lang|dir)\s*=\s*["']?([A-Za-z-]{1,20})["']?""", re.I)
_TEXT = re.compile(r"<[^>]+>")
_CONTENT_TAG = re.compile(r"<(html|body|h[1-6]|p|div|table|section|main|article)\b", re.I)


def messages(
    prompt: str, *, tone: str | None = None, kind: str | None = None
) -> list[dict[str, str]]:
    """The chat messages asking for a document from `prompt`."""
    ask = []
    if kind and kind != "document":
        ask.append(f"The document is a {kind}.")
    if tone and tone != "neutral":
        ask.append(f"Write it in a {tone} tone.")
    preface = (" ".join(ask) + "\n\n") if ask else ""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": preface + prompt},
    ]


def revise_messages(
    previous: str, instructions: str, *, tone: str | None = None, kind: str | None = None
) -> list[dict[str, str]]:
    """The chat messages asking for an edit of `previous` (a whole HTML document): the model
    gets the document itself, not the prompt that made it."""
    ask = messages(instructions, tone=tone, kind=kind)
    ask[1]["content"] = (
        "Here is the current document:\n\n```html\n"
        + previous
        + "\n```\n\nRevise it as follows, keeping everything else as it is, and answer with "
        "the complete revised document:\n\n" + ask[1]["content"]
    )
    return ask


def extract_html(answer: str) -> str | None:
    """The HTML document in a model's answer (inside a code fence if there is one), or None
    when there is no HTML with visible text in it."""
    fenced = _FENCE.search(answer)
    text = (fenced.group(1) if fenced else answer).strip()
    if "<" not in text or not re.search(
        r"<(html|body|h[1-6]|p|div|table|section|main)\b", text, re.I
    ):
        return None
    visible = _TEXT.sub(" ", _STYLE_BLOCK.sub(" ", text))
    if not visible.strip():
        return None
    return text


def _plain_escape(match: re.Match[str]) -> str:
    """A CSS escape that stands for a letter, digit or hyphen, as that character (it means
    the same in a name or a string); any other escape as it was."""
    hex_code, other = match.group(1), match.group(2)
    if hex_code is not None:
        number = int(hex_code, 16)
        char = chr(number) if number < 0x110000 else ""
    else:
        char = other
    return char if char.isascii() and (char.isalnum() or char == "-") else match.group(0)


def _clean_image_set(match: re.Match[str]) -> str:
    """`image-set()` names images with bare strings too: kept only when each is `data:`."""
    strings = (m.group(2) for m in _CSS_STRING.finditer(match.group(0)))
    return match.group(0) if all(_KEPT_IMAGE.match(text) for text in strings) else "none"


def clean_css(css: str) -> str:
    r"""CSS without `@import` and without `url()`s or `image-set()` strings other than
    `data:` ones and the owner's assets (`asset:NAME`). Escapes that spell letters are read
    first: `\75 rl(` and `@\69mport` are `url(` and `@import`."""
    css = _CSS_ESCAPE.sub(_plain_escape, css)
    css = _CSS_URL.sub("none", _CSS_IMPORT.sub("", css))
    return _IMAGE_SET.sub(_clean_image_set, css)


def _clean_src(match: re.Match[str]) -> str:
    """An image's `src`: a data: URL (an SVG one cleaned) or an asset; any other, emptied."""
    src = html.unescape(match.group(1))
    if _SVG_SRC.match(src):
        return f'src="{html.escape(clean_svg_src(src))}"'
    return match.group(0) if _KEPT_SRC.match(src) else 'src=""'


def _body(document: str) -> str:
    """What a browser shows of `document`: from its first `<body>` to its last `</body>`
    (a stray `</body>` in the middle ends nothing there: the text after it is still shown),
    or without a `<body>` the whole document less its style blocks."""
    start = _BODY_START.search(document)
    if start is None:
        return _STYLE_BLOCK.sub("", document)
    end = len(document)
    for end_tag in _BODY_END.finditer(document, start.end()):
        end = end_tag.start()
    return document[start.end() : end]


def clean_document(document: str, *, title: str | None = None) -> str:
    """A model's HTML document made safe and print-ready: sanitized body, cleaned inline CSS,
    the base print stylesheet first, and the document's own lang/dir kept."""
    styles = "\n".join(clean_css(m.group(1)) for m in _STYLE_BLOCK.finditer(document))
    body = _body(document)
    body, drawings = set_aside(body)
    safe_body = nh3.clean(
        body,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"data", "https", "http", "mailto", "asset"},
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
    safe_body = re.sub(r'style="([^"]*)"', lambda m: f'style="{clean_css(m.group(1))}"', safe_body)
    safe_body = _SRC.sub(_clean_src, safe_body)
    safe_body = put_back(safe_body, drawings)
    root = _HTML_ATTRS.search(document)
    attrs = dict((k.lower(), v) for k, v in _ATTR.findall(root.group(1))) if root else {}
    root_attrs = "".join(f' {k}="{html.escape(v)}"' for k, v in sorted(attrs.items()))
    found_title = _TITLE.search(document)
    doc_title = title or (
        html.unescape(_TEXT.sub("", found_title.group(1))).strip() if found_title else ""
    )
    title_tag = f"<title>{html.escape(doc_title)}</title>" if doc_title else ""
    return (
        f'<!DOCTYPE html><html{root_attrs}><head><meta charset="utf-8">{title_tag}'
        f"<style>{print_stylesheet()}</style><style>{styles}</style></head>"
        f"<body>{safe_body}</body></html>"
    )
