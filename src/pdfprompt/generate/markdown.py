"""Markdown → a complete, print-ready HTML document."""

from __future__ import annotations

import html
from importlib import resources

from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": True}).enable(
    ["table", "strikethrough"]
)


def print_stylesheet() -> str:
    """The base print stylesheet every generated document is wrapped with."""
    return resources.files("pdfprompt.generate").joinpath("print.css").read_text("utf-8")


def markdown_to_html(text: str) -> str:
    """The Markdown body as HTML. Raw HTML inside Markdown is shown as text, not run."""
    return str(_md.render(text))


def wrap_document(body_html: str, *, title: str | None = None, lang: str = "") -> str:
    """A full HTML document around `body_html`, with the print stylesheet inlined."""
    title_tag = f"<title>{html.escape(title)}</title>" if title else ""
    lang_attr = f' lang="{html.escape(lang)}"' if lang else ""
    return (
        f'<!DOCTYPE html><html{lang_attr}><head><meta charset="utf-8">{title_tag}'
        f"<style>{print_stylesheet()}</style></head>"
        f'<body><main class="pdfprompt-doc">{body_html}</main></body></html>'
    )


def markdown_document(text: str, *, title: str | None = None) -> str:
    return wrap_document(markdown_to_html(text), title=title)
