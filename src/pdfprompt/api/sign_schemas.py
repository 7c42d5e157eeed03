"""The `sign` option of a job (`OptionsIn.sign`): which certificate, where the signature is
drawn (or nowhere), the words it carries and whether it is timestamped. What depends on
the server (its own certificate, a time-stamping authority, the user's certificates) is
checked when the job is submitted (`actions.check_signing`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from pdfprompt.domain import CERTIFICATE_ID_PATTERN

# A PDF page is at most 14,400 pt on a side (200 in).
MAX_PAGE_POINTS = 14400.0
MAX_SIGNATURE_TEXT_CHARS = 200
# Printable text on one line: no control characters.
_ONE_LINE = r"^[^\x00-\x1f\x7f]*$"

Points = Annotated[float, Field(ge=0, le=MAX_PAGE_POINTS)]
Extent = Annotated[float, Field(gt=0, le=MAX_PAGE_POINTS)]
SignatureText = Annotated[
    str, Field(min_length=1, max_length=MAX_SIGNATURE_TEXT_CHARS, pattern=_ONE_LINE)
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class SignatureBoxIn(_Strict):
    """Where the visible signature is drawn: a page (1-based; -1 is the last) and a
    rectangle in points from the page's bottom-left corner."""

    page: Annotated[int, Field(ge=-1, le=100_000)] = 1
    x: Points = 36.0
    y: Points = 36.0
    width: Extent = 200.0
    height: Extent = 60.0

    @model_validator(mode="after")
    def _page(self) -> SignatureBoxIn:
        if self.page == 0:
            raise ValueError("page: pages count from 1 (-1 is the last)")
        return self


class SignIn(_Strict):
    """A PAdES signature: `{}` signs with the server's certificate, `certificate` with one
    of yours (`crt_…`); `box` makes it visible; `timestamp` adds an RFC 3161 timestamp from
    the server's time-stamping authority (PAdES B-T)."""

    certificate: Annotated[str, Field(pattern=CERTIFICATE_ID_PATTERN)] | None = None
    box: SignatureBoxIn | None = None
    reason: SignatureText | None = None
    location: SignatureText | None = None
    contact: SignatureText | None = None
    timestamp: StrictBool | None = None
