"""Which render a browser over the render memory limit is killed for
(`ChromiumRenderer._kill_over_memory`), from what the memory watch saw of each page."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from pdfprompt.render import ChromiumRenderer


@dataclass(eq=False)
class _Browser:
    killed: list[str] = field(default_factory=list)

    def kill(self, because: str) -> None:
        self.killed.append(because)


@dataclass(eq=False)
class _Page:
    browser: _Browser
    pids: set[int]
    peak_mb: float
    grew_mb: float = 0.0
    printing_at: float | None = None
    started_at: float = 0.0
    held_mb: float | None = None
    over_memory_mb: float | None = None


@dataclass(eq=False)
class _Slot:
    rendering: set[_Page]
    index: int = 0


def _cause(pages: list[_Page], held: dict[int, float]) -> list[_Page]:
    pool = ChromiumRenderer("/nonexistent/chromium", memory_limit_mb=600)
    browser = pages[0].browser
    pool._kill_over_memory(cast(Any, _Slot(set(pages))), cast(Any, browser), held)
    assert len(browser.killed) == 1 and "over the render memory limit" in browser.killed[0]
    return [page for page in pages if page.over_memory_mb is not None]


def test_the_page_that_held_the_most_during_its_render_is_the_cause() -> None:
    """The image's page held 400 MB at an earlier look; by the kill its renderer has let
    its copy go (the full browser's print compositor decodes it again, in a process no
    page owns), while a long light print now holds more than the image's page does."""
    browser = _Browser()
    light = _Page(browser, {11}, peak_mb=60, printing_at=1.0, started_at=0.5)
    image = _Page(browser, {22}, peak_mb=400, printing_at=5.0, started_at=4.0)
    held = {11: 60.0, 22: 20.0, 99: 560.0}  # 99: the shared print compositor
    assert _cause([light, image], held) == [image]
    assert image.over_memory_mb == 640.0


def test_what_a_page_holds_now_counts_before_its_growth_and_its_age() -> None:
    browser = _Browser()
    old = _Page(browser, {11}, peak_mb=0, grew_mb=50, printing_at=1.0)
    big = _Page(browser, {22}, peak_mb=0, grew_mb=0, started_at=3.0)
    assert _cause([old, big], {11: 100.0, 22: 300.0, 99: 300.0}) == [big]


def test_when_no_page_held_anything_the_longest_print_is_the_cause() -> None:
    browser = _Browser()
    printing = _Page(browser, {11}, peak_mb=0, printing_at=2.0, started_at=1.0)
    loading = _Page(browser, {22}, peak_mb=0, started_at=0.5)
    assert _cause([printing, loading], {99: 700.0}) == [printing]
