"""The signer of finished PDFs: the operator's certificate (`"sign": {}`) or one the job's
owner uploaded, checked again when the job signs (a certificate may have expired, or been
deleted, since the job was queued), and pyHanko's work run off the event loop."""

from __future__ import annotations

import asyncio

from pdfprompt.accounts import CertificateStore
from pdfprompt.domain import CertificateError, NotFoundError, Signing
from pdfprompt.pdf import SigningKey, SigningSetup, read_sealed_key, sign_pdf


class CertificateSigner:
    """`Signer` of the job pipeline."""

    def __init__(self, setup: SigningSetup, certificates: CertificateStore | None) -> None:
        self.setup = setup
        self.certificates = certificates
        # One time-stamp client per process: the size of its tokens is learnt once.
        self._stamper = setup.tsa.stamper() if setup.tsa is not None else None

    async def sign(self, pdf: bytes, spec: Signing, user_id: str, *, password: str | None) -> bytes:
        key = await self._key(spec, user_id)
        key.check_valid()
        if spec.timestamp and self._stamper is None:
            raise CertificateError(
                "a timestamp was asked for and this worker has no PDFPROMPT_TSA_URL",
                code="signing_not_configured",
            )
        return await asyncio.to_thread(
            sign_pdf, pdf, key, spec, password=password, timestamper=self._stamper
        )

    async def _key(self, spec: Signing, user_id: str) -> SigningKey:
        if spec.certificate is None:
            if self.setup.operator is None:
                raise CertificateError(
                    "this worker has no operator certificate (PDFPROMPT_SIGNING_CERT)",
                    code="signing_not_configured",
                )
            return self.setup.operator
        if self.certificates is None:
            raise CertificateError(
                "this worker cannot read users' certificates", code="signing_not_configured"
            )
        try:
            sealed = await self.certificates.key_of(user_id, spec.certificate)
        except NotFoundError:
            raise CertificateError(
                f"certificate {spec.certificate} was deleted after the job was submitted",
                code="certificate_not_found",
            ) from None
        return await asyncio.to_thread(read_sealed_key, sealed)
