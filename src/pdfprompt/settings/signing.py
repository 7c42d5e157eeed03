"""Settings of PDF signatures: the operator's certificate, the time-stamping authority, and
the key that seals users' certificates at rest."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator


class SigningSettings(BaseModel):
    """PAdES signatures (docs/signing.md): `"sign": {}` signs with the operator's
    certificate, `"sign": {"certificate": "crt_…"}` with one the user uploaded
    (`POST /v1/certificates`); `"timestamp": true` adds an RFC 3161 timestamp (PAdES B-T)."""

    signing_cert: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("PDFPROMPT_SIGNING_CERT"),
        description=(
            "PKCS#12 file (`.p12`, `.pfx`) with the operator's signing certificate, its "
            'private key and chain; jobs asking for `"sign": {}` are signed with it. Read '
            "at start: a file that cannot be read or opened with the password, holds no key, "
            'or whose certificate is not valid now stops the start. Unset: `"sign": {}` is '
            "refused (`422` on `options.sign`)."
        ),
    )
    signing_cert_password: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("PDFPROMPT_SIGNING_CERT_PASSWORD"),
        description="Password of `PDFPROMPT_SIGNING_CERT`. Unset: a file without a password.",
    )
    tsa_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("PDFPROMPT_TSA_URL"),
        description=(
            "RFC 3161 time-stamping authority (an `http://` or `https://` URL) asked for the "
            'timestamp of signatures with `"timestamp": true` (PAdES B-T). Unset: such '
            "jobs are refused (`422` on `options.sign.timestamp`)."
        ),
    )
    tsa_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=120,
        validation_alias=AliasChoices("PDFPROMPT_TSA_TIMEOUT_S"),
        description=(
            "Longest wait, in seconds, for the time-stamping authority; no timestamp by "
            "then fails the attempt (`timestamp_failed`, retried like other transient "
            "failures)."
        ),
    )
    secret_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("PDFPROMPT_SECRET_KEY"),
        description=(
            "Secret from which the key that seals users' uploaded certificates at rest "
            "(AES-256-GCM) is derived; at least 32 characters. Every API and worker process "
            "of one deployment needs the same. Unset: a random one is made once and kept in "
            "`secret.key` under the data directory (enough for one machine); certificates "
            "sealed under another secret fail to sign with `certificate_unreadable`."
        ),
    )
    max_certificate_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        le=1024 * 1024,
        validation_alias=AliasChoices("PDFPROMPT_MAX_CERTIFICATE_BYTES"),
        description=(
            "Largest PKCS#12 file a user may upload (`413` above, refused before it is read)."
        ),
    )
    max_certificates_per_user: int = Field(
        default=20,
        ge=1,
        validation_alias=AliasChoices("PDFPROMPT_MAX_CERTIFICATES_PER_USER"),
        description="Certificates a user may keep (`409` above).",
    )

    @field_validator("tsa_url")
    @classmethod
    def _tsa_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value or None

    @field_validator("secret_key")
    @classmethod
    def _secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return value
