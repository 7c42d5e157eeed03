"""Filling templates in child processes: a template that runs past its time is killed, so no
loop, recursion or operation the sandbox did not foresee outlasts the limit, and a template
that allocates past the memory limit fails alone (the child's address space is capped)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import subprocess
import sys
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from pdfprompt.domain import TemplateEngine, TemplateRenderError, TemplateTimeoutError

log = logging.getLogger(__name__)

CHILD_MEMORY_BYTES = 1 << 30  # the address space of one filling process
# A fresh interpreter's start-up and imports, waited for before its first request is timed
# (they are no part of a template's time limit; a busy machine stretches them).
_START_S = 60.0
_KILL_GRACE_S = 1.0  # past the sandbox's own deadline, before the process is killed


@dataclass
class _Child:
    process: subprocess.Popen[bytes]
    conn: Connection


class TemplateFiller:
    """Fills templates in up to `processes` long-lived child processes (started on first
    use, replaced when one is killed): `TemplateRenderError` or `TemplateTimeoutError`."""

    def __init__(
        self,
        *,
        timeout_s: float,
        max_chars: int,
        processes: int = 2,
        memory_bytes: int = CHILD_MEMORY_BYTES,
    ) -> None:
        self.timeout_s = timeout_s
        self.max_chars = max_chars
        self.memory_bytes = memory_bytes
        self._slots = asyncio.Semaphore(processes)
        self._idle: list[_Child] = []
        self.killed = 0  # children stopped at the time limit (or lost)

    def _start(self) -> _Child:
        """A new child: `python -m pdfprompt.generate.template_child FD MEMORY` with one end
        of a socket pair (a fresh interpreter: nothing of this process is inherited)."""
        ours, theirs = multiprocessing.Pipe()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pdfprompt.generate.template_child",
                str(theirs.fileno()),
                str(self.memory_bytes),
            ],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            close_fds=True,
        )
        theirs.close()
        child = _Child(process, ours)
        try:
            if ours.poll(_START_S) and ours.recv() == ("ready",):
                return child
        except (EOFError, OSError):
            pass
        self._stop(child)
        raise TemplateRenderError("the template filler could not start")

    async def fill(
        self, body: str, engine: TemplateEngine, data: Any, *, title: str | None = None
    ) -> str:
        """The HTML document `body` makes from `data`."""
        async with self._slots:
            child = self._idle.pop() if self._idle else await asyncio.to_thread(self._start)
            request = (body, engine.value, data, title, self.timeout_s, self.max_chars)
            try:
                answer = await asyncio.to_thread(self._exchange, child, request)
            except BaseException:
                self._stop(child)
                raise
            self._idle.append(child)
        if answer[0] == "ok":
            return str(answer[1])
        _, code, message = answer
        if code == TemplateTimeoutError.code:
            raise TemplateTimeoutError(message)
        raise TemplateRenderError(message)

    def _exchange(self, child: _Child, request: tuple[Any, ...]) -> tuple[Any, ...]:
        try:
            child.conn.send(request)
            if child.conn.poll(self.timeout_s + _KILL_GRACE_S):
                answer: tuple[Any, ...] = child.conn.recv()
                return answer
        except (EOFError, OSError):
            raise TemplateRenderError(
                "filling the template stopped (it used more memory than allowed)"
            ) from None
        raise TemplateTimeoutError("filling the template took longer than its time limit")

    def _stop(self, child: _Child) -> None:
        self.killed += 1
        with contextlib.suppress(Exception):
            child.process.kill()
            child.process.wait(5)
            child.conn.close()

    async def aclose(self) -> None:
        children, self._idle = self._idle, []
        for child in children:
            with contextlib.suppress(Exception):
                child.conn.close()  # the child's loop ends on end of file
                child.process.wait(2)
            if child.process.poll() is None:
                child.process.kill()
                child.process.wait(2)
