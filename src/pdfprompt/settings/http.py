"""Settings of the HTTP API: where it listens, what a request may carry, whom it believes."""

from __future__ import annotations

import ipaddress

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator


class HttpSettings(BaseModel):
    """The HTTP API of `pdfprompt serve` and `pdfprompt api`."""

    host: str = Field(
        default="127.0.0.1",
        validation_alias=AliasChoices("PDFPROMPT_HOST"),
        description=(
            "Address `serve` and `api` listen on (`--host` overrides it); the worker's metrics "
            "listener uses it too."
        ),
    )
    port: int = Field(
        default=8000,
        ge=0,
        le=65535,
        validation_alias=AliasChoices("PDFPROMPT_PORT"),
        description="Port `serve` and `api` listen on (`--port` overrides it).",
    )
    public_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("PDFPROMPT_PUBLIC_URL"),
        description=(
            "Where clients reach the API; links in webhook events start with it. Unset: "
            "`http://<host>:<port>` of this process. Set it behind a proxy or when listening "
            "on 0.0.0.0."
        ),
    )
    max_input_bytes: int = Field(
        default=1_048_576,
        ge=1,
        validation_alias=AliasChoices("PDFPROMPT_MAX_INPUT_BYTES"),
        description=(
            "Largest `input` of a job, in UTF-8 bytes (`413 payload_too_large` above). A "
            "submission's body may be three times this (as JSON may spell the input) plus "
            "64 KiB; a larger one is refused before it is read."
        ),
    )
    max_asset_mb: int = Field(
        default=10,
        ge=1,
        le=100,
        validation_alias=AliasChoices("PDFPROMPT_MAX_ASSET_MB"),
        description=(
            "Largest uploaded asset (image or font), in MiB, whatever the plan (a plan's "
            "`max_file_bytes` applies under it). A larger upload is refused "
            "(`413 payload_too_large`) before its body is read."
        ),
    )
    max_document_assets_mb: int = Field(
        default=50,
        ge=1,
        validation_alias=AliasChoices("PDFPROMPT_MAX_DOCUMENT_ASSETS_MB"),
        description=(
            "The most asset bytes one document may load, in MiB (at most 200 distinct "
            "assets): the assets past it are not loaded, and the job says so in a "
            "`resource_refused` warning."
        ),
    )
    max_prompt_chars: int = Field(
        default=20_000,
        ge=1,
        validation_alias=AliasChoices("PDFPROMPT_MAX_PROMPT_CHARS"),
        description=(
            "Longest prompt, and longest revision instructions, in characters "
            "(`422 invalid_input` above); a plan's own limit applies under it."
        ),
    )
    trusted_proxies: str = Field(
        default="",
        validation_alias=AliasChoices("PDFPROMPT_TRUSTED_PROXIES"),
        description=(
            "Addresses or networks of the reverse proxies whose `X-Forwarded-For` and "
            "`X-Forwarded-Proto` are believed, comma-separated (`*`: any peer). Unset: the "
            "connection's own address counts, so a client cannot choose the address its "
            "requests (share-link downloads among them) are counted under."
        ),
        json_schema_extra={"value": "comma-separated list"},
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("PDFPROMPT_METRICS_TOKEN"),
        description=(
            "When set, `GET /metrics` answers only `Authorization: Bearer <token>` (`401` "
            "otherwise). Unset, it is open, which suits the default listener on 127.0.0.1: set "
            "it, or keep the port private, when listening on other addresses. The worker's "
            "`PDFPROMPT_WORKER_METRICS_PORT` has no token and belongs on a private address."
        ),
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        for item in (v.strip() for v in value.split(",")):
            if item and item != "*":
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError:
                    raise ValueError(
                        f"PDFPROMPT_TRUSTED_PROXIES: {item!r} is not an address or network"
                    ) from None
        return value

    @property
    def max_asset_bytes(self) -> int:
        """`PDFPROMPT_MAX_ASSET_MB` in bytes."""
        return self.max_asset_mb * 1024 * 1024

    @property
    def max_document_assets_bytes(self) -> int:
        """`PDFPROMPT_MAX_DOCUMENT_ASSETS_MB` in bytes."""
        return self.max_document_assets_mb * 1024 * 1024

    @property
    def trusted_proxy_list(self) -> list[str]:
        """`PDFPROMPT_TRUSTED_PROXIES` as a list."""
        return [v.strip() for v in self.trusted_proxies.split(",") if v.strip()]

    @property
    def effective_public_url(self) -> str:
        """The API's address for clients, ending in a slash."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/") + "/"
