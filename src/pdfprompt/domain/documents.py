"""How a person finds a document again: its title and the text its history search matches.

Both are worked out once, when the job is submitted, and kept on the job's row: listing a
history never reads a job's input (which may be megabytes of HTML), and a search scans a
short, lower-cased column rather than every input.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Mapping
from typing import Any

from pdfprompt.domain.jobs import PDF_JOBS, JobType
from pdfprompt.domain.pdf_jobs import pdf_job_words

MAX_TITLE_CHARS = 120
TITLE_WORDS = 12  # a title made from the input: its first words
SEARCHED_CHARS = 400  # a search matches the title and at most this much of the input's text
# The search text is also an index key, read without the row (a search scans a narrow index,
# not the jobs): at most this many UTF-8 bytes, under the 512 bytes past which PostgreSQL
# compresses a value inside an index entry (a search would then decompress every entry it
# passes: about four times slower, measured).
MAX_SEARCH_TEXT_BYTES = 480
MAX_SEARCH_CHARS = 200  # the longest search a person may ask for
UNTITLED = "Untitled"

_READ_CHARS = 4000  # how much of the input the title and search text are made from
_HIDDEN = re.compile(r"<(script|style|template|head)\b.*?</\1\s*>", re.I | re.S)
_TAG = re.compile(r"<[^>]*>?")
_MARKDOWN = re.compile(r"(^|\s)[#>*_`~|=-]+|[*_`~]+(\s|$)|!?\[|\]\([^)]*\)")
_SPACE = re.compile(r"\s+")


def _mark_space(match: re.Match[str]) -> str:
    """`\\1 \\2` of a Markdown mark, without expanding a template for every match."""
    return f"{match.group(1) or ''} {match.group(2) or ''}"


@functools.lru_cache(maxsize=4)  # a submission asks it for the title and the search text
def plain_text(job_type: JobType, text: str) -> str:
    """The words of an input, roughly: tags and Markdown marks dropped, spaces collapsed.
    Only what is shown as a title or searched; the document itself is rendered elsewhere."""
    if job_type in PDF_JOBS:  # JSON naming the PDFs: their names
        return _SPACE.sub(" ", pdf_job_words(text)).strip()
    head = text[:_READ_CHARS]
    if job_type is JobType.HTML:
        head = html.unescape(_TAG.sub(" ", _HIDDEN.sub(" ", head)))
    elif job_type is JobType.MARKDOWN:
        head = _MARKDOWN.sub(_mark_space, head)
    return _SPACE.sub(" ", head).strip()


def document_title(job_type: JobType, text: str, options: Mapping[str, Any]) -> str:
    """What a document is called in its history: the title its options give, else the
    first words of its input, else "Untitled"."""
    given = options.get("title")
    if isinstance(given, str) and given.strip():
        title = _SPACE.sub(" ", given).strip()
    else:
        words = plain_text(job_type, text).split(" ")
        title = " ".join(words[:TITLE_WORDS])
        if len(words) > TITLE_WORDS:
            title += "…"
    if len(title) > MAX_TITLE_CHARS:
        title = title[: MAX_TITLE_CHARS - 1].rstrip() + "…"
    return title or UNTITLED


def search_text(job_type: JobType, text: str, options: Mapping[str, Any]) -> str:
    """What a history search matches: the title and the start of the input's text,
    case-folded (`search_key` folds the search the same way)."""
    title = document_title(job_type, text, options)
    folded = search_key(f"{title}\n{plain_text(job_type, text)[:SEARCHED_CHARS]}")
    return folded.encode()[:MAX_SEARCH_TEXT_BYTES].decode(errors="ignore")


def search_key(query: str) -> str:
    """A search as it is matched against `search_text`: case-folded, spaces collapsed."""
    return _SPACE.sub(" ", query.casefold()).strip()
