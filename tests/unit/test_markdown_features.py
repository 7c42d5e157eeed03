"""The Markdown writers expect, checked on the HTML it becomes (docs/markdown.md): every
feature of tests/data/markdown/features.md, front matter read and refused, themes and the
writer's own CSS kept from loading anything."""

from __future__ import annotations

from pathlib import Path

import lxml.html
import pytest

from pdfprompt.api import OptionsIn, options_with_front_matter
from pdfprompt.api.schemas import JobIn
from pdfprompt.domain import (
    MAX_FRONT_MATTER_CHARS,
    THEMES,
    InvalidInputError,
    RenderOptions,
    split_front_matter,
)
from pdfprompt.generate import convert_markdown, has_contents, with_contents_pages
from pdfprompt.generate.markdown.math import MAX_FORMULAS
from pdfprompt.pipeline.assets import asset_references

FEATURES = Path(__file__).parents[1] / "data" / "markdown" / "features.md"


@pytest.fixture(scope="module")
def features() -> tuple[lxml.html.HtmlElement, str, list[str]]:
    made = convert_markdown(FEATURES.read_text("utf-8"))
    return lxml.html.fromstring(made.html), made.html, [w.code for w in made.warnings]


def texts(root: lxml.html.HtmlElement, xpath: str) -> list[str]:
    return [" ".join(e.text_content().split()) for e in root.xpath(xpath)]


def test_task_lists_are_disabled_checkboxes(features) -> None:
    root, html, _ = features
    boxes = root.xpath("//li[@class='task-list-item']/input[@type='checkbox']")
    assert len(boxes) == 3
    assert all(b.get("disabled") is not None for b in boxes)
    assert [b.get("checked") is not None for b in boxes] == [True, False, False]
    assert "[x]" not in html and "[ ]" not in html


def test_gfm_links_tables_and_strikethrough(features) -> None:
    root, _, _ = features
    hrefs = root.xpath("//a/@href")
    assert "https://example.com/survey" in hrefs and "https://example.org" in hrefs
    assert [c.get("style") for c in root.xpath("//table//th")] == [
        "text-align:left",
        "text-align:right",
        "text-align:center",
    ]
    assert texts(root, "//s") == ["struck through"]


def test_typography_is_smart(features) -> None:
    root, _, _ = features
    paragraph = texts(root, "//h2[@id='text-and-typography']/following-sibling::p[1]")[0]
    assert "\u201cstraight quotes\u201d" in paragraph and "\u2018single ones\u2019" in paragraph
    assert "\u2013" in paragraph and "\u2014" in paragraph and "\u2026" in paragraph


@pytest.mark.parametrize(
    ("lang", "opening", "closing"),
    [
        ("de", "\u201e", "\u201c"),
        ("fr", "\u00ab\u00a0", "\u00a0\u00bb"),
        ("en", "\u201c", "\u201d"),
    ],
)
def test_quotes_follow_the_language(lang: str, opening: str, closing: str) -> None:
    made = convert_markdown(f'---\nlang: {lang}\n---\nSie sagte "ja".\n')
    assert f"{opening}ja{closing}" in made.html
    assert f'<html lang="{lang}">' in made.html


def test_footnotes_are_numbered_and_collected_at_the_end(features) -> None:
    root, _, _ = features
    assert texts(root, "//sup[@class='footnote-ref']") == ["1", "2"]
    notes = root.xpath("//section[@class='footnotes']")
    assert len(notes) == 1
    assert notes[0].getparent().index(notes[0]) == len(notes[0].getparent()) - 1
    assert texts(root, "//li[@class='footnote-item']") == [
        "Multibeam sonar, calibrated every morning. ↩",
        "The oldest way of measuring depth, kept as a check. ↩",
    ]
    # Each reference links to its note and each note back to its reference.
    refs = root.xpath("//sup[@class='footnote-ref']/a")
    items = root.xpath("//li[@class='footnote-item']")
    assert [a.get("href") for a in refs] == ["#" + li.get("id") for li in items]
    backrefs = root.xpath("//li[@class='footnote-item']//a[@class='footnote-backref']/@href")
    assert backrefs == ["#" + a.get("id") for a in refs]


def test_definition_lists(features) -> None:
    root, _, _ = features
    assert texts(root, "//dl/dt") == ["Harbour", "Survey"]
    assert texts(root, "//dl/dd")[0] == "A sheltered place where ships may moor."


def test_headings_have_stable_unique_ids() -> None:
    html = convert_markdown("# Results\n\n## Results\n\n## Ergebnisse für 2026\n\n## !!!\n").html
    root = lxml.html.fromstring(html)
    assert root.xpath("//h1/@id") + root.xpath("//h2/@id") == [
        "results",
        "results-1",
        "ergebnisse-für-2026",
        "section",
    ]
    assert convert_markdown("# Results\n\n## Results\n").html.count('id="results-1"') == 1


