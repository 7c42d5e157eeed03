"""Drawings in a model's HTML: inline `<svg>` and `<img>`s of SVG data, kept by the SVG
rules of `svg.py` (one allow-list for assets and pages alike).

The body is parsed as a browser parses it (the HTML standard's parser: SVG elements land in
the SVG namespace, `viewBox` and `xlink:href` spelled as SVG spells them, `<p>` inside an
`<svg>` breaks out of it), each top-level `<svg>` is rebuilt from its allowed parts and set
aside under a mark no one can guess, and the rest goes on to the HTML cleaner as before. The
drawings are put back in place of their marks once the HTML is clean; a mark the cleaner
dropped (inside a `<script>`, say) takes its drawing with it.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
import secrets
import urllib.parse
from typing import Any

from tinyhtml5.parser import HTMLParser
from tinyhtml5.treebuilder import TreeBuilder

from pdfprompt.domain import InvalidInputError
from pdfprompt.generate.svg import MAX_SVG_BYTES, SVG_NS, clean_svg, clean_svg_element

_SVG_START = re.compile(r"<svg", re.I)
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,60}$")
_ATTRIBUTE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,60}$")
_VOID = frozenset(
    {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link",
        "meta", "param", "source", "track", "wbr",
    }
)  # fmt: skip
# Deeper than this, the body is not parsed here (the parser's work grows with the depth times
# the elements): its drawings are left to the HTML cleaner, which removes them.
MAX_HTML_DEPTH = 256
MAX_PARSED_CHARS = 2_000_000  # and longer bodies alike (about ten seconds of parsing)
_SVG_DATA = re.compile(r"^\s*data:image/svg\+xml([^,]{0,100}),(.*)$", re.I | re.S)


class _TooDeepError(Exception):
    pass


class _ShallowTree(TreeBuilder):  # type: ignore[misc]
    """The parser's tree builder, giving up past `MAX_HTML_DEPTH` open elements."""

    def insert_element_normal(self, token: Any) -> Any:
        if len(self.open_elements) >= MAX_HTML_DEPTH:
            raise _TooDeepError
        return super().insert_element_normal(token)

    def insert_element_table(self, token: Any) -> Any:
        if len(self.open_elements) >= MAX_HTML_DEPTH:
            raise _TooDeepError
        return super().insert_element_table(token)


class _ShallowParser(HTMLParser):  # type: ignore[misc]
    """The HTML standard's parser (elements in their namespaces) on a `_ShallowTree`."""

    def __init__(self) -> None:
        super().__init__(namespace_html_elements=True)
        self.tree = _ShallowTree(namespace_html_elements=True)
        phases: dict[str, Any] = vars(self)["phases"]
        self.phases = {name: type(phase)(self, self.tree) for name, phase in phases.items()}


def set_aside(body: str) -> tuple[str, dict[str, str]]:
    """The body with each inline `<svg>` replaced by a mark, and the cleaned drawings by
    their marks; the body as it was when it has no `<svg>`, is longer than
    `MAX_PARSED_CHARS` or nested deeper than `MAX_HTML_DEPTH`. A drawing past the SVG
    limits is dropped."""
    if len(body) > MAX_PARSED_CHARS or not _SVG_START.search(body):
        return body, {}
    try:
        root = _ShallowParser().parse_fragment(body, container="body")
    except _TooDeepError:
        return body, {}
    nonce = secrets.token_hex(12)
    drawings: dict[str, str] = {}
    out = [html.escape(root.text or "", quote=False)]
    # Written without recursion: a hostile body may nest elements thousands deep. An entry
    # is an element to open, or (closing) the end tag to write once its children are out.
    stack: list[tuple[Any, str | None]] = [(child, None) for child in reversed(list(root))]
    while stack:
        node, closing = stack.pop()
        if closing is not None:
            out.append(closing + html.escape(node.tail or "", quote=False))
            continue
        if isinstance(node.tag, str) and node.tag == f"{{{SVG_NS}}}svg":
            mark = f"pdfprompt-drawing-{nonce}-{len(drawings):06d}"  # none the start of another
            try:
                drawings[mark] = clean_svg_element(node)
                out.append(mark)
            except InvalidInputError:
                pass
            out.append(html.escape(node.tail or "", quote=False))
            continue
        if not isinstance(node.tag, str):  # a comment or a processing instruction
            out.append(html.escape(node.tail or "", quote=False))
            continue
        name = _local(node.tag)
        if not _NAME.match(name):  # no tag the HTML cleaner could take: its content stays
            out.append(html.escape(node.text or "", quote=False))
            stack.append((node, ""))
        elif name in _VOID:
            out.append(f"<{name}{_attributes(node)}>" + html.escape(node.tail or "", quote=False))
            continue
        else:
            out.append(f"<{name}{_attributes(node)}>" + html.escape(node.text or "", quote=False))
            stack.append((node, f"</{name}>"))
        stack.extend((child, None) for child in reversed(list(node)))
    return "".join(out), drawings


def put_back(cleaned: str, drawings: dict[str, str]) -> str:
    """The cleaned body with each mark that is still there replaced by its drawing."""
    for mark, drawing in drawings.items():
        cleaned = cleaned.replace(mark, drawing, 1)
    return cleaned


def clean_svg_src(src: str) -> str:
    """An `<img src>` of SVG data (`data:image/svg+xml`, base64 or percent-encoded) with the
    SVG cleaned and encoded in base64 again; empty when it is not an SVG the rules take."""
    match = _SVG_DATA.match(src)
    if match is None or len(src) > 2 * MAX_SVG_BYTES:
        return ""
    params, payload = match.group(1).lower(), match.group(2)
    try:
        if params.endswith(";base64"):
            data = base64.b64decode(re.sub(r"\s+", "", payload), validate=True)
        else:
            data = urllib.parse.unquote_to_bytes(payload)
        cleaned = clean_svg(data)
    except (binascii.Error, ValueError, InvalidInputError):
        return ""
    return "data:image/svg+xml;base64," + base64.b64encode(cleaned.encode("utf-8")).decode()


def _local(tag: str) -> str:
    return tag.rpartition("}")[2] if tag.startswith("{") else tag


def _attributes(node: Any) -> str:
    """An element's plain attributes, written again (namespaced ones are foreign: dropped)."""
    return "".join(
        f' {key}="{html.escape(value)}"'
        for key, value in node.attrib.items()
        if _ATTRIBUTE.match(key)
    )
