"""Typography by the document's language: comrak's smart punctuation makes English curly
quotes, dashes and ellipses; these passes over its HTML make the language's quotes and the
signs markdown-it's typographer made: (c) ©, (r) ®, (tm) ™, +- ±."""

from __future__ import annotations

import re
from urllib.parse import quote

# Typographic quotes by the document's language (its primary subtag); others get English's.
_NBSP = "\u00a0"
# Double open, double close, single open, single close.
QUOTES: dict[str, tuple[str, str, str, str]] = {
    "de": ("\u201e", "\u201c", "\u201a", "\u2018"),
    "cs": ("\u201e", "\u201c", "\u201a", "\u2018"),
    "sk": ("\u201e", "\u201c", "\u201a", "\u2018"),
    "es": ("\u00ab", "\u00bb", "\u201c", "\u201d"),
    "it": ("\u00ab", "\u00bb", "\u201c", "\u201d"),
    "pt": ("\u00ab", "\u00bb", "\u201c", "\u201d"),
    "ru": ("\u00ab", "\u00bb", "\u201e", "\u201c"),
    "uk": ("\u00ab", "\u00bb", "\u201e", "\u201c"),
    "pl": ("\u201e", "\u201d", "\u201a", "\u2019"),
    "nl": ("\u201c", "\u201d", "\u2018", "\u2019"),
    "sv": ("\u201d", "\u201d", "\u2019", "\u2019"),
    "fi": ("\u201d", "\u201d", "\u2019", "\u2019"),
    "da": ("\u00bb", "\u00ab", "\u203a", "\u2039"),
    "ja": ("\u300c", "\u300d", "\u300e", "\u300f"),
    "zh": ("\u201c", "\u201d", "\u2018", "\u2019"),
    "fr": ("\u00ab" + _NBSP, _NBSP + "\u00bb", "\u2039" + _NBSP, _NBSP + "\u203a"),
}
_ENGLISH_QUOTES = ("\u201c", "\u201d", "\u2018", "\u2019")
# Straight quotes comrak made curly, told from curly quotes the writer typed (kept as they
# are) by standing in for the typed ones while comrak runs: characters of Unicode's private
# use area, used only when the text holds none of them.
_STAND_INS = ("\ue000", "\ue001", "\ue002", "\ue003")
_CURLY = ("\u201c", "\u201d", "\u2018", "\u2019")
_SINGLE = re.compile(r"[\u2018\u2019]|</(?:p|li|h[1-6]|td|th|dt|dd)>")
# markdown-it's typographer replacements that comrak's smart punctuation does not make.
# (Patterns that start with one literal character are searched fast: those look first.)
_SIGN = re.compile(r"\((?:[cCrR]|[tT][mM])\)")
_PLUS_MINUS = re.compile(r"\+-")
_REPLACE = re.compile(
    r"<(pre|code)\b.*?</\1>|<span data-math-style=[^>]*>[^<]*</span>|<[^>]*>"
    r"|(\((?:c|r|tm)\)|\+-)",
    re.I | re.S,
)
_REPLACEMENTS = {"(c)": "\u00a9", "(r)": "\u00ae", "(tm)": "\u2122", "+-": "\u00b1"}


def quotes_for(lang: str) -> tuple[str, str, str, str]:
    """The typographic quotes (double open, double close, single open, single close) of a
    language tag."""
    return QUOTES.get(lang.split("-")[0].lower(), _ENGLISH_QUOTES)


def stand_ins(text: str, quotes: tuple[str, str, str, str]) -> tuple[str, bool]:
    """The text with the curly quotes the writer typed stood in for, and whether any were:
    only where the language's quotes are not English's (those are comrak's own)."""
    if quotes == _ENGLISH_QUOTES or not any(q in text for q in _CURLY):
        return text, False
    if any(s in text for s in _STAND_INS):
        return text, False
    for curly, stand_in in zip(_CURLY, _STAND_INS, strict=True):
        text = text.replace(curly, stand_in)
    return text, True


def language_quotes(out: str, quotes: tuple[str, str, str, str], stood_in: bool) -> str:
    """comrak's English quotes as the language's. A right single quote inside a word, or
    with no opening one before it in its block, is an apostrophe and stays."""
    if quotes != _ENGLISH_QUOTES:
        out = out.replace(_CURLY[0], quotes[0]).replace(_CURLY[1], quotes[1])
        if quotes[2:] != _CURLY[2:]:
            out = _single_quotes(out, quotes[2], quotes[3])
    if stood_in:
        for curly, stand_in in zip(_CURLY, _STAND_INS, strict=True):
            out = out.replace(stand_in, curly).replace(quote(stand_in), quote(curly))
    return out


def _single_quotes(out: str, opening: str, closing: str) -> str:
    parts = []
    done = 0
    open_quotes = 0
    for found in _SINGLE.finditer(out):
        mark = found.group(0)
        if mark == _CURLY[2]:
            open_quotes += 1
            shown = opening
        elif mark != _CURLY[3]:
            open_quotes = 0  # the end of a block
            continue
        else:
            at = found.start()
            inside_word = 0 < at < len(out) - 1 and out[at - 1].isalnum() and out[at + 1].isalnum()
            if inside_word or not open_quotes:
                continue
            open_quotes -= 1
            shown = closing
        parts += [out[done : found.start()], shown]
        done = found.end()
    parts.append(out[done:])
    return "".join(parts)


def replacements(out: str) -> str:
    """(c), (r), (tm) and +- as ©, ®, ™ and ± outside code, formulas and tags."""
    if _SIGN.search(out) is None and _PLUS_MINUS.search(out) is None:
        return out

    def replaced(found: re.Match[str]) -> str:
        sign = found.group(2)
        return found.group(0) if sign is None else _REPLACEMENTS[sign.lower()]

    return _REPLACE.sub(replaced, out)