def test_a_heading_may_name_its_own_id() -> None:
    html = convert_markdown("# Results {#res}\n\n## Res\n\n## Not {#1bad}\n\n[back](#res)\n").html
    root = lxml.html.fromstring(html)
    assert [(h.get("id"), h.text_content()) for h in root.xpath("//h1|//h2")] == [
        ("res", "Results"),
        ("res-1", "Res"),  # a generated id steps around the written one
        ("not-1bad", "Not {#1bad}"),  # not an id: printed as written
    ]


def test_pandoc_line_numbers_are_understood() -> None:
    root = lxml.html.fromstring(convert_markdown("```{.python .numberLines}\nx = 1\n```\n").html)
    block = root.xpath("//pre[@data-lang='python']")[0]
    assert "linenos" in block.get("class") and block.xpath(".//span[@class='hl-n']")


def test_code_is_highlighted_numbered_and_wrapped(features) -> None:
    root, html, _ = features
    python = root.xpath("//pre[@data-lang='python']")[0]
    assert "highlight" in python.get("class") and "linenos" in python.get("class")
    assert len(python.xpath(".//span[@class='line']")) == 3
    assert python.xpath(".//span[@class='hl-k']")[0].text == "def"
    plain = root.xpath("//pre[@data-lang='nosuchlanguage']")[0]
    assert "highlight" not in plain.get("class")
    assert plain.text_content() == "plain text <kept> as it is\n"
    assert "white-space: pre-wrap" in html and "overflow-wrap: anywhere" in html


def test_line_numbers_start_where_asked() -> None:
    html = convert_markdown("```js {linenos=7}\nlet a = 1;\n```\n").html
    assert 'style="counter-reset: line 6"' in html


def test_math_becomes_mathml_and_a_bad_formula_its_source(features) -> None:
    root, html, warnings = features
    maths = root.xpath("//*[local-name()='math']")
    assert [m.get("display") for m in maths] == ["inline", "inline", "block", "block"]
    assert "&#x02211;" in html  # the sum sign of the display formula
    assert texts(root, "//code[@class='math-source']") == ["\\unknowncommand{x}"]
    assert warnings.count("math_unsupported") == 1


def test_a_formula_never_fails_the_document() -> None:
    made = convert_markdown("$\\frac{a}{$ and $$\\begin{nosuch}x\\end{nosuch}$$\n")
    assert [w.code for w in made.warnings] == ["math_unsupported", "math_unsupported"]
    assert "\\frac{a}{" in made.html


def test_callouts_are_titled_boxes(features) -> None:
    root, _, _ = features
    boxes = root.xpath("//div[contains(@class, 'admonition')]")
    assert [b.get("class") for b in boxes] == [
        f"admonition {k}" for k in ("note", "tip", "important", "warning", "caution")
    ]
    assert texts(root, "//p[@class='admonition-title']") == [
        "Note",
        "Tip",
        "Important",
        "Warning",
        "Caution",
    ]
    assert texts(root, "//div[contains(@class, 'admonition note')]/p")[1] == (
        "The tide tables are in the appendix."
    )
    assert not root.xpath("//blockquote")


def test_page_breaks_and_contents(features) -> None:
    root, html, _ = features
    assert len(root.xpath("//div[@class='page-break']")) == 2
    assert "pagebreak" not in root.text_content()
    links = root.xpath("//nav[@class='toc']//a/@href")
    ids = ["#" + i for i in root.xpath("//h2/@id | //h3/@id")]
    assert links == ids and len(links) == 10
    assert texts(root, "//nav[@class='toc']//li")[-1] == "9.1 Tide tables"
    assert "target-counter(attr(href), page)" in html


def test_contents_pages_are_written_in_for_chromium() -> None:
    html = convert_markdown("[[toc]]\n\n# One\n\n# Two\n\n# Three\n").html
    paged = with_contents_pages(html, {"one": 1, "two": 2})
    root = lxml.html.fromstring(paged)
    assert root.xpath("//nav/@class") == ["toc paged"]
    assert texts(root, "//nav//span[@class='toc-page']") == ["1", "2"]
    assert texts(root, "//nav//a") == ["One1", "Two2", "Three"]  # no page found: as it was
    assert has_contents(html) and not has_contents(convert_markdown("# One\n").html)


def test_contents_marker_places_the_contents_once() -> None:
    html = convert_markdown("Intro\n\n[[toc]]\n\n# One\n\n## Two\n\n[[toc]]\n").html
    assert html.count('<nav class="toc"') == 1
    assert html.index("Intro") < html.index('<nav class="toc"') < html.index('id="one"')


