"""Which Chromium runs: the one `PDFPROMPT_CHROMIUM_PATH` names, else the first found on this
machine, where a command name is looked up on PATH and a path is taken as it is."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# The headless shell comes first: the same engine without the browser around it. It prints to
# PDF in its page's renderer process where the full browser starts a print-compositor process
# per document, so it costs less CPU per render (docs/render.md, "Build", has the figures).
# Debian's binary is named by path ahead of PATH, where /usr/bin/chromium-headless-shell is
# a shell script that does not exec it.
HEADLESS_SHELLS = (
    "/usr/lib/chromium/chromium-headless-shell",
    "chrome-headless-shell",
    "chromium-headless-shell",
    "/opt/google/chrome-headless-shell/chrome-headless-shell",
)
BROWSERS = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
    "/usr/bin/google-chrome-stable",
    "/snap/bin/chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
)


def _first(candidates: tuple[str, ...]) -> str | None:
    for candidate in candidates:
        if os.path.isabs(candidate):
            if Path(candidate).exists():
                return candidate
        elif found := shutil.which(candidate):
            return found
    return None


def find_headless_shell() -> str | None:
    """Chromium's headless shell, where this machine has one."""
    return _first(HEADLESS_SHELLS)


def is_headless_shell(path: str) -> bool:
    """Whether the Chromium at `path` is a headless shell, by its name (as every build of it
    is named: chrome-headless-shell, chromium-headless-shell, headless_shell)."""
    name = Path(path).name.replace("_", "-")
    return "headless-shell" in name


def find_browser() -> str | None:
    """A full Chromium or Chrome browser, where this machine has one."""
    return _first(BROWSERS)


def find_chromium(configured: str | None) -> str | None:
    """The configured Chromium (None when that path does not exist: a configured path is
    never replaced by another), else the first one found on this machine: a headless shell
    before a full browser."""
    if configured:
        return configured if Path(configured).exists() else None
    return find_headless_shell() or find_browser()
