"""Settings of URL jobs: which web pages may be rendered, which addresses they may reach,
who answers their DNS questions, and the bounds of what they may load (docs/url-jobs.md)."""

from __future__ import annotations

import ipaddress
import re

from pydantic import AliasChoices, BaseModel, Field, field_validator

from pdfprompt.domain import InvalidInputError, UrlPolicy, parse_networks, parse_patterns


class WebSettings(BaseModel):
    """URL jobs (`{"type": "url", "input": "https://…"}`) render a web page with Chromium,
    scripts on. They are off unless `PDFPROMPT_URL_ALLOW` names hosts; every request the page
    makes (the document, each redirect, each image, script or style) is checked against it
    and, once its host is resolved, against the special-purpose addresses, then fetched by
    pdfprompt itself from the address it checked."""

    url_allow: str = Field(
        default="",
        validation_alias=AliasChoices("PDFPROMPT_URL_ALLOW"),
        description=(
            "Hosts URL jobs may load from, separated by commas: `example.com`, or "
            "`*.example.org` for every name under it. Empty: URL jobs are off (refused with "
            "422 on `type`). A plan may name its own (`url_allow` in the plans file)."
        ),
    )
    url_allow_addresses: str = Field(
        default="",
        validation_alias=AliasChoices("PDFPROMPT_URL_ALLOW_ADDRESSES"),
        description=(
            "Private or other special-purpose address ranges (CIDRs, separated by commas) the "
            "pages may reach on purpose, e.g. an intranet's `10.20.0.0/16`. Every other "
            "private, loopback, link-local, metadata or reserved address is refused."
        ),
    )
    url_nameservers: str = Field(
        default="",
        validation_alias=AliasChoices("PDFPROMPT_URL_NAMESERVERS"),
        description=(
            "DNS servers (`address` or `address:port`, separated by commas) that resolve the "
            "hosts of URL jobs. Empty: the system's resolver."
        ),
    )
    url_max_response_mb: float = Field(
        default=20.0,
        gt=0,
        le=1024,
        validation_alias=AliasChoices("PDFPROMPT_URL_MAX_RESPONSE_MB"),
        description=(
            "The largest answer to one request of a page, in MiB; a larger one is cut off "
            "and refused (the document's: the job fails with `url_unreachable`)."
        ),
    )
    url_max_page_mb: float = Field(
        default=100.0,
        gt=0,
        le=4096,
        validation_alias=AliasChoices("PDFPROMPT_URL_MAX_PAGE_MB"),
        description="The most a page may load in all, in MiB; later requests are refused.",
    )
    url_max_requests: int = Field(
        default=300,
        ge=1,
        le=10_000,
        validation_alias=AliasChoices("PDFPROMPT_URL_MAX_REQUESTS"),
        description="Requests one page may make; later ones are refused.",
    )
    url_request_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        validation_alias=AliasChoices("PDFPROMPT_URL_REQUEST_TIMEOUT_S"),
        description=(
            "Longest wait for one request's answer (resolving, connecting and reading); the "
            "render's own timeout bounds the page as a whole."
        ),
    )

    @field_validator("url_allow")
    @classmethod
    def _patterns(cls, value: str) -> str:
        try:
            parse_patterns(value, "PDFPROMPT_URL_ALLOW")
        except InvalidInputError as exc:
            raise ValueError(exc.message) from None
        return value

    @field_validator("url_allow_addresses")
    @classmethod
    def _networks(cls, value: str) -> str:
        try:
            parse_networks(value, "PDFPROMPT_URL_ALLOW_ADDRESSES")
        except InvalidInputError as exc:
            raise ValueError(exc.message) from None
        return value

    @field_validator("url_nameservers")
    @classmethod
    def _servers(cls, value: str) -> str:
        for entry in re.split(r"[\s,]+", value.strip()):
            if not entry:
                continue
            bracketed = re.fullmatch(r"\[([^\]]+)\](?::(\d{1,5}))?", entry)
            address, _, port = (
                (bracketed.group(1), "", bracketed.group(2) or "")
                if bracketed
                else entry.rpartition(":")
                if entry.count(":") == 1
                else (entry, "", "")
            )
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ValueError(
                    f"PDFPROMPT_URL_NAMESERVERS: {entry[:60]!r} is no address or address:port"
                ) from None
            if port and not (port.isdigit() and 1 <= int(port) <= 65535):
                raise ValueError(f"PDFPROMPT_URL_NAMESERVERS: {entry[:60]!r}: bad port")
        return value

    @property
    def url_policy(self) -> UrlPolicy:
        """What the pages of URL jobs may load, as the settings say."""
        return UrlPolicy(
            parse_patterns(self.url_allow, "PDFPROMPT_URL_ALLOW"),
            parse_networks(self.url_allow_addresses, "PDFPROMPT_URL_ALLOW_ADDRESSES"),
        )
