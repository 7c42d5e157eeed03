"""The document as each engine is handed it: its title, the page size and margins the request
names, and the header and footer. String work only.

What the request names wins over the document's own `@page` rules, what it leaves out the
document decides, and pdfprompt's defaults hold where neither says: on Chromium through an
important `@page` rule after the document's and the print parameters, on WeasyPrint through
a user stylesheet.
"""

from __future__ import annotations

import html as html_lib
import re

from pdfprompt.domain import RenderOptions

# The type both engines set headers and footers in.
_HEADER_FOOTER_TYPE = (
    "font-family: 'Noto Sans', 'DejaVu Sans', sans-serif; font-size: 9px; color: #555;"
)
_CHROMIUM_HEADER_FOOTER_STYLE = (
    "<style>#header, #footer { padding: 0 !important; }"
    f".pdfprompt-hf {{ {_HEADER_FOOTER_TYPE} width: 100%; margin: 0 12mm; }}</style>"
)
_WEASYPRINT_PAGE_NUMBER = '<span class="pdfprompt-page"></span>'
_WEASYPRINT_PAGE_TOTAL = '<span class="pdfprompt-pages"></span>'


def with_title(document: str, title: str | None) -> str:
    """The document with `title` as its <title> (both engines write it as the PDF title)."""
    if not title:
        return document
    tag = f"<title>{html_lib.escape(title)}</title>"
    replaced, n = re.subn(
        r"<title\b[^>]*>.*?</title\s*>", tag, document, count=1, flags=re.I | re.S
    )
    if n:
        return replaced
    replaced, n = re.subn(
        r"<head\b[^>]*>", lambda m: m.group(0) + tag, document, count=1, flags=re.I
    )
    return replaced if n else tag + document


def _page_numbers(template: str, number: str, total: str) -> str:
    """A header or footer template with its `{{page}}` and `{{pages}}` filled in."""
    return template.replace("{{page}}", number).replace("{{pages}}", total)


# -- Chromium --------------------------------------------------------------------------------


def page_rules_css(options: RenderOptions) -> str:
    """The important `@page` rule that makes the page size and margins the request names win
    over the document's own `@page` rules, placed after everything the document declares;
    empty when the request names neither. Chromium prints with the document's margins where
    it has any, and it shrinks a page of the document's size onto paper of another rather
    than use the paper's size. With `prefer_css_page_size` the size rule is left out: the
    document's `@page` size wins, and the request's is the paper where the document names
    none."""
    rules = []
    if options.size_wins:
        rules.append(f"size: {options.css_size} !important;")
    if options.margin is not None:
        rules.append(f"margin: {options.margin.css} !important;")
    return "@page { " + " ".join(rules) + " }" if rules else ""


def with_page_rules(document: str, options: RenderOptions) -> str:
    """The document with `page_rules_css` after everything it declares."""
    css = page_rules_css(options)
    return document + f"<style>{css}</style>" if css else document


def chromium_document(document: str, options: RenderOptions) -> str:
    """The document Chromium prints: its title and the request's page rules."""
    return with_page_rules(with_title(document, options.title), options)


def chromium_header_footer(template: str | None) -> str:
    """A header or footer template as Chromium's print draws it (`headerTemplate`,
    `footerTemplate`), with its page numbers; an empty one where there is none."""
    if not template:
        return "<span></span>"
    body = _page_numbers(
        template, '<span class="pageNumber"></span>', '<span class="totalPages"></span>'
    )
    return f'{_CHROMIUM_HEADER_FOOTER_STYLE}<div class="pdfprompt-hf">{body}</div>'


# -- WeasyPrint ------------------------------------------------------------------------------


def weasyprint_page_css(options: RenderOptions) -> str:
    """The `@page` rules and running header/footer styles for the options. This is a user
    stylesheet: its plain declarations lose to the document's own `@page` rules and its
    important ones beat them, so what the request names wins, what it leaves out the
    document decides, and pdfprompt's defaults hold where neither says (as with Chromium)."""
    size_important = " !important" if options.size_wins else ""
    margin_important = " !important" if options.margin else ""
    rules = [
        f"size: {options.css_size}{size_important};",
        f"margin: {options.page_margin.css}{margin_important};",
    ]
    if options.header_html:
        rules.append("@top-center { content: element(pdfprompt-header); width: 100%; }")
    if options.footer_html:
        rules.append("@bottom-center { content: element(pdfprompt-footer); width: 100%; }")
    # WeasyPrint makes bookmarks of the headings by default; as with Chromium, only when asked.
    bookmarks = (
        "" if options.outline else "h1, h2, h3, h4, h5, h6 { bookmark-level: none !important; }"
    )
    return (
        "@page { " + " ".join(rules) + " }"
        ".pdfprompt-header { position: running(pdfprompt-header); }"
        ".pdfprompt-footer { position: running(pdfprompt-footer); }"
        f".pdfprompt-header, .pdfprompt-footer {{ {_HEADER_FOOTER_TYPE} }}"
        ".pdfprompt-page::after { content: counter(page); }"
        ".pdfprompt-pages::after { content: counter(pages); }" + bookmarks
    )


def _running(kind: str, template: str | None) -> str:
    if not template:
        return ""
    body = _page_numbers(template, _WEASYPRINT_PAGE_NUMBER, _WEASYPRINT_PAGE_TOTAL)
    return f'<div class="pdfprompt-{kind}">{body}</div>'


def weasyprint_document(document: str, options: RenderOptions) -> str:
    """The document WeasyPrint lays out: its title, and the header/footer elements placed
    first in the body (running elements must come before the content of the pages they
    head)."""
    document = with_title(document, options.title)
    running = _running("header", options.header_html) + _running("footer", options.footer_html)
    if not running:
        return document
    placed, n = re.subn(
        r"<body\b[^>]*>", lambda m: m.group(0) + running, document, count=1, flags=re.I
    )
    return placed if n else running + document
