"""What the LLM is asked for, and what is done with its answer before rendering.

The answer is taken from a code fence if there is one, checked to be an HTML
document with content, cleaned by nh3 (scripts, event handlers, iframes,
objects, forms and external URLs go; inline CSS stays, without `@import` or
non-`data:` `url()`), and wrapped with the base print stylesheet. The
renderer's sandbox still holds behind all of this.
"""

from __future__ import annotations

import html
import re

import nh3

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
_CSS_IMPORT = re.compile(r"@import[^;]*;?", re.I)
# A user's asset (`asset:NAME`): the pipeline serves it from the owner's assets, or refuses it.
_ASSET = r"asset:[A-Za-z0-9][A-Za-z0-9._-]{0,99}"
_CSS_URL = re.compile(r"url\(\s*(?!(['\"]?)(?:data:|" + _ASSET + r"\1\s*\)))[^)]*\)", re.I)
_STYLE_BLOCK = re.compile(r"<style\b[^>]*>(.*?)</style\s*>", re.I | re.S)
_BODY = re.compile(r"<body\b[^>]*>(.*?)(?:</body\s*>|\Z)", re.I | re.S)
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


def clean_css(css: str) -> str:
    """CSS without `@import` and without `url()`s other than `data:` ones and the owner's
    assets (`asset:NAME`)."""
    return _CSS_URL.sub("none", _CSS_IMPORT.sub("", css))


def clean_document(document: str, *, title: str | None = None) -> str:
    """A model's HTML document made safe and print-ready: sanitized body, cleaned inline CSS,
    the base print stylesheet first, and the document's own lang/dir kept."""
    styles = "\n".join(clean_css(m.group(1)) for m in _STYLE_BLOCK.finditer(document))
    body_match = _BODY.search(document)
    body = body_match.group(1) if body_match else _STYLE_BLOCK.sub("", document)
    safe_body = nh3.clean(
        body,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"data", "https", "http", "mailto", "asset"},
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
    safe_body = re.sub(r'style="([^"]*)"', lambda m: f'style="{clean_css(m.group(1))}"', safe_body)
    safe_body = re.sub(r'\bsrc="(?!data:|' + _ASSET + '")[^"]*"', 'src=""', safe_body)
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
