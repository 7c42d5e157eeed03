"""Which Chromium runs: the configured one, else a headless shell before a full browser."""

from __future__ import annotations

from pathlib import Path

import pytest

from pdfprompt.render import find_chromium
from pdfprompt.render.chromium import is_headless_shell
from pdfprompt.render.chromium.discovery import BROWSERS, HEADLESS_SHELLS


def test_configured_chromium_path_wins_or_is_reported_missing(tmp_path: Path) -> None:
    fake = tmp_path / "chrome"
    fake.write_text("")
    assert find_chromium(str(fake)) == str(fake)
    assert find_chromium(str(tmp_path / "nope")) is None


def test_a_headless_shell_is_found_before_a_browser(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bin_dir, lib_dir = tmp_path / "bin", tmp_path / "lib"
    for folder in (bin_dir, lib_dir):
        folder.mkdir()
    for exe in (bin_dir / "chromium", bin_dir / "chromium-headless-shell", lib_dir / "shell"):
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(
        "pdfprompt.render.chromium.discovery.HEADLESS_SHELLS",
        (str(lib_dir / "shell"), "chromium-headless-shell"),
    )
    monkeypatch.setattr("pdfprompt.render.chromium.discovery.BROWSERS", ("chromium",))
    # A listed path (Debian's real binary) comes before a name on PATH (its wrapper script).
    assert find_chromium(None) == str(lib_dir / "shell")
    (lib_dir / "shell").unlink()
    assert find_chromium(None) == str(bin_dir / "chromium-headless-shell")
    (bin_dir / "chromium-headless-shell").unlink()
    assert find_chromium(None) == str(bin_dir / "chromium")
    (bin_dir / "chromium").unlink()
    assert find_chromium(None) is None


def test_every_headless_shell_this_project_looks_for_is_known_as_one() -> None:
    """A headless shell's pages draw no frames; a full browser's do (render/chromium/pool.py)."""
    assert all(is_headless_shell(path) for path in HEADLESS_SHELLS)
    assert is_headless_shell("/opt/chrome/headless_shell")
    assert not any(is_headless_shell(path) for path in BROWSERS)
