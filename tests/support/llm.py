"""The fake LLM peer (`pdfprompt dev fake-llm`) as a real process on loopback, and the
settings that point a `pdfprompt` process at it."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.support.databases import free_port
from tests.support.processes import PDFPROMPT, stop_process

SECRET = "sk-e2e-do-not-leak-7f3a9c"


@contextlib.contextmanager
def fake_llm(tmp: Path, *args: str) -> Iterator[str]:
    """The fake LLM started with `args` (e.g. `--stream`); yields its base URL once it
    answers, and stops it at the end."""
    port = free_port()
    with open(tmp / f"fake-llm-{port}.log", "wb") as log:
        fake = subprocess.Popen(
            [PDFPROMPT, "dev", "fake-llm", "--port", str(port), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            # A generous bound: a command's start on a machine busy with the whole suite has
            # taken over a minute.
            deadline = time.monotonic() + 180
            while True:
                try:
                    httpx.get(f"{url}/_calls", timeout=1)
                    break
                except httpx.TransportError:
                    if fake.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"the fake LLM did not start: {tmp}") from None
                    time.sleep(0.1)
            yield url
        finally:
            # A request left hanging holds it up: then it is killed.
            stop_process(fake, timeout_s=5)


def control(fake_url: str, **body: Any) -> None:
    """Change what the fake LLM does (`behaviours`, `latency_ms`, `chunk_ms`, `reset`)."""
    httpx.post(f"{fake_url}/_control", json=body, timeout=5).raise_for_status()


def llm_env(url: str) -> dict[str, str]:
    """The settings that make a `pdfprompt` process use the fake LLM at `url`."""
    return {
        "OPENROUTER_API_KEY": SECRET,
        "OPENROUTER_BASE_URL": f"{url}/v1",
        "PDFPROMPT_LLM_MODELS": "fake-large,fake-small",
    }
