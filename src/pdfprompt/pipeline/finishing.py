"""The finishing steps a job asks for (`FinishOptions`), applied to its PDF after rendering (or
after reading, for the PDF job types), in their order: watermark, stamp, the plan's
watermark, attachments, PDF/A, PDF/UA, encryption, signature. Each step's CPU work runs off
the event loop; a step that fails raises, and nothing half-finished is stored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pdfprompt.accounts import AssetStore
from pdfprompt.domain import FinishOptions, InvalidInputError, JobWarning, Signing
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
    raise InvalidInputError("options: finishing is not available yet", field="options")
