"""Fenced code blocks: highlighted by language with Pygments as CSS classes (the palette is
in `markdown.css`), line numbers when the info string asks (```` ```python {linenos} ````),
and a plain block for a language Pygments does not know."""

from __future__ import annotations

import html
import re

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

# A block longer than this is shown plain: highlighting it would cost more than its render.
MAX_HIGHLIGHTED_CHARS = 200_000
_LANGUAGE = re.compile(r"^[A-Za-z0-9_+#.-]{1,40}$")
# `{linenos}`, `{linenos=10}`, or Pandoc's `{.python .numberLines}` (from line 1).
_LINENOS = re.compile(
    r"\{[^}]*\.?(?:linenos|numberLines)(?:=(\d{1,6}))?[^}]*\}"
    r"|(?<![\w-])linenos(?:=(\d{1,6}))?"
)
_PANDOC_CLASS = re.compile(r"\{\s*\.([A-Za-z0-9_+#-]{1,40})\b")
_NOT_LANGUAGES = frozenset({"numberLines", "linenos"})
_FORMATTER = HtmlFormatter(nowrap=True, classprefix="hl-")


def info_of(info: str) -> tuple[str, int | None]:
    """The language of a fence's info string ('' when none) and the first line number when it
    asks for line numbers (`{linenos}`, `{.linenos}`, `{linenos=10}`), else None."""
    text = info.strip()
    words = text.split(maxsplit=1)
    if words and not words[0].startswith("{"):
        language, rest = words[0], text[len(words[0]) :]
    else:  # Pandoc's attributes: ```{.python .numberLines}
        pandoc = _PANDOC_CLASS.match(text)
        language = pandoc.group(1) if pandoc and pandoc.group(1) not in _NOT_LANGUAGES else ""
        rest = text
    found = _LINENOS.search(rest)
    first = None
    if found is not None:
        first = int(found.group(1) or found.group(2) or 1)
    return language, first


def _lexer(language: str) -> Lexer | None:
    if not language or not _LANGUAGE.match(language):
        return None
    try:
        return get_lexer_by_name(language.lower(), stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


def highlighted_lines(code: str, language: str) -> tuple[list[str], bool]:
    """The block's lines as HTML (each with its own spans closed), and whether a lexer
    coloured them."""
    code = code.removesuffix("\n")
    lexer = _lexer(language) if len(code) <= MAX_HIGHLIGHTED_CHARS else None
    if lexer is None:
        return [html.escape(line, quote=False) for line in code.split("\n")], False
    # Pygments closes its spans at the end of every line, so the lines split cleanly.
    return highlight(code, lexer, _FORMATTER).removesuffix("\n").split("\n"), True


def code_block(code: str, info: str) -> str:
    """A fenced block as `<pre class="code">`: highlighted lines, numbered when asked (`info`:
    the fence's info string, its escapes and entities already resolved)."""
    language, first = info_of(info)
    lines, coloured = highlighted_lines(code, language) if code else ([], False)
    classes = ["code"]
    if coloured:
        classes.append("highlight")
    if first is not None:
        classes.append("linenos")
        # Each line a block of its own (no newline between them: that would be a blank line).
        body = "".join(f'<span class="line">{line}</span>' for line in lines)
        start = f' style="counter-reset: line {first - 1}"'
    else:
        body = "".join(f"{line}\n" for line in lines)
        start = ""
    lang_attr = f' data-lang="{html.escape(language)}"' if language else ""
    lang_class = f' class="language-{html.escape(language)}"' if language else ""
    opening = f'<pre class="{" ".join(classes)}"{lang_attr}{start}><code{lang_class}>'
    return f"{opening}{body}</code></pre>\n"
