"""The finishing steps a job asks for (`FinishOptions`), applied to its PDF after rendering (or
after reading, for the PDF job types), in their order: watermark, stamp, the plan's
watermark, attachments, PDF/A, PDF/UA, encryption, signature. Each step's CPU work runs off
the event loop; a step that fails raises, and nothing half-finished is stored."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

from pdfprompt.accounts import AssetStore
from pdfprompt.domain import (
    CertificateError,
    FinishOptions,
    InvalidInputError,
    JobWarning,
    Protection,
    Signing,
)
from pdfprompt.storage import Storage


class Signer(Protocol):
    """Signs a finished PDF (the last step) with the operator's certificate or one of the
    user's."""

    async def sign(self, pdf: bytes, spec: Signing, user_id: str, *, password: str | None) -> bytes:
        """`pdf` signed as `spec` asks; `password` opens it when it is encrypted."""
        ...


@dataclass(frozen=True, slots=True)
class FinishTools:
    """What the steps look things up in: the owner's assets (images, attachments) and the
    signer (None: no signing configured)."""

    storage: Storage
    assets: AssetStore | None = None
    signer: Signer | None = None


@dataclass(frozen=True, slots=True)
class Finished:
    data: bytes
    warnings: tuple[JobWarning, ...] = ()


async def finish_pdf(
    pdf: bytes,
    finishing: FinishOptions,
    tools: FinishTools,
    *,
    user_id: str,
    plan_watermark: bool,
    title: str | None = None,
    lang: str | None = None,
) -> Finished:
    """`pdf` with every step `finishing` asks for applied, in order. `plan_watermark`: draw
    the plan's watermark after the user's marks. `title`, `lang`: the document's, for PDF/A
    and PDF/UA."""
    if not finishing.any and not plan_watermark:
        return Finished(pdf)
    if plan_watermark or replace(finishing, sign=None).any:
        raise InvalidInputError("options: finishing is not available yet", field="options")
    data = pdf
    # Last: nothing changes the PDF after it (the signature covers every byte).
    if finishing.sign is not None:
        if tools.signer is None:
            raise CertificateError("this worker cannot sign PDFs", code="signing_not_configured")
        data = await tools.signer.sign(
            data, finishing.sign, user_id, password=_opening_password(finishing.encrypt)
        )
    return Finished(data)


def _opening_password(protection: Protection | None) -> str | None:
    """The password that opens the encrypted PDF for signing: the owner's when given (it
    lifts every restriction), else the user's (None: not encrypted, or an empty user
    password)."""
    if protection is None:
        return None
    return protection.owner_password or protection.user_password
