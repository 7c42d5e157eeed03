"""A Markdown document made into a complete, print-ready HTML document: its front matter
read, the body converted (`parser.render_body`), a title page or title block and the table
of contents where the theme and options ask, and the stylesheets inlined in order: the base
print stylesheet, the Markdown features', the theme's, the writer's own `css`."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from pdfprompt.domain import (
    LANG_PATTERN,
    MAX_USER_CSS_CHARS,
    THEMES,
    FrontMatter,
    InvalidInputError,
    JobWarning,
    RenderOptions,
    split_front_matter,
)
from pdfprompt.generate.markdown.parser import contents, render_body

DEFAULT_THEME = "default"
# Themes that show the front matter's title, author and date above the text.
_TITLE_PAGE_THEMES = frozenset({"report"})
_TITLE_BLOCK_THEMES = frozenset({"academic"})
_LANG = re.compile(LANG_PATTERN)


@dataclass(frozen=True, slots=True)
class MarkdownDocument:
    """What a Markdown document becomes: the HTML `html`, what could not be done as written
    (`warnings`: formulas shown as source, front matter values ignored), and its
    `front_matter` (whose `.options` are the render options it names)."""

    html: str
    warnings: tuple[JobWarning, ...] = ()
    front_matter: FrontMatter = field(default_factory=FrontMatter)


@dataclass(frozen=True, slots=True)
class _Look:
    title: str | None
    author: str | None
    subject: str | None
    date: str | None
    lang: str
    theme: str
    toc: bool
    css: str | None
    show_title: bool


@cache
def _stylesheet(name: str) -> str:
    root = resources.files("pdfprompt.generate")
    if name == "print":
        return root.joinpath("print.css").read_text("utf-8")
    if name == "markdown":
        return root.joinpath("markdown", "markdown.css").read_text("utf-8")
    return root.joinpath("markdown", "themes", f"{name}.css").read_text("utf-8")


def print_stylesheet() -> str:
    """The base print stylesheet every generated document is wrapped with."""
    return _stylesheet("print")


def theme_stylesheet(theme: str) -> str:
    """The Markdown features' stylesheet and the theme's, as one."""
    if theme not in THEMES:
        raise ValueError(f"no theme {theme!r}")
    return _stylesheet("markdown") + "\n" + _stylesheet(theme)


def _user_css(css: str) -> str:
    """The writer's stylesheet made unable to load anything (`clean_css`) or to end the
    `<style>` element it is put in."""
    from pdfprompt.generate.document import clean_css  # that module uses this package

    return clean_css(css[:MAX_USER_CSS_CHARS]).replace("<", "\\3c ")


def wrap_document(
    body_html: str,
    *,
    title: str | None = None,
    lang: str = "",
    theme: str | None = None,
    css: str | None = None,
) -> str:
    """A full HTML document around `body_html`, with the print stylesheet inlined; with a
    `theme`, the Markdown stylesheets too, and the writer's `css` after them."""
    title_tag = f"<title>{html.escape(title)}</title>" if title else ""
    lang_attr = f' lang="{html.escape(lang)}"' if lang else ""
    styles = print_stylesheet()
    classes = "pdfprompt-doc"
    if theme is not None:
        styles += "\n" + theme_stylesheet(theme)
        classes += f" markdown theme-{theme}"
    if css:
        styles += "\n" + _user_css(css)
    return (
        f'<!DOCTYPE html><html{lang_attr}><head><meta charset="utf-8">{title_tag}'
        f"<style>{styles}</style></head>"
        f'<body><main class="{classes}">{body_html}</main></body></html>'
    )


def _front_value(front: FrontMatter, key: str, kind: type, warnings: list[JobWarning]) -> Any:
    value = front.options.get(key)
    if value is None or isinstance(value, kind):
        return value
    warnings.append(
        JobWarning("front_matter_ignored", f"front matter {key}: not a {kind.__name__}; ignored")
    )
    return None


