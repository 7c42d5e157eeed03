"""SVG made inert: a strict allow-list of elements, attributes and CSS, so that an SVG shown
anywhere (an uploaded asset, opened in a browser or drawn in a document; SVG a model writes
into a page) can run nothing and load nothing but itself.

The text is parsed as XML with entities left unexpanded, no DTD loaded and no network, under
a size cap; a document that declares entities is refused outright (no billion laughs, no
XXE). What is kept is rebuilt into a new tree from the allowed parts only: every element
not listed goes with its content (script, foreignObject, animation, style sheets that import,
links), every attribute not listed goes (event handlers above all), references may only point
inside the document (`#id`, `url(#id)`), and an `<image>` may only be a `data:` raster image.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from pdfprompt.domain import InvalidInputError

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_NS = "http://www.w3.org/XML/1998/namespace"
MAX_SVG_BYTES = 10 * 1024 * 1024
MAX_ELEMENTS = 50_000
MAX_DEPTH = 64

ELEMENTS = frozenset(
    {
        "svg", "g", "defs", "symbol", "use", "title", "desc", "path", "rect", "circle",
        "ellipse", "line", "polyline", "polygon", "text", "tspan", "textPath",
        "linearGradient", "radialGradient", "stop", "pattern", "clipPath", "mask", "marker",
        "image", "style", "filter", "feGaussianBlur", "feOffset", "feBlend", "feColorMatrix",
        "feFlood", "feComposite", "feMerge", "feMergeNode", "feDropShadow", "switch",
    }
)  # fmt: skip
# Elements whose text is drawn (or, for `style`, checked below); others keep no text.
_TEXT_ELEMENTS = frozenset({"title", "desc", "text", "tspan", "textPath", "style"})

PRESENTATION = frozenset(
    {
        "fill", "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-opacity",
        "stroke-linecap", "stroke-linejoin", "stroke-dasharray", "stroke-dashoffset",
        "stroke-miterlimit", "opacity", "color", "display", "visibility", "clip-path",
        "clip-rule", "mask", "marker-start", "marker-mid", "marker-end", "filter",
        "font-family", "font-size", "font-weight", "font-style", "font-variant",
        "font-stretch", "text-anchor", "dominant-baseline", "alignment-baseline",
        "baseline-shift", "letter-spacing", "word-spacing", "text-decoration",
        "writing-mode", "direction", "unicode-bidi", "stop-color", "stop-opacity",
        "flood-color", "flood-opacity", "lighting-color", "overflow", "vector-effect",
        "shape-rendering", "text-rendering", "image-rendering", "color-interpolation",
        "color-interpolation-filters", "paint-order", "mix-blend-mode", "isolation",
        "transform", "transform-origin", "white-space",
    }
)  # fmt: skip
ATTRIBUTES = PRESENTATION | frozenset(
    {
        "id", "class", "style", "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "rx",
        "ry", "fx", "fy", "fr", "width", "height", "d", "points", "viewBox",
        "preserveAspectRatio", "version", "dx", "dy", "rotate", "textLength",
        "lengthAdjust", "startOffset", "offset", "gradientUnits", "gradientTransform",
        "spreadMethod", "patternUnits", "patternContentUnits", "patternTransform",
        "clipPathUnits", "maskUnits", "maskContentUnits", "markerWidth", "markerHeight",
        "markerUnits", "refX", "refY", "orient", "pathLength", "filterUnits",
        "primitiveUnits", "in", "in2", "stdDeviation", "result", "mode", "type", "values",
        "operator", "k1", "k2", "k3", "k4", "href", "lang", "media", "side", "method",
        "spacing",
    }
)  # fmt: skip
_XML_ATTRIBUTES = frozenset({"space", "lang"})

_LOCAL_HREF = re.compile(r"^#[A-Za-z_][\w.:-]{0,200}$")
_DATA_IMAGE = re.compile(r"^data:image/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*$")
_URL = re.compile(r"url\(\s*(['\"]?)(.*?)\1\s*\)", re.I | re.S)
# What a value may never hold, however spelled: a CSS escape (which can spell anything), a
# comment (which can split a word), an at-rule, markup, or a scheme that runs code.
_NEVER = re.compile(
    r"\\|/\*|@|<|>|javascript:|vbscript:|data:|expression\s*\(|-moz-binding|behavior\s*:",
    re.I,
)
_URL_START = re.compile(r"url\s*\(", re.I)
_DECLARATION = re.compile(r"^\s*([A-Za-z-]+)\s*:\s*(.+?)\s*$", re.S)
_ENTITY = re.compile(rb"<!ENTITY", re.I)
# Characters XML cannot hold (an HTML parser lets some through): dropped from what is kept.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# A style sheet's rules: selectors of names, classes and ids only, and their declarations.
_RULE = re.compile(r"\s*([A-Za-z0-9_.#,\s*>:+~-]{1,500})\{([^{}]*)\}", re.S)


def _local_name(tag: str) -> tuple[str | None, str]:
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return None, tag


def _safe_value(value: str) -> bool:
    """A value with no reference outside the document: every `url()` points to `#id`."""
    if _NEVER.search(value):
        return False
    for match in _URL.finditer(value):
        if not _LOCAL_HREF.match(match.group(2).strip()):
            return False
    return _URL_START.search(_URL.sub("", value)) is None


def clean_style(text: str) -> str:
    """The declarations of a `style` attribute that are allowed properties with safe
    values, joined again; the others dropped."""
    kept = []
    for part in text.split(";"):
        if not part.strip():
            continue
        match = _DECLARATION.match(part)
        if match is None:
            continue
        prop, value = match.group(1).lower(), match.group(2)
        if prop in PRESENTATION and _safe_value(value):
            kept.append(f"{prop}:{value}")
    return ";".join(kept)


def _clean_sheet(text: str) -> str:
    """A `<style>` sheet rebuilt from its plain rules (selectors and declarations as
    `clean_style` keeps them); an at-rule or anything else unparsed makes it empty."""
    if _NEVER.search(text.replace(">", "")):
        return ""
    rules = []
    position = 0
    for match in _RULE.finditer(text):
        if text[position : match.start()].strip():
            return ""
        position = match.end()
        declarations = clean_style(match.group(2))
        if declarations:
            rules.append(f"{match.group(1).strip()}{{{declarations}}}")
    if text[position:].strip():
        return ""
    return "\n".join(rules)


def _clean_href(element: str, value: str) -> str | None:
    value = value.strip()
    if _LOCAL_HREF.match(value):
        return value
    if element == "image" and len(value) < MAX_SVG_BYTES and _DATA_IMAGE.match(value):
        return value
    return None


def _copy(source: Any, parent: etree._Element | None, depth: int, count: list[int]) -> Any:
    """The allowed part of `source` (an lxml element, or an `xml.etree` one an HTML parser
    made), rebuilt under `parent`; None when `source` itself is not allowed."""
    ns, name = _local_name(source.tag) if isinstance(source.tag, str) else (None, "")
    if ns not in (None, SVG_NS) or name not in ELEMENTS:
        return None
    if depth > MAX_DEPTH:
        raise InvalidInputError(f"file: SVG nested deeper than {MAX_DEPTH} levels", field="file")
    count[0] += 1
    if count[0] > MAX_ELEMENTS:
        raise InvalidInputError(f"file: SVG of more than {MAX_ELEMENTS} elements", field="file")
    tag = f"{{{SVG_NS}}}{name}"
    made = (
        etree.Element(tag, nsmap={None: SVG_NS, "xlink": XLINK_NS})
        if parent is None
        else etree.SubElement(parent, tag)
    )
    for key, raw_value in source.attrib.items():
        attr_ns, attr = _local_name(key)
        value = _NOT_XML.sub("", raw_value)
        if (attr_ns == XLINK_NS and attr == "href") or (attr_ns is None and attr == "href"):
            href = _clean_href(name, value)
            if href is not None:
                made.set(key, href)
        elif attr_ns == XML_NS and attr in _XML_ATTRIBUTES:
            if not _NEVER.search(value):
                made.set(key, value)
        elif attr_ns is not None or attr not in ATTRIBUTES:
            continue
        elif attr == "style":
            style = clean_style(value)
            if style:
                made.set(key, style)
        elif _safe_value(value):
            made.set(key, value)
    if name in _TEXT_ELEMENTS:
        text = _NOT_XML.sub("", source.text or "")
        made.text = _clean_sheet(text) if name == "style" else text
    for child in source:
        if not isinstance(child.tag, str):  # comments, processing instructions, entities
            continue
        kept = _copy(child, made, depth + 1, count)
        if kept is not None and name in _TEXT_ELEMENTS and name != "style":
            kept.tail = _NOT_XML.sub("", child.tail or "")
    return made


def clean_svg(text: str | bytes) -> str:
    """The SVG with only its allowed parts, as text; `InvalidInputError` (field `file`) for
    text that is not an SVG document within the limits."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    if len(raw) > MAX_SVG_BYTES:
        raise InvalidInputError(f"file: SVG over {MAX_SVG_BYTES} bytes", field="file")
    if _ENTITY.search(raw):
        raise InvalidInputError("file: SVG that declares entities is not taken", field="file")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(raw, parser)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise InvalidInputError(f"file: not well-formed SVG ({exc})", field="file") from None
    if _local_name(root.tag) not in ((SVG_NS, "svg"), (None, "svg")):
        raise InvalidInputError("file: the document's root is not <svg>", field="file")
    clean = _copy(root, None, 0, [0])
    assert clean is not None
    return str(etree.tostring(clean, encoding="unicode"))


def clean_svg_element(source: Any) -> str:
    """An `<svg>` element already parsed (an HTML parser's inline SVG, an `xml.etree`
    element in the SVG namespace) kept by the same rules as `clean_svg`, as XML text that an
    HTML parser reads back as the same drawing; `InvalidInputError` past the limits."""
    clean = _copy(source, None, 0, [0])
    if clean is None:
        raise InvalidInputError("file: not an <svg> element", field="file")
    return str(etree.tostring(clean, encoding="unicode"))
