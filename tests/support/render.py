"""The render engines the tests run on, and what a PDF says."""

from __future__ import annotations

import io
from typing import Any

import pytest
from pypdf import PdfReader

from pdfprompt.render import find_browser, find_headless_shell
from pdfprompt.settings import Settings
from tests.support.databases import IN_CI

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


def pdf_text(pdf: bytes) -> str:
    """The text of every page of a PDF, a line between pages."""
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
