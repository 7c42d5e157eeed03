"""The `pdfprompt` command: a thin parser over one module per command group. The service
roles (web framework, browser, LLM client) load only in the commands that run them, so the
administration commands start without them (`tests/unit/test_rooms.py` checks it). `submit`
and `batch` call a server through the client and read no settings (`remote.py`)."""

from __future__ import annotations

import argparse
import json
import sys

from pydantic import ValidationError

from pdfprompt.cli import accounts, admin, dev, loadtest, remote, render, serve, worker
from pdfprompt.cli.common import setup_logging
from pdfprompt.domain import PdfPromptError
from pdfprompt.settings import Settings

__all__ = ["main", "parser"]

GROUPS = (serve, worker, render, admin, accounts, dev, remote, loadtest)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pdfprompt", description="Prompts, Markdown or HTML to PDF.")
    sub = p.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if getattr(args, "remote", None) is not None:  # a client of a server: no settings read
        return remote.run(args)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"pdfprompt: bad configuration:\n{exc}", file=sys.stderr)
        return 2
    setup_logging(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        args.run(args, settings)
    except PdfPromptError as exc:
        print(f"pdfprompt: {exc.message}", file=sys.stderr)
        return 1
    except (ValidationError, json.JSONDecodeError, FileNotFoundError) as exc:
        print(f"pdfprompt: {exc}", file=sys.stderr)
        return 2
    return 0
