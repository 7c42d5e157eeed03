"""What every command shares: its signature, logging, and running a coroutine."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from pdfprompt.settings import Settings

# A command runs with the parsed arguments and the settings read from the environment.
Command = Callable[[argparse.Namespace, Settings], None]
# A command group adds its commands to the `pdfprompt` parser.
SubParsers = argparse._SubParsersAction


def setup_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Alembic announces each of its autogenerate plugins at INFO on every schema check.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def run_long(main: Coroutine[Any, Any, None]) -> None:
    """Run a long-lived coroutine on uvloop where it is installed (as uvicorn does for
    `serve` and `api`), else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)
