"""Checking finished PDFs with tools independent of the code that made them: qpdf, poppler's
pdftotext, Ghostscript, pypdfium2's pixels and pikepdf's view of the objects."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pikepdf
import pypdfium2

# A page drawn at this scale for pixel checks (72 dpi x 1 = one pixel a point).
SCALE = 1.0


def tool(args: list[str], tmp: Path, pdf: bytes) -> subprocess.CompletedProcess[str]:
    """Run a command-line tool on `pdf` (written to a file in `tmp`; `{}` in `args` is its
    path)."""
    path = tmp / f"checked-{abs(hash(pdf))}.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        [str(path) if a == "{}" else a for a in args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def qpdf_check(pdf: bytes, tmp: Path, password: str | None = None) -> None:
    """`qpdf --check` finds no damage (with `password` for an encrypted file)."""
    args = ["qpdf", "--check", *([f"--password={password}"] if password else []), "{}"]
    done = tool(args, tmp, pdf)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No syntax or stream encoding errors found" in done.stdout, done.stdout


def requires_password(pdf: bytes, tmp: Path) -> int:
    """`qpdf --requires-password`: 0 needs one, 2 not encrypted, 3 encrypted but opens
    without one."""
    return tool(["qpdf", "--requires-password", "{}"], tmp, pdf).returncode


def page_text(pdf: bytes, tmp: Path, page: int, password: str | None = None) -> str:
    """poppler's `pdftotext` of one page (1-based)."""
    args = ["pdftotext", "-f", str(page), "-l", str(page)]
    if password:
        args += ["-upw", password]
    done = tool([*args, "{}", "-"], tmp, pdf)
    assert done.returncode == 0, done.stderr
    return done.stdout


def ghostscript_reads(pdf: bytes, tmp: Path) -> None:
    """Ghostscript draws every page with no error or warning about the file."""
    done = tool(
        ["gs", "-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", "-sDEVICE=nullpage", "{}"], tmp, pdf
    )
    said = (done.stdout + done.stderr).lower()
    assert done.returncode == 0 and "error" not in said and "warning" not in said, said


def pixels(pdf: bytes, page: int = 1) -> tuple[int, int, bytes]:
    """Page `page` (1-based) drawn in RGB: width, height and rows of pixels from the top."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        bitmap = document[page - 1].render(scale=SCALE)
        image = bitmap.to_pil().convert("RGB")
    finally:
        document.close()
    return image.width, image.height, image.tobytes()


def colors_in(
    pdf: bytes, box: tuple[float, float, float, float], page: int = 1
) -> set[tuple[int, int, int]]:
    """The colours of the pixels within `box` (left, top, right, bottom, as fractions of
    the page from its top-left corner)."""
    width, height, data = pixels(pdf, page)
    found = set()
    left, top, right, bottom = (
        int(box[0] * width),
        int(box[1] * height),
        int(box[2] * width),
        int(box[3] * height),
    )
    for y in range(top, bottom):
        row = data[y * width * 3 : (y + 1) * width * 3]
        for x in range(left, right):
            found.add((row[3 * x], row[3 * x + 1], row[3 * x + 2]))
    return found


def near(
    colors: set[tuple[int, int, int]], color: tuple[int, int, int], tolerance: int = 12
) -> bool:
    return any(all(abs(a - b) <= tolerance for a, b in zip(c, color, strict=True)) for c in colors)


def opened(pdf: bytes, password: str = "") -> pikepdf.Pdf:
    return pikepdf.open(io.BytesIO(pdf), password=password)
