"""`pdfprompt render`: one document to PDF on this machine, no server."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from pdfprompt.cli.common import SubParsers
from pdfprompt.domain import JobType, RenderOptions
from pdfprompt.settings import Settings


def register(sub: SubParsers[argparse.ArgumentParser]) -> None:
    r = sub.add_parser("render", help="render one document, no server")
    r.add_argument("input", help="a .md or .html file, or - for standard input")
    r.add_argument("-o", "--output", help="where to write the PDF (default: INPUT.pdf)")
    r.add_argument("--type", choices=[t.value for t in JobType])
    r.add_argument("--options", help='render options as JSON, e.g. \'{"format": "Letter"}\'')
    r.set_defaults(run=lambda args, settings: asyncio.run(render(settings, args)))


async def render(settings: Settings, args: argparse.Namespace) -> None:
    from pdfprompt.api import OptionsIn  # the options as the API checks them
    from pdfprompt.wiring import render_once

    source = Path(args.input)
    text = sys.stdin.read() if args.input == "-" else source.read_text("utf-8")
    job_type = JobType(args.type or _guess_type(source))
    raw_options = json.loads(args.options) if args.options else {}
    options = RenderOptions.from_dict(OptionsIn.model_validate(raw_options).stored())
    out = Path(args.output) if args.output else source.with_suffix(".pdf")
    rendered = await render_once(settings, job_type, text, options)
    out.write_bytes(rendered.data)
    print(f"wrote {out} ({rendered.pages} pages, {len(rendered.data)} bytes)")


def _guess_type(path: Path) -> str:
    return "html" if path.suffix.lower() in (".html", ".htm") else "markdown"
