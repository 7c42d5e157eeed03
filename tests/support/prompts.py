"""The corpus of model answers under tests/data/prompts/: each document, what the print
check must find in it, and its corrected answer."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from pdfprompt.devtools.fake_llm import FakeLlm, create_fake_llm_app
from tests.support.databases import free_port
from tests.support.waiting import wait_until

CORPUS = Path(__file__).resolve().parent.parent / "data" / "prompts"


@dataclass(frozen=True)
class Answer:
    name: str
    kind: str
    expect: frozenset[str]  # the print-quality codes the check must report

    @property
    def html(self) -> str:
        return (CORPUS / f"{self.name}.html").read_text(encoding="utf-8")

    @property
    def repaired(self) -> str | None:
        """The corrected answer a repair call is scripted to return (defects only)."""
        path = CORPUS / f"{self.name}.repaired.html"
        return path.read_text(encoding="utf-8") if path.exists() else None


def corpus() -> list[Answer]:
    listed = json.loads((CORPUS / "corpus.json").read_text(encoding="utf-8"))["documents"]
    return [Answer(n, d["kind"], frozenset(d["expect"])) for n, d in listed.items()]


def fenced(document: str) -> str:
    """A document as a model answers it: in an html code fence, with a word before it."""
    return "Here is the document.\n\n```html\n" + document + "\n```\n"


@contextlib.contextmanager
def served_port(fake: FakeLlm, **config: Any) -> Iterator[int]:
    """`fake` served by uvicorn on a free port of 127.0.0.1, in a thread; yields the port.
    `config`: more of uvicorn's settings (TLS)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_fake_llm_app(fake),
            host="127.0.0.1",
            port=port,
            log_level="error",
            timeout_graceful_shutdown=1,
            **config,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, 10, "the fake LLM served")
        yield port
    finally:
        server.should_exit = True
        thread.join(5)


@contextlib.contextmanager
def served(fake: FakeLlm) -> Iterator[str]:
    """`fake` served on 127.0.0.1 (`served_port`); yields its base URL (with `/v1`)."""
    with served_port(fake) as port:
        yield f"http://127.0.0.1:{port}/v1"
