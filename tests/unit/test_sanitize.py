"""What an LLM answers is cleaned before it is rendered: a corpus of hostile answers."""

from __future__ import annotations

import pytest

from pdfprompt.generate import clean_document, extract_html

HOSTILE = {
    "script": "<p>a</p><script>alert(1)</script><SCRIPT src='http://x/s.js'></SCRIPT>",
    "handlers": "<p onclick='x()'>a</p><img src=x onerror=alert(1)><body onload=x()>",
    "svg": "<svg onload=alert(1)><image href='http://x/i.png'/><use href='http://x/u#a'/></svg>",
    "javascript url": "<a href='javascript:alert(1)'>a</a><a href=' JaVaScRiPt:x'>b</a>",
    "frames": "<iframe src='http://x/f'></iframe><iframe srcdoc='<script>x</script>'></iframe>",
    "objects": "<object data='http://x/o'></object><embed src='http://x/e'><applet></applet>",
    "forms": "<form action='http://x/f'><input name=q><button>go</button></form>",
    "meta refresh": "<meta http-equiv='refresh' content='0;url=http://x/'><p>a</p>",
    "base": "<base href='http://x/'><p>a</p><img src='rel.png'>",
    "link": "<link rel=stylesheet href='http://x/c.css'><link rel=prefetch href='http://x/p'>",
    "css import": "<style>@import 'http://x/i.css'; @IMPORT url(http://x/j.css);</style><p>a</p>",
    "css url": "<style>p { background: url(http://x/b.png) }</style><p style='background:url(\"http://x/c\")'>a</p>",
    "css escapes": (
        "<style>p { background: \\75 rl(http://x/e1) } q { background: u\\rl(http://x/e2) }"
        " b { background: U\\000052L(http://x/e3) } @\\69mport 'http://x/e4';"
        " @\\49 MPORT url(http://x/e5);</style><p style='background:\\75 rl(http://x/e6)'>a</p>"
    ),
    "css image-set": (
        "<style>p { background: image-set('http://x/s1' 1x, url(http://x/s2) 2x) }"
        ' q { background: -webkit-image-set("https://x/s3" 1x) }</style><p>a</p>'
    ),
    "external image": "<p>a</p><img src='https://x/tracker.gif'><img srcset='http://x/2x.png 2x'>",
    "comment": "<!--[if IE]><script>x</script><![endif]--><p>a</p>",
    "math": "<math><mi xlink:href='javascript:alert(1)'>x</mi></math><p>a</p>",
}
BANNED = (
    "<script",
    "onerror",
    "onload",
    "onclick",
    "javascript:",
    "<iframe",
    "srcdoc",
    "<object",
    "<embed",
    "<applet",
    "<form",
    "<input",
    "http-equiv",
    "<base",
    "<link",
    "@import",
    "http://x/",
    "https://x/",
)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_answers_are_cleaned(name: str) -> None:
    answer = (
        f"<!DOCTYPE html><html><head><title>T</title></head><body>{HOSTILE[name]}</body></html>"
    )
    cleaned = clean_document(answer).lower()
    for banned in BANNED:
        assert banned not in cleaned, (name, banned)
    assert "<style>" in cleaned  # the print stylesheet is there


def test_the_answer_is_taken_from_a_code_fence_and_must_have_text() -> None:
    fenced = "Sure! Here it is:\n```html\n<html><body><h1>Title</h1></body></html>\n```\nEnjoy."
    assert extract_html(fenced) == "<html><body><h1>Title</h1></body></html>"
    assert extract_html("I cannot help with that.") is None
    assert extract_html("<html><body><div>   </div></body></html>") is None
    assert extract_html("") is None


def test_the_body_is_what_a_browser_shows() -> None:
    """A stray `</body>` mid-document ends nothing in a browser: the text after it is printed
    too; what follows the last `</body>` (a model's closing remark) is not; a document with
    no `<body>` is its text."""
    answer = (
        "Here you are:\n<html><head><title>T</title></head><body><h1>Cheat sheet</h1>"
        "<p>A page ends with</body> and then</p><p>Section two</p></body></html>\n"
        "Let me know if you want changes!"
    )
    cleaned = clean_document(answer)
    assert "Cheat sheet" in cleaned and "and then" in cleaned and "Section two" in cleaned
    assert "Let me know" not in cleaned and "Here you are" not in cleaned
    assert cleaned.count("</body>") == 1
    unclosed = clean_document("<html><body><p>Never closed</p><p>Still here</p>")
    assert "Never closed" in unclosed and "Still here" in unclosed
    bare = clean_document("<style>p { color: red }</style><h1>No body tag</h1>")
    assert "No body tag" in bare and "color: red" in bare.split("<body>")[0]


def test_language_direction_and_title_are_kept() -> None:
    answer = (
        "<html lang='ar' dir='rtl'><head><title>تقرير</title></head>"
        "<body><p>مرحبا</p></body></html>"
    )
    cleaned = clean_document(answer)
    assert 'dir="rtl"' in cleaned and 'lang="ar"' in cleaned
    assert "<title>تقرير</title>" in cleaned and "مرحبا" in cleaned


def test_the_owners_assets_are_kept_and_nothing_dressed_as_one() -> None:
    answer = (
        "<html><head><style>@font-face { font-family: b; src: url(asset:brand-font) }"
        "p { background: url('asset:paper.png') } h1 { background: url(asset:x/../http://x/) }"
        "</style></head><body><h1>T</h1><img src='asset:logo.png'>"
        "<img src='asset:logo.png\" onerror=\"x()'><a href='asset:doc'>d</a>"
        "<img src='asset:http://x/i.png'></body></html>"
    )
    cleaned = clean_document(answer)
    for kept in ("url(asset:brand-font)", "url('asset:paper.png')", 'src="asset:logo.png"'):
        assert kept in cleaned, kept
    for banned in ("http://x/", "onerror", "asset:x/"):
        assert banned not in cleaned.lower(), banned
