"""Signing certificates: what a user's uploaded certificate shows of itself (never its key),
and the errors of signing a PDF with one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from pdfprompt.domain.errors import PdfPromptError
from pdfprompt.domain.ids import new_id

CERTIFICATE_ID_PATTERN = r"^crt_[0-9a-f-]{36}$"
_ID = re.compile(CERTIFICATE_ID_PATTERN)


@dataclass(frozen=True, slots=True)
class Certificate:
    """A user's signing certificate as it is listed: its names, validity and fingerprint. The
    private key it came with is kept sealed and never shown."""

    id: str
    subject: str
    issuer: str
    serial_number: str  # hexadecimal
    not_before: datetime
    not_after: datetime
    fingerprint_sha256: str  # of the certificate's DER, hexadecimal
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """What is read from a certificate at upload (the row's columns but its id and time)."""

    subject: str
    issuer: str
    serial_number: str
    not_before: datetime
    not_after: datetime
    fingerprint_sha256: str


def new_certificate_id() -> str:
    return "crt_" + new_id()


def is_certificate_id(text: str) -> bool:
    return _ID.fullmatch(text) is not None


class CertificateError(PdfPromptError):
    """The certificate a job signs with cannot sign: `certificate_expired`,
    `certificate_not_yet_valid`, `certificate_not_found` (deleted since the job was
    submitted), `certificate_unreadable` (sealed under another `PDFPROMPT_SECRET_KEY`),
    `signing_not_configured`. The same on every try."""

    code = "certificate_invalid"

    def __init__(self, message: str, *, code: str, field: str | None = None) -> None:
        super().__init__(message, field=field, transient=False)
        self.code = code


class SigningError(PdfPromptError):
    """pyHanko could not sign the PDF (a PDF it cannot update, a password that does not open
    it): the same on every try."""

    code = "signing_failed"


class TimestampError(PdfPromptError):
    """The time-stamping authority did not answer with a usable timestamp; a retry may."""

    code = "timestamp_failed"
    transient = True
