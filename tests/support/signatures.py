"""What a person checking a signed PDF sees: pyHanko's validator trusting the test root, and
poppler's `pdfsig` with an NSS database that trusts it; and the pixels a visible signature
paints."""

from __future__ import annotations

import io
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pikepdf
from asn1crypto import x509 as asn1_x509
from PIL import Image
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext

from tests.support.pki import TestPki


def blank_pdf(pages: int = 1, size: tuple[float, float] = (595, 842)) -> bytes:
    pdf = pikepdf.new()
    for _ in range(pages):
        pdf.add_blank_page(page_size=size)
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def validated(pdf: bytes, pki: TestPki, *, password: str | None = None) -> PdfSignatureStatus:
    """The last signature of `pdf` validated by pyHanko, trusting the test root."""
    context = ValidationContext(
        trust_roots=[asn1_x509.Certificate.load(pki.certificate_der("root"))],
        allow_fetching=False,
    )
    reader = PdfFileReader(io.BytesIO(pdf))
    if password is not None:
        reader.decrypt(password)
    return validate_pdf_signature(reader.embedded_signatures[-1], context)


@dataclass(frozen=True)
class Pdfsig:
    output: str

    @property
    def valid(self) -> bool:
        return "Signature Validation: Signature is Valid." in self.output

    @property
    def trusted(self) -> bool:
        return "Certificate Validation: Certificate is Trusted." in self.output

    @property
    def whole_file(self) -> bool:
        return "Total document signed" in self.output


def pdfsig(pdf: bytes, pki: TestPki, directory: Path, *, password: str | None = None) -> Pdfsig:
    path = directory / "checked.pdf"
    path.write_bytes(pdf)
    args = ["pdfsig", "-nssdir", f"sql:{pki.nss_db()}"]
    if password is not None:
        args += ["-upw", password]
    done = subprocess.run([*args, str(path)], capture_output=True, text=True, timeout=60)
    return Pdfsig(done.stdout + done.stderr)


def page_image(pdf: bytes, directory: Path, *, page: int = 1, dpi: int = 72) -> Image.Image:
    """Page `page` drawn by poppler's pdftoppm (1 px per point at 72 dpi)."""
    path = directory / "drawn.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(
        ["pdftoppm", "-png", "-r", str(dpi), "-f", str(page), "-l", str(page), str(path)],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return Image.open(io.BytesIO(done.stdout)).convert("L")


def dark_pixels(image: Image.Image, box: tuple[float, float, float, float]) -> int:
    """Pixels darker than light grey in `box` (x, y, width, height in points from the
    bottom-left corner, at 72 dpi)."""
    x, y, width, height = box
    top = image.height - (y + height)
    region = image.crop((int(x), int(top), int(x + width), int(top + height)))
    return sum(region.histogram()[:160])
