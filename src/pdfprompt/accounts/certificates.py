"""Users' signing certificates: the rows that describe them, and their keys sealed at rest.

A key is kept as a password-less PKCS#12 file (`pdf.SigningKey.to_pkcs12`) sealed with
AES-256-GCM (`Sealer`) under a key derived (HKDF-SHA256) from the server's secret; the
sealed bytes are bound to their row (the certificate's and its owner's ids are the
associated data), so a row's key cannot be moved to another. The user's upload password is
not kept. Rows go with their user (`ON DELETE CASCADE`)."""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.db import certificates, conflict_on_duplicate, write_transaction
from pdfprompt.domain import (
    Certificate,
    CertificateError,
    CertificateInfo,
    ConflictError,
    NotFoundError,
)

_VERSION = b"\x01"
_NONCE_BYTES = 12
_KEY_ID_BYTES = 8

_COLUMNS = (
    certificates.c.id,
    certificates.c.subject,
    certificates.c.issuer,
    certificates.c.serial_number,
    certificates.c.not_before,
    certificates.c.not_after,
    certificates.c.fingerprint_sha256,
    certificates.c.created_at,
)


class Sealer:
    """AES-256-GCM with a key derived from `secret`. A sealed value is a version byte, the
    key's id (so that a value sealed under another secret is told apart from a damaged one),
    a random nonce, and the ciphertext with its tag."""

    def __init__(self, secret: bytes) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=b"pdfprompt",
            info=b"pdfprompt certificate keys v1",
        ).derive(secret)
        self._aead = AESGCM(key)
        self.key_id = hmac.new(key, b"key id", hashlib.sha256).digest()[:_KEY_ID_BYTES]

    def seal(self, plain: bytes, context: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + self.key_id + nonce + self._aead.encrypt(nonce, plain, context)

    def open(self, sealed: bytes, context: bytes) -> bytes:
        """The plain bytes; `CertificateError` (`certificate_unreadable`) for bytes sealed
        under another secret, or damaged."""
        head = 1 + _KEY_ID_BYTES
        if sealed[:1] != _VERSION or sealed[1:head] != self.key_id:
            raise CertificateError(
                "the certificate's key was sealed under another PDFPROMPT_SECRET_KEY: upload "
                "it again, or give this process the secret it was uploaded under",
                code="certificate_unreadable",
            )
        nonce = sealed[head : head + _NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, sealed[head + _NONCE_BYTES :], context)
        except InvalidTag:
            raise CertificateError(
                "the certificate's sealed key is damaged", code="certificate_unreadable"
            ) from None


def _certificate(row: Any) -> Certificate:
    return Certificate(
        id=row.id,
        subject=row.subject,
        issuer=row.issuer,
        serial_number=row.serial_number,
        not_before=row.not_before,
        not_after=row.not_after,
        fingerprint_sha256=row.fingerprint_sha256,
        created_at=row.created_at,
    )


def _context(user_id: str, certificate_id: str) -> bytes:
    return f"{certificate_id}\x00{user_id}".encode()


class CertificateStore:
    """The rows of users' certificates, their keys sealed by `sealer`."""

    def __init__(self, engine: AsyncEngine, sealer: Sealer) -> None:
        self.engine = engine
        self.sealer = sealer

    async def add(
        self,
        user_id: str,
        certificate_id: str,
        info: CertificateInfo,
        key: bytes,
        *,
        max_per_user: int,
    ) -> Certificate:
        """A new certificate row with `key` sealed. `ConflictError` when the user has this
        certificate already, or `max_per_user` of them."""
        values = {
            "id": certificate_id,
            "user_id": user_id,
            "subject": info.subject[:1024],
            "issuer": info.issuer[:1024],
            "serial_number": info.serial_number[:128],
            "not_before": info.not_before,
            "not_after": info.not_after,
            "fingerprint_sha256": info.fingerprint_sha256,
            "sealed": self.sealer.seal(key, _context(user_id, certificate_id)),
        }
        with conflict_on_duplicate("file: this certificate is uploaded already"):
            async with write_transaction(self.engine) as conn:
                count = select(func.count()).where(certificates.c.user_id == user_id)
                if (await conn.execute(count)).scalar_one() >= max_per_user:
                    raise ConflictError(
                        f"a user keeps at most {max_per_user} certificates; delete one first"
                    )
                made = insert(certificates).values(values).returning(*_COLUMNS)
                row = (await conn.execute(made)).one()
        return _certificate(row)

    async def get(self, user_id: str, certificate_id: str) -> Certificate:
        """The user's certificate; `NotFoundError` for an unknown id or another user's."""
        query = select(*_COLUMNS).where(
            certificates.c.id == certificate_id, certificates.c.user_id == user_id
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise NotFoundError(f"certificate {certificate_id} not found")
        return _certificate(row)

    async def key_of(self, user_id: str, certificate_id: str) -> bytes:
        """The certificate's key, unsealed (the password-less PKCS#12 file).
        `NotFoundError` for an unknown id or another user's; `CertificateError` when it
        cannot be unsealed."""
        query = select(certificates.c.sealed).where(
            certificates.c.id == certificate_id, certificates.c.user_id == user_id
        )
        async with self.engine.connect() as conn:
            sealed = (await conn.execute(query)).scalar_one_or_none()
        if sealed is None:
            raise NotFoundError(f"certificate {certificate_id} not found")
        return self.sealer.open(bytes(sealed), _context(user_id, certificate_id))

    async def list_certificates(
        self, user_id: str, *, limit: int, cursor: str | None
    ) -> list[Certificate]:
        """The user's certificates newest first, after `cursor` (the previous page's last
        id)."""
        query = select(*_COLUMNS).where(certificates.c.user_id == user_id)
        if cursor is not None:
            query = query.where(certificates.c.id < cursor)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query.order_by(certificates.c.id.desc()).limit(limit))).all()
        return [_certificate(r) for r in rows]

    async def delete(self, user_id: str, certificate_id: str) -> None:
        """Delete the user's certificate and its key; `NotFoundError` for anyone else's."""
        async with write_transaction(self.engine) as conn:
            gone = await conn.execute(
                delete(certificates).where(
                    certificates.c.id == certificate_id, certificates.c.user_id == user_id
                )
            )
        if gone.rowcount == 0:
            raise NotFoundError(f"certificate {certificate_id} not found")

    async def delete_user_certificates(self, user_id: str) -> int:
        """Delete every certificate of the user; how many there were."""
        async with write_transaction(self.engine) as conn:
            gone = await conn.execute(delete(certificates).where(certificates.c.user_id == user_id))
        return int(gone.rowcount or 0)