def test_images_keep_their_alt_text_and_asset_reference(features) -> None:
    root, html, _ = features
    image = root.xpath("//img")[0]
    assert (image.get("src"), image.get("alt")) == ("asset:harbour-map", "Harbour map")
    assert asset_references(html) == ["harbour-map"]


def test_report_theme_has_a_title_page_and_numbered_headings(features) -> None:
    root, _, _ = features
    assert texts(root, "//header[@class='title-page']/p") == [
        "Field Notes on the Harbour Survey",
        "Every Markdown feature pdfprompt supports",
        "Ada Lovelace, Grace Hopper",
        "2026-12-05",
    ]
    assert texts(root, "//h2")[0] == "1 Text and typography"
    assert texts(root, "//h3") == ["9.1 Tide tables"]
    assert root.xpath("//h1/span") == []  # the document's only h1 is its title


@pytest.mark.parametrize("theme", THEMES)
def test_every_theme_has_its_stylesheet(theme: str) -> None:
    html = convert_markdown("# Hi\n", RenderOptions(theme=theme)).html
    assert f"theme-{theme}" in html
    assert f"Theme `{theme}`" in html


def test_raw_html_stays_text() -> None:
    html = convert_markdown('<script>alert(1)</script>\n\n<img src="http://x/y.png">\n').html
    assert "<script>alert" not in html and '<img src="http' not in html


def test_the_writers_css_comes_last_and_loads_nothing() -> None:
    css = "h1 { color: red } @import 'http://x/a.css'; p { background: url(http://x/b.png) }"
    css += " </style><script>alert(1)</script>"
    html = convert_markdown("# Hi\n", RenderOptions(css=css)).html
    assert html.index("Theme `default`") < html.index("h1 { color: red }")
    assert "@import" not in html and "http://x/b.png" not in html
    assert "</style><script>" not in html and html.count("</style>") == 1


def test_request_options_win_over_front_matter() -> None:
    made = convert_markdown(
        "---\ntheme: academic\ntitle: From the document\ntoc: true\n---\n# A\n",
        RenderOptions(theme="compact", title="From the request", toc=False),
    )
    assert "theme-compact" in made.html and '<nav class="toc"' not in made.html
    assert "<title>From the request</title>" in made.html


def test_bad_front_matter_in_a_document_is_a_warning_not_a_failure() -> None:
    made = convert_markdown("---\ntheme: [1, 2\n---\n# A\n")
    assert [w.code for w in made.warnings] == ["front_matter_invalid"]
    made = convert_markdown("---\ntheme: nosuch\nlang: 'a b'\ntoc: maybe\n---\n# A\n")
    assert [w.code for w in made.warnings] == ["front_matter_ignored"] * 3
    assert "theme-default" in made.html


def test_front_matter_is_split_from_the_markdown() -> None:
    front = split_front_matter("---\ntitle: T\nkeywords: [a, b]\nmargin: 20mm\n---\n# Body\n")
    assert front.body == "# Body\n"
    assert front.options == {
        "title": "T",
        "keywords": "a, b",
        "margin": {"top": "20mm", "right": "20mm", "bottom": "20mm", "left": "20mm"},
    }
    assert split_front_matter("# No front matter\n").values == {}
    assert split_front_matter("---\n\nText after a rule\n").values == {}  # never closed


