"""Turning a job's input into HTML: Markdown now; the LLM client joins later."""

from pdfprompt.generate.markdown import (
    markdown_document,
    markdown_to_html,
    print_stylesheet,
    wrap_document,
)

__all__ = ["markdown_document", "markdown_to_html", "print_stylesheet", "wrap_document"]
