"""Markdown becomes a complete print document; raw HTML in Markdown is not run."""

from __future__ import annotations

from pdfprompt.generate import markdown_document, markdown_to_html


def test_tables_code_and_lists() -> None:
    html = markdown_to_html("| a | b |\n|---|---|\n| 1 | 2 |\n\n- x\n- y\n\n```py\nprint(1)\n```\n")
    assert "<table>" in html and "<td>1</td>" in html
    assert "<ul>" in html and "<li>x</li>" in html
    assert '<code class="language-py">' in html


def test_raw_html_is_escaped() -> None:
    html = markdown_to_html('<script>alert(1)</script>\n\n<img src="http://x/y.png">')
    assert "<script>" not in html and "<img" not in html


def test_document_has_stylesheet_and_escaped_title() -> None:
    doc = markdown_document("# Hi", title="A & <B>")
    assert doc.startswith("<!DOCTYPE html>")
    assert "<title>A &amp; &lt;B&gt;</title>" in doc
    assert "@page" in doc and "break-inside: avoid" in doc
    assert '<meta charset="utf-8">' in doc
