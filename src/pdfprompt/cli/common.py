"""What every command shares: its signature, logging, and running a coroutine."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from pdfprompt.cli.logs import setup_logging as configure_logging
from pdfprompt.settings import Settings

# A command runs with the parsed arguments and the settings read from the environment.
Command = Callable[[argparse.Namespace, Settings], None]
# A command group adds its commands to the `pdfprompt` parser.
SubParsers = argparse._SubParsersAction


def setup_logging(settings: Settings) -> None:
    configure_logging(settings.log_level, settings.log_format)


def run_long(main: Coroutine[Any, Any, None]) -> None:
    """Run a long-lived coroutine on uvloop where it is installed (as uvicorn does for
    `serve` and `api`), else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)
