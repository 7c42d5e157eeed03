"""The child process that fills templates (started by `TemplateFiller`): reads each request
from the socket it is given, answers the HTML or the error. Its address space is capped."""

from __future__ import annotations

import contextlib
import resource
import sys
from multiprocessing.connection import Connection
from typing import Any

from pdfprompt.domain import PdfPromptError, TemplateEngine
from pdfprompt.generate.template import fill


def _serve(conn: Connection, memory_bytes: int) -> None:
    """A child's loop: fill each template it is sent, answer the HTML or the error."""
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    # Imported and capped: from here on, the time a request takes is the template's.
    conn.send(("ready",))
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        try:
            body, engine, data, title, timeout_s, max_chars = request
            html = fill(
                body,
                TemplateEngine(engine),
                data,
                timeout_s=timeout_s,
                max_chars=max_chars,
                title=title,
            )
            answer: tuple[Any, ...] = ("ok", html)
        except PdfPromptError as exc:
            answer = ("error", exc.code, exc.message)
        except MemoryError:
            answer = ("error", "template_error", "filling the template used too much memory")
        except Exception as exc:  # anything else is the template's fault: say what
            answer = ("error", "template_error", f"{type(exc).__name__}: {exc}"[:500])
        try:
            conn.send(answer)
        except MemoryError:
            conn.send(("error", "template_error", "the filled template is too large"))


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1])), int(sys.argv[2]))
