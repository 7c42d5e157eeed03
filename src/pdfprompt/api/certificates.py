"""Signing certificate routes: upload a PKCS#12 file with its password (multipart), list,
read and delete. The private key is never answered; uploading and deleting need the
`jobs:write` scope, reading `jobs:read`."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from pdfprompt.actions import delete_certificate, upload_certificate
from pdfprompt.api.auth import JobReader, JobWriter, Svc
from pdfprompt.api.body import read_body
from pdfprompt.api.openapi import problems
from pdfprompt.domain import CERTIFICATE_ID_PATTERN, Certificate, InvalidInputError
from pdfprompt.settings import Settings

router = APIRouter(prefix="/v1")

# What a multipart body may carry besides the file: the boundaries, the parts' headers and
# the `password` field.
MULTIPART_OVERHEAD_BYTES = 8 * 1024
MAX_PASSWORD_FIELD_BYTES = 1024


def certificate_body_limit(settings: Settings) -> int:
    """The largest body of a certificate upload (the request guard's share)."""
    return settings.max_certificate_bytes + MULTIPART_OVERHEAD_BYTES


class CertificateOut(BaseModel):
    id: str
    subject: str
    issuer: str
    serial_number: str
    not_before: datetime
    not_after: datetime
    fingerprint_sha256: str
    created_at: datetime

    @classmethod
    def of(cls, certificate: Certificate) -> CertificateOut:
        return cls(
            id=certificate.id,
            subject=certificate.subject,
            issuer=certificate.issuer,
            serial_number=certificate.serial_number,
            not_before=certificate.not_before,
            not_after=certificate.not_after,
            fingerprint_sha256=certificate.fingerprint_sha256,
            created_at=certificate.created_at,
        )


class CertificateList(BaseModel):
    items: list[CertificateOut]
    next_cursor: str | None


_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": (
            "A `multipart/form-data` body: the PKCS#12 file (`.p12`, `.pfx`: the private "
            "key, its certificate and chain) as the part `file`, and its `password`. The "
            "password is used once to open the file and not kept; the key is kept sealed "
            "and never answered."
        ),
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "password": {"type": "string", "format": "password"},
                    },
                }
            }
        },
    }
}


async def _one_chunk(body: bytes) -> AsyncGenerator[bytes, None]:
    yield body


async def _form(request: Request, body: bytes) -> tuple[bytes, str | None]:
    """The `file` part's bytes and the `password` field of a multipart body already read
    within its limit."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "multipart/form-data":
        raise InvalidInputError(
            "body: send a multipart/form-data form with the parts `file` and `password`",
            field="body",
        )
    parser = MultiPartParser(
        request.headers,
        _one_chunk(body),
        max_files=1,
        max_fields=4,
        max_part_size=MAX_PASSWORD_FIELD_BYTES,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise InvalidInputError(
            f"body: not a multipart form ({exc.message})", field="body"
        ) from None
    except Exception as exc:  # a malformed header or boundary the parser chokes on
        raise InvalidInputError(f"body: not a multipart form ({exc})", field="body") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInputError("file: the form has no file part `file`", field="file")
        password = form.get("password")
        if password is not None and not isinstance(password, str):
            raise InvalidInputError("password: must be a text field", field="password")
        return await upload.read(), password
    finally:
        await form.close()


@router.post(
    "/certificates",
    status_code=201,
    response_model=CertificateOut,
    responses=problems(409, 413, 429),
    openapi_extra=_UPLOAD_BODY,
)
async def create_certificate(request: Request, caller: JobWriter, svc: Svc) -> JSONResponse:
    """Upload a signing certificate (PKCS#12 with its private key). Refused (`422`, naming
    `file` or `password`): not PKCS#12, a wrong password, no private key, a certificate
    expired, not valid yet or not meant for signatures. Jobs sign with it through
    `"sign": {"certificate": "crt_…"}`."""
    body = await read_body(request, certificate_body_limit(svc.settings))
    data, password = await _form(request, body)
    made = await upload_certificate(svc, caller.user_id, data, password)
    return JSONResponse(
        CertificateOut.of(made).model_dump(mode="json"),
        201,
        headers={"Location": f"/v1/certificates/{made.id}"},
    )


@router.get("/certificates", response_model=CertificateList)
async def list_certificates(
    caller: JobReader,
    svc: Svc,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(pattern=CERTIFICATE_ID_PATTERN)] = None,
) -> CertificateList:
    """The user's certificates, newest first (never their keys)."""
    found = await svc.certificates.list_certificates(caller.user_id, limit=limit + 1, cursor=cursor)
    more = len(found) > limit
    items = found[:limit]
    return CertificateList(
        items=[CertificateOut.of(c) for c in items], next_cursor=items[-1].id if more else None
    )


@router.get(
    "/certificates/{certificate_id}", response_model=CertificateOut, responses=problems(404)
)
async def get_certificate(certificate_id: str, caller: JobReader, svc: Svc) -> CertificateOut:
    return CertificateOut.of(await svc.certificates.get(caller.user_id, certificate_id))


@router.delete("/certificates/{certificate_id}", status_code=204, responses=problems(404))
async def remove_certificate(certificate_id: str, caller: JobWriter, svc: Svc) -> Response:
    """Delete the certificate and its sealed key. Jobs queued to sign with it fail
    (`certificate_not_found`)."""
    await delete_certificate(svc, caller.user_id, certificate_id)
    return Response(status_code=204)
