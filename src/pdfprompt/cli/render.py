"""`pdfprompt render`: one document to PDF on this machine, no server; with `--emit html`,
the HTML document it becomes (what the worker prints), to debug a Markdown file."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from pdfprompt.cli.common import SubParsers
from pdfprompt.domain import JobType, RenderOptions
from pdfprompt.settings import Settings

EMITS = ("pdf", "html")
# Inputs whose HTML is made here; the others are a page's address or PDFs.
_HTML_TYPES = (JobType.MARKDOWN, JobType.HTML, JobType.TEMPLATE, JobType.PROMPT)


def register(sub: SubParsers[argparse.ArgumentParser]) -> None:
    r = sub.add_parser("render", help="render one document, no server")
    r.add_argument("input", help="a .md or .html file, or - for standard input")
    r.add_argument(
        "-o",
        "--output",
        help="where to write the PDF or HTML, - for standard output "
        "(default: INPUT.pdf or INPUT.html; standard output for HTML from standard input)",
    )
    r.add_argument("--type", choices=[t.value for t in JobType])
    r.add_argument(
        "--emit",
        choices=EMITS,
        default="pdf",
        help="pdf (default), or html: the HTML document the input becomes, not printed",
    )
    r.add_argument("--options", help='render options as JSON, e.g. \'{"format": "Letter"}\'')
    r.set_defaults(run=lambda args, settings: asyncio.run(render(settings, args)))


async def render(settings: Settings, args: argparse.Namespace) -> None:
    # The options as the API checks them, with a Markdown document's front matter.
    from pdfprompt.api import OptionsIn, options_with_front_matter
    from pdfprompt.wiring import document_html, render_once

    source = Path(args.input)
    text = sys.stdin.read() if args.input == "-" else source.read_text("utf-8")
    job_type = JobType(args.type or _guess_type(source))
    raw_options = json.loads(args.options) if args.options else {}
    checked = OptionsIn.model_validate(raw_options)
    if job_type is JobType.MARKDOWN:
        checked = options_with_front_matter(text, checked)
    options = RenderOptions.from_dict(checked.stored())
    if args.emit == "html":
        if job_type not in _HTML_TYPES:
            kinds = ", ".join(t.value for t in _HTML_TYPES)
            raise SystemExit(
                f"pdfprompt render: --emit html takes one of these input types: {kinds}"
            )
        # A prompt is typeset as Markdown here, as `render` prints it with no LLM.
        emit_html(document_html(job_type, text, options), source, args.output)
        return
    out = Path(args.output) if args.output else source.with_suffix(".pdf")
    rendered = await render_once(settings, job_type, text, options)
    out.write_bytes(rendered.data)
    print(f"wrote {out} ({rendered.pages} pages, {len(rendered.data)} bytes)")


def _guess_type(path: Path) -> str:
    return "html" if path.suffix.lower() in (".html", ".htm") else "markdown"


def emit_html(document: str, source: Path, output: str | None) -> None:
    """Write `document` where `-o` says: a file (INPUT.html when not given) or, for `-`
    and for an input read from standard input, standard output (nothing else printed)."""
    if output == "-" or (output is None and str(source) == "-"):
        sys.stdout.write(document)
        sys.stdout.flush()
        return
    out = Path(output) if output else source.with_suffix(".html")
    out.write_text(document, "utf-8")
    print(f"wrote {out} ({len(document.encode('utf-8'))} bytes of HTML)")
