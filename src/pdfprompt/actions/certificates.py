"""Signing certificates: a user's upload (a PKCS#12 file and its password, checked and kept
sealed), deleting one, and what a job's `sign` option may ask for on this server."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pdfprompt.domain import (
    Certificate,
    CertificateError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    new_certificate_id,
)
from pdfprompt.pdf import SigningKey, read_pkcs12
from pdfprompt.wiring import Services


def _read_upload(data: bytes, password: str | None) -> SigningKey:
    key = read_pkcs12(data, password)
    try:
        key.check_valid()
    except CertificateError as exc:
        raise InvalidInputError(f"file: {exc.message}", field="file") from None
    return key


async def upload_certificate(
    svc: Services, user_id: str, data: bytes, password: str | None
) -> Certificate:
    """Keep the user's PKCS#12 file (already read within `max_certificate_bytes`): its key,
    certificate and chain sealed, its password forgotten. `InvalidInputError` naming `file`
    (not PKCS#12, no private key, a certificate not valid now or not for signing) or
    `password` (wrong); `ConflictError` for a certificate they have already or one too
    many."""
    limit = svc.settings.max_certificate_bytes
    if len(data) > limit:
        raise PayloadTooLargeError(f"file: over the limit of {limit} bytes", field="file")
    if not data:
        raise InvalidInputError("file: empty", field="file")
    key = await asyncio.to_thread(_read_upload, data, password)
    return await svc.certificates.add(
        user_id,
        new_certificate_id(),
        key.info(),
        await asyncio.to_thread(key.to_pkcs12),
        max_per_user=svc.settings.max_certificates_per_user,
    )


async def delete_certificate(svc: Services, user_id: str, certificate_id: str) -> None:
    """Delete the user's certificate and its sealed key; `NotFoundError` for anyone
    else's. Jobs queued to sign with it fail with `certificate_not_found`."""
    await svc.certificates.delete(user_id, certificate_id)


async def check_signing(svc: Services, user_id: str, options: Mapping[str, Any]) -> None:
    """A job's `sign` option against what this server can do, before it is queued:
    `"sign": {}` needs the operator's certificate (`options.sign`), a timestamp needs a
    time-stamping authority (`options.sign.timestamp`), and a certificate id must name one
    of the user's (`options.sign.certificate`) that is valid now."""
    sign = options.get("sign")
    if sign is None:
        return
    certificate = sign.get("certificate")
    if certificate is None and svc.signing.operator is None:
        raise InvalidInputError(
            "options.sign: this server has no certificate of its own to sign with; give "
            '"certificate" (one you uploaded to /v1/certificates)',
            field="options.sign",
        )
    if sign.get("timestamp") and svc.signing.tsa is None:
        raise InvalidInputError(
            "options.sign.timestamp: this server has no time-stamping authority",
            field="options.sign.timestamp",
        )
    if certificate is not None:
        field = "options.sign.certificate"
        try:
            found = await svc.certificates.get(user_id, certificate)
        except NotFoundError:
            raise InvalidInputError(
                f"{field}: you have no certificate {certificate}", field=field
            ) from None
        now = datetime.now(UTC)
        if found.not_after < now:
            raise InvalidInputError(
                f"{field}: certificate {certificate} expired on {found.not_after:%Y-%m-%d}",
                field=field,
            )
        if found.not_before > now:
            raise InvalidInputError(
                f"{field}: certificate {certificate} is not valid before "
                f"{found.not_before:%Y-%m-%d}",
                field=field,
            )
