"""Markdown → a complete, print-ready HTML document (docs/markdown.md): GitHub-flavoured
Markdown, footnotes, definition lists, heading ids, highlighted code, TeX math as MathML,
callouts, page breaks, a table of contents, front matter and themes."""

from pdfprompt.generate.markdown.document import (
    DEFAULT_THEME,
    MarkdownDocument,
    convert_markdown,
    has_contents,
    markdown_document,
    markdown_to_html,
    print_stylesheet,
    theme_stylesheet,
    with_contents_pages,
    wrap_document,
)
from pdfprompt.generate.markdown.parser import Heading, slug

__all__ = [
    "DEFAULT_THEME",
    "Heading",
    "MarkdownDocument",
    "convert_markdown",
    "has_contents",
    "markdown_document",
    "markdown_to_html",
    "print_stylesheet",
    "slug",
    "theme_stylesheet",
    "with_contents_pages",
    "wrap_document",
]