@pytest.mark.parametrize(
    "text",
    [
        "---\n- a list\n---\n",
        "---\nkey: [unclosed\n---\n",
        "---\n!!python/object:os.system x\n---\n",
        "---\n" + "a: b\n" * (MAX_FRONT_MATTER_CHARS // 4) + "---\n",
        "---\n" + "x" * (MAX_FRONT_MATTER_CHARS + 10),
    ],
)
def test_front_matter_that_is_not_a_small_mapping_is_refused(text: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        split_front_matter(text)
    assert caught.value.field == "input"


def test_front_matter_aliases_cannot_blow_up() -> None:
    """YAML aliases let a few lines stand for billions of items: nothing writes them out."""
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for name, prev in zip("bcdefghij", "abcdefghi", strict=True):
        lines.append(f"{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]")
    bomb = "\n".join(lines)
    for key in ("keywords", "author", "title", "date", "margin"):
        text = f"---\n{bomb}\n{key}: [*j, *j]\n---\n# x"
        front = split_front_matter(text)
        assert front.options.get(key) is None or isinstance(front.options[key], list | dict)
        assert front.date is None
        if key != "date":  # not an option: only shown on a title page
            with pytest.raises(InvalidInputError):
                options_with_front_matter(text, OptionsIn())
        convert_markdown(text)  # leaves the value out


def test_front_matter_options_are_checked_like_request_options() -> None:
    job = JobIn.model_validate(
        {
            "type": "markdown",
            "input": "---\ntitle: T\nmargin: 20mm\nformat: A5\ntoc: true\n---\n# x",
            "options": {"margin": {"top": "1in"}, "title": "R"},
        }
    )
    stored = job.options.stored()
    assert stored["title"] == "R" and stored["margin"]["top"] == "1in"
    assert stored["format"] == "A5" and stored["toc"] is True and stored["outline"] is True
    for front, field in [
        ("margin: banana", "input.front_matter.margin.top"),
        ("theme: nosuch", "input.front_matter.theme"),
        ("landscape: sometimes", "input.front_matter.landscape"),
        ("header_html: '<img src=http://x/y>'", "input.front_matter.header_html"),
        ("margin: 150mm", "input.front_matter.margin.left"),
        ("lang: 'not a language'", "input.front_matter.lang"),
    ]:
        with pytest.raises(InvalidInputError) as caught:
            options_with_front_matter(f"---\n{front}\n---\n# x", OptionsIn())
        assert caught.value.field == field, front


def test_an_html_job_keeps_its_front_matter_lookalike() -> None:
    job = JobIn.model_validate({"type": "html", "input": "---\ntheme: nosuch\n---\n<p>x</p>"})
    assert job.options.stored() == {}


def test_the_web_form_shows_a_front_matter_error_at_the_input() -> None:
    from pdfprompt.web.compose import job_of

    values = dict.fromkeys(
        ("title", "format", "header_html", "footer_html", "orientation", "tone", "document_kind"),
        "",
    )
    values |= {f"margin_{side}": "" for side in ("top", "right", "bottom", "left")}
    values |= {"type": "markdown", "input": "---\ntheme: neon\n---\n# x"}
    job, errors = job_of(values)
    assert job is None and list(errors) == ["input"]
    assert errors["input"].startswith("The front matter's theme: Input should be 'default'")


def test_formulas_past_the_limit_are_shown_as_source() -> None:
    made = convert_markdown(" ".join(f"$x^{{{i}}}$" for i in range(MAX_FORMULAS + 3)))
    assert made.html.count("<math") == MAX_FORMULAS
    assert made.html.count('class="math-source"') == 3
    assert [w.message for w in made.warnings] == [
        f"formulas after the first {MAX_FORMULAS} are shown as their source"
    ]


def test_language_quotes_keep_apostrophes_and_typed_quotes() -> None:
    made = convert_markdown(
        "---\nlang: de\n---\nEr sagte \"geht's?\" und 'ja', schon \u201ekorrekt\u201c "
        '`"code"` [l](https://x.example/\u201cq\u201d)\n'
    )
    root = lxml.html.fromstring(made.html)
    assert texts(root, "//p")[0] == (
        'Er sagte \u201egeht\u2019s?\u201c und \u201aja\u2018, schon \u201ekorrekt\u201c "code" l'
    )
    assert root.xpath("//a/@href") == ["https://x.example/%E2%80%9Cq%E2%80%9D"]


def test_typographic_replacements() -> None:
    html = convert_markdown("(c) (TM) (r) +- `(c) +-`\n").html
    assert "\u00a9 \u2122 \u00ae \u00b1 <code>(c) +-</code>" in html


def test_markers_end_the_paragraph_they_are_in_but_not_code() -> None:
    html = convert_markdown("text\n\\newpage\nmore\n\n```\n\\pagebreak\n```\n").html
    root = lxml.html.fromstring(html)
    assert texts(root, "//main/p") == ["text", "more"]
    assert len(root.xpath("//div[@class='page-break']")) == 1
    assert texts(root, "//pre") == ["\\pagebreak"]


def test_callouts_nest_and_plain_quotes_stay_quotes() -> None:
    html = convert_markdown("> [!NOTE]\n> > [!tip]\n> > inner\n>\n> outer\n\n> plain\n").html
    root = lxml.html.fromstring(html)
    assert root.xpath("//div[@class='admonition note']/div/@class") == ["admonition tip"]
    assert texts(root, "//div[@class='admonition tip']/p") == ["Tip", "inner"]
    assert texts(root, "//div[@class='admonition note']/p") == ["Note", "outer"]
    assert texts(root, "//blockquote/p") == ["plain"]


def test_headings_in_quotes_and_lists_are_not_sections() -> None:
    made = convert_markdown("# A\n\n> ## Quoted\n\n- ## Listed\n\n## B\n", RenderOptions(toc=True))
    root = lxml.html.fromstring(made.html)
    assert root.xpath("//nav//a/@href") == ["#b"]
    assert root.xpath("//h2/@id") == ["quoted", "listed", "b"]


def test_display_formulas_take_a_label() -> None:
    root = lxml.html.fromstring(convert_markdown("$$\nx^2\n$$ (eq:1)\n").html)
    assert root.xpath("//div[@class='math-labelled']/@id") == ["eq:1"]
    assert texts(root, "//span[@class='math-label']") == ["(eq:1)"]
