"""Assets without I/O: the type read from the bytes, names, a document's references, the
image and font checks, and the SVG sanitiser against hostile documents."""

from __future__ import annotations

import re

import pytest

from pdfprompt.domain import (
    ASSET_REFERENCE,
    InvalidInputError,
    check_asset_name,
    name_from_filename,
    sniff_type,
)
from pdfprompt.generate import clean_svg, inspect_asset
from tests.support.assets import font, hostile_svgs, image, png, png_declaring

URL = "http://127.0.0.1:9/"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (png((1, 2, 3)), "image/png"),
        (image((1, 2, 3), "JPEG"), "image/jpeg"),
        (image((1, 2, 3), "GIF"), "image/gif"),
        (image((1, 2, 3), "WEBP"), "image/webp"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml"),
        (b"\xef\xbb\xbf<?xml version='1.0'?>\n<!-- c --><svg>", "image/svg+xml"),
        (font("Sniffed"), "font/ttf"),
        (font("Sniffed", "woff"), "font/woff"),
        (font("Sniffed", "woff2"), "font/woff2"),
        (b"OTTO\0\0", "font/otf"),
        (b"%PDF-1.7", "application/pdf"),
        # Text: data files (for attachments); a file with control characters is none.
        (b"<html><svg></svg></html>", "application/xml"),
        (b"GIF88a", "text/plain"),
        (b' \n{"rows": [1, 2]}', "application/json"),
        (b"[1, 2]", "application/json"),
        (b"<?xml version='1.0'?><rows/>", "application/xml"),
        (b"a,b,c\n1,2,3\n4,5,6\n", "text/csv"),
        (b"a;b\n1;2\n", "text/csv"),
        (b"a,b\n1\n", "text/plain"),
        ("Grüße, Welt".encode(), "text/plain"),
        (b"\xef\xbb\xbfa\tb\n1\t2\n", "text/csv"),
        (b"text\x00with a NUL", None),
        (b"\xff\xfe not UTF-8", None),
        (b"", None),
        (b"RIFF\0\0\0\0WAVE", None),
    ],
)
def test_the_type_is_read_from_the_bytes(data: bytes, expected: str | None) -> None:
    assert sniff_type(data) == expected


def test_names_and_file_names() -> None:
    assert check_asset_name("logo-2.png") == "logo-2.png"
    for bad in ("", ".hidden", "a b", "a/b", "x" * 101, "ast_" + "0" * 36, "é"):
        with pytest.raises(InvalidInputError) as caught:
            check_asset_name(bad)
        assert caught.value.field == "name"
    assert name_from_filename("C:\\My Pictures\\logo (1).png") == "logo--1-.png"
    assert name_from_filename("../../etc/passwd") == "passwd"
    with pytest.raises(InvalidInputError):
        name_from_filename("...")


def test_references_are_found_where_a_url_starts() -> None:
    document = (
        "<img src=\"asset:logo.png\"><img src=asset:b><a href='asset:c'>x</a>"
        "<style>@font-face{src:url(asset:face) format('truetype')} p{background:url( 'asset:d')}"
        "</style><p>asset:prose is text, and so is xasset:e</p>"
        '<img src="asset:ast_0190a000-0000-7000-8000-000000000000">'
    )
    found = [m.group(2) for m in ASSET_REFERENCE.finditer(document)]
    assert found == [
        "logo.png",
        "b",
        "c",
        "face",
        "d",
        "ast_0190a000-0000-7000-8000-000000000000",
    ]


def test_images_are_decoded_and_bombs_refused_from_their_header() -> None:
    assert inspect_asset(png((9, 9, 9))).kind == "image"
    with pytest.raises(InvalidInputError, match="pixels"):
        inspect_asset(png_declaring(20000, 20000))
    with pytest.raises(InvalidInputError, match="pixels"):
        inspect_asset(png_declaring(8000, 5001))
    whole = png((9, 9, 9))
    with pytest.raises(InvalidInputError, match="not a whole PNG"):
        inspect_asset(whole[: len(whole) // 2])
    with pytest.raises(InvalidInputError, match="accepted: PNG, JPEG"):
        inspect_asset(b"\x00\x01 binary")


def test_data_files_are_checked_whole() -> None:
    assert inspect_asset(b'{"a": [1, 2]}').kind == "data"
    assert inspect_asset(b"<rows><row n='1'/></rows>").content_type == "application/xml"
    assert inspect_asset(b"a,b\n1,2\n").content_type == "text/csv"
    assert inspect_asset(b"just some text").content_type == "text/plain"
    with pytest.raises(InvalidInputError, match="not whole JSON"):
        inspect_asset(b'{"a": [1, 2}')
    with pytest.raises(InvalidInputError, match="not whole JSON"):
        inspect_asset(b"[" * 100_000)  # nesting past the parser's depth
    with pytest.raises(InvalidInputError, match="not well-formed XML"):
        inspect_asset(b"<rows><row></rows>")
    # No document type: an entity is never expanded (a billion laughs, an external file).
    laughs = b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa">]><l>&a;&a;</l>'
    with pytest.raises(InvalidInputError, match="document type"):
        inspect_asset(laughs)
    # Control characters past the sniffed head are still refused.
    with pytest.raises(InvalidInputError, match="control characters"):
        inspect_asset(b"x" * 5000 + b"\x00")
    with pytest.raises(InvalidInputError, match="not UTF-8"):
        inspect_asset(b"x" * 5000 + b"\xff")


def test_fonts_are_parsed() -> None:
    for flavor in (None, "woff", "woff2"):
        assert inspect_asset(font("Parsed", flavor)).kind == "font"
    broken = font("Parsed")[:400]
    with pytest.raises(InvalidInputError, match="not a whole TTF"):
        inspect_asset(broken)


def test_a_plain_svg_keeps_its_drawing() -> None:
    drawn = clean_svg(
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        'viewBox="0 0 10 10"><defs><linearGradient id="g"><stop offset="0" stop-color="red"/>'
        '</linearGradient></defs><rect id="r" width="10" height="10" fill="url(#g)" '
        'style="stroke: blue; stroke-width: 2"/><use xlink:href="#r"/>'
        "<text x='1' y='9'>Hi <tspan>there</tspan> all</text></svg>"
    )
    for kept in ('fill="url(#g)"', "stroke:blue", 'xlink:href="#r"', "Hi <tspan>there</tspan> all"):
        assert kept in drawn


@pytest.mark.parametrize("name", sorted(hostile_svgs(URL)))
def test_hostile_svg_is_made_inert(name: str) -> None:
    text = hostile_svgs(URL)[name]
    try:
        cleaned = clean_svg(text)
    except InvalidInputError as exc:
        assert exc.field == "file"
        assert name in ("xxe", "laughs")  # entities are refused outright
        return
    assert "127.0.0.1" not in cleaned
    lowered = cleaned.lower()
    for never in ("script", "javascript", "foreignobject", "iframe", "@import", "animate",
                  "<set", "onload", "onclick", "onmouseover", "onbegin", "xml-stylesheet",
                  "doctype", "tref", "font-face", "feimage", "svg+xml"):  # fmt: skip
        assert never not in lowered, (name, cleaned)
    assert not re.search(r"\son\w+=", lowered)


def test_svg_limits() -> None:
    with pytest.raises(InvalidInputError, match="not well-formed"):
        clean_svg("<svg><g></svg>")
    with pytest.raises(InvalidInputError, match="root"):
        clean_svg("<html/>")
    deep = "<svg>" + "<g>" * 100 + "</g>" * 100 + "</svg>"
    with pytest.raises(InvalidInputError, match="deeper"):
        clean_svg(deep)