def _look(options: RenderOptions, front: FrontMatter, warnings: list[JobWarning]) -> _Look:
    """What the document looks like: the request's options, else the front matter's (checked
    again here: a document that did not come through the API's checks may hold anything)."""
    theme = options.theme or _front_value(front, "theme", str, warnings) or DEFAULT_THEME
    if theme not in THEMES:
        warnings.append(
            JobWarning("front_matter_ignored", f"front matter theme: no theme {theme[:40]!r}")
        )
        theme = DEFAULT_THEME
    lang = options.lang or _front_value(front, "lang", str, warnings) or ""
    if lang and not _LANG.match(lang):
        warnings.append(
            JobWarning("front_matter_ignored", f"front matter lang: {lang[:40]!r} is no language")
        )
        lang = ""
    toc = options.toc if options.toc is not None else _front_value(front, "toc", bool, warnings)
    css = options.css or _front_value(front, "css", str, warnings)
    text = [
        getattr(options, key) or _front_value(front, key, str, warnings)
        for key in ("title", "author", "subject")
    ]
    return _Look(
        title=text[0],
        author=text[1],
        subject=text[2],
        date=front.date,
        lang=lang,
        theme=theme,
        toc=bool(toc),
        css=css,
        show_title="title" in front.values,
    )


def _title_block(look: _Look) -> str:
    """The title page (`report`) or block (`academic`) made of the front matter's title,
    subject, author and date."""
    if not look.show_title or not look.title:
        return ""
    if look.theme in _TITLE_PAGE_THEMES:
        kind = "title-page"
    elif look.theme in _TITLE_BLOCK_THEMES:
        kind = "title-block"
    else:
        return ""
    parts = [f'<p class="doc-title">{html.escape(look.title)}</p>']
    for name, value in (("subtitle", look.subject), ("author", look.author), ("date", look.date)):
        if value:
            parts.append(f'<p class="doc-{name}">{html.escape(value)}</p>')
    return f'<header class="{kind}">{"".join(parts)}</header>\n'


def convert_markdown(text: str, options: RenderOptions | None = None) -> MarkdownDocument:
    """A Markdown document (with or without front matter) as a complete HTML document.

    The request's `options` win over the front matter: `theme`, `toc`, `lang`, `css`,
    `title`, `author`, `subject` are read from the options first. Front matter that is not
    YAML, or a value of the wrong kind, is left out with a warning here (the API refuses it
    before: `api.options_with_front_matter`)."""
    options = options or RenderOptions()
    warnings: list[JobWarning] = []
    try:
        front = split_front_matter(text)
    except InvalidInputError as exc:
        warnings.append(JobWarning("front_matter_invalid", exc.message))
        front = FrontMatter({}, text)
    look = _look(options, front, warnings)
    env: dict[str, Any] = {"warnings": warnings, "numbered": look.theme == "report"}
    body = render_body(front.body, env, lang=look.lang)
    if look.toc and not env.get("toc_done"):
        body = contents(env.get("headings", []), env.get("top_level", 1), look.lang) + body
    body = _title_block(look) + body
    document = wrap_document(body, title=look.title, lang=look.lang, theme=look.theme, css=look.css)
    return MarkdownDocument(document, tuple(env["warnings"]), front)


_CONTENTS = re.compile(r'<nav class="toc" role="doc-toc">.*?</nav>', re.S)
_ENTRY = re.compile(r'(<li class="toc-level-\d"><a href="#([^"]*)">)(.*?)(</a></li>)', re.S)


def has_contents(document: str) -> bool:
    """Whether the document is a Markdown document with a table of contents."""
    return '<nav class="toc" role="doc-toc">' in document


def with_contents_pages(document: str, pages: Mapping[str, int]) -> str:
    """The document with the page of each heading (`pages`: id → page number, read from a
    first render) written after its entry in the table of contents: for engines without CSS
    `target-counter` (Chromium). Entries whose heading has no page are left as they are."""

    def entry(found: re.Match[str]) -> str:
        page = pages.get(html.unescape(found.group(2)))
        if page is None:
            return found.group(0)
        return (
            f'{found.group(1)}<span class="toc-text">{found.group(3)}</span>'
            f'<span class="toc-fill"></span><span class="toc-page">{page}</span>{found.group(4)}'
        )

    def contents(found: re.Match[str]) -> str:
        nav = found.group(0).replace('<nav class="toc"', '<nav class="toc paged"', 1)
        return _ENTRY.sub(entry, nav)

    return _CONTENTS.sub(contents, document, count=1)


def markdown_to_html(text: str) -> str:
    """The Markdown body as HTML (no front matter read). Raw HTML inside Markdown is shown as
    text, not run."""
    return render_body(text, {})


def markdown_document(text: str, *, title: str | None = None) -> str:
    """A Markdown document as a complete HTML document (`convert_markdown` with only a
    title), for callers that need no warnings."""
    return convert_markdown(text, RenderOptions(title=title)).html
