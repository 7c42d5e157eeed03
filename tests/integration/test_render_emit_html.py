"""`pdfprompt render INPUT --emit html`, run as a writer runs it: the HTML a Markdown, HTML
or template input becomes is the one the PDF is printed from, written to a file or to
standard output, with nothing else mixed in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.processes import cli, service_env
from tests.support.render import pdf_text

NOTES = "# Field notes\n\nSome *emphasis* and a table:\n\n| a | b |\n|---|--:|\n| 1 | 2 |\n"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return service_env(tmp_path / "data", f"sqlite:///{tmp_path / 'unused.sqlite3'}")


def test_the_emitted_html_is_what_the_pdf_is_printed_from(
    tmp_path: Path, env: dict[str, str]
) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text(NOTES, "utf-8")
    out = cli(env, "render", str(notes), "--emit", "html").stdout
    emitted = tmp_path / "notes.html"  # INPUT.html by default
    assert str(emitted) in out
    html = emitted.read_text("utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert '<h1 id="field-notes">Field notes</h1>' in html and "<em>emphasis</em>" in html
    # The emitted HTML printed as an HTML input gives the PDF the Markdown gives.
    cli(env, "render", str(notes), "-o", str(tmp_path / "from-markdown.pdf"))
    cli(env, "render", str(emitted), "-o", str(tmp_path / "from-html.pdf"))
    from_markdown = pdf_text((tmp_path / "from-markdown.pdf").read_bytes())
    assert "Field notes" in from_markdown
    assert pdf_text((tmp_path / "from-html.pdf").read_bytes()) == from_markdown
    assert not (tmp_path / "unused.sqlite3").exists()


def test_standard_input_goes_to_standard_output_alone(env: dict[str, str]) -> None:
    hostile = "# Title\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n"
    result = cli(
        env, "render", "-", "--emit", "html", "--options", '{"title": "A & B"}', stdin=hostile
    )
    html = result.stdout
    assert html.startswith("<!DOCTYPE html>") and html.endswith("</html>")
    assert "<title>A &amp; B</title>" in html
    # Raw HTML in Markdown is shown as text, as the PDF shows it.
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html


def test_html_and_template_inputs_and_an_explicit_output(
    tmp_path: Path, env: dict[str, str]
) -> None:
    page = "<!doctype html><html><body><p>As written</p></body></html>"
    assert cli(env, "render", "-", "--type", "html", "--emit", "html", stdin=page).stdout == page

    template = {
        "template": {"id": "tpl_x", "version": 1},
        "engine": "markdown",
        "body": "# Hello {{ name }}",
        "data": {"name": "Ada"},
    }
    target = tmp_path / "out" / "letter.html"
    target.parent.mkdir()
    source = tmp_path / "letter.json"
    source.write_text(json.dumps(template), "utf-8")
    args = ("render", str(source), "--type", "template", "--emit", "html", "-o", str(target))
    cli(env, *args)
    assert "Hello Ada" in target.read_text("utf-8")

    stdout = cli(env, "render", str(source), "--type", "template", "--emit", "html", "-o", "-")
    assert "Hello Ada" in stdout.stdout and "wrote" not in stdout.stdout


def test_an_input_that_makes_no_html_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    result = cli(
        env,
        "render",
        "-",
        "--type",
        "url",
        "--emit",
        "html",
        check=False,
        stdin="https://example.com/",
    )
    assert result.returncode != 0
    assert "--emit html takes one of these input types: markdown" in result.stderr
    assert result.stdout == ""
