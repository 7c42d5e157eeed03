"""Settings of `pdfprompt.storage`: where PDFs are kept and how they are handed out."""

from __future__ import annotations

from pydantic import AliasChoices, BaseModel, Field


class StorageSettings(BaseModel):
    """Where PDFs are kept: a local directory (a shared volume serves several nodes) or any
    S3-compatible store. S3 credentials come from the standard `AWS_*` variables or an
    instance role."""

    storage_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("PDFPROMPT_STORAGE_URL"),
        description=(
            "`file:///path` or `s3://bucket/prefix`. Unset: the directory `files` in the data "
            "directory."
        ),
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("PDFPROMPT_S3_ENDPOINT_URL"),
        description=("The S3-compatible endpoint (MinIO, Ceph, R2, …). Unset: AWS S3 itself."),
    )
    s3_region: str | None = Field(
        default=None,
        validation_alias=AliasChoices("PDFPROMPT_S3_REGION"),
        description=(
            "The S3 region. Unset: the standard AWS configuration's (`AWS_DEFAULT_REGION`, …)."
        ),
    )
    s3_presign_s: int = Field(
        default=0,
        ge=0,
        le=7 * 86400,
        validation_alias=AliasChoices("PDFPROMPT_S3_PRESIGN_S"),
        description=(
            "On S3, `GET /v1/jobs/{id}/pdf` and `GET /v1/files/{id}/content` answer `302` to a "
            "presigned URL valid this many seconds (S3 serves the bytes, with the same filename "
            "and ranges). 0: the API streams them. Share links always stream, so that every "
            "download is counted."
        ),
    )
