"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pdfprompt.settings import Settings, find_browser, find_headless_shell
from tests.conftest import IN_CI
from tests.receiver import Receiver

# The engines the render tests run on: Chromium's headless shell (what pdfprompt picks when it
# is installed), a full Chromium browser (what it runs where only that is installed, or when
# configured), and WeasyPrint (the fallback). Setup installs all three; under CI=true a missing
# one fails its tests instead of skipping them.
ENGINES = ("chromium", "chromium-browser", "weasyprint")


def engine_settings(engine: str, **values: Any) -> Settings:
    """Settings that render with `engine`, one of ENGINES."""
    if engine == "weasyprint":
        return Settings(render_engine="weasyprint", **values)
    path = find_headless_shell() if engine == "chromium" else find_browser()
    if path is None:
        problem = f"{engine}: not installed (scripts/setup.sh installs it)"
        if IN_CI:
            pytest.fail(f"{problem}; it is required under CI=true")
        pytest.skip(problem)
    return Settings(render_engine="chromium", chromium_path=path, **values)


@pytest.fixture
def listener() -> Iterator[Receiver]:
    """A real HTTP server on 127.0.0.1 that records every request it gets, whatever the
    method, and answers 200 with a secret that must never reach a PDF."""
    with Receiver(answer=b"SECRET-FROM-NETWORK") as receiver:
        yield receiver
