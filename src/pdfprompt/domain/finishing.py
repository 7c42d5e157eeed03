"""Finishing options: what is done to a PDF after it is rendered (or, for the PDF job types,
after it is read), in this order: `watermark` (under the content), `stamp` (over it), the
plan's own watermark (over everything the user asks), `attachments`, `pdfa`, `pdfua`,
`encrypt`, `sign` (last: nothing changes the PDF after it).

They live beside the render options in a job's `options` (`FINISH_KEYS`); the HTTP schema
validates them, `FinishOptions.from_dict` reads them back from a stored job."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PDFA_LEVELS = ("2b", "3b")
MARK_POSITIONS = (
    "center",
    "top-left",
    "top",
    "top-right",
    "left",
    "right",
    "bottom-left",
    "bottom",
    "bottom-right",
)
# How an attachment relates to the document (PDF/A-3's AFRelationship).
RELATIONSHIPS = ("Data", "Source", "Alternative", "Supplement", "Unspecified")
MAX_ATTACHMENTS = 20
MAX_MARK_TEXT_CHARS = 200
MAX_PASSWORD_CHARS = 127  # AES-256 (revision 6) passwords are at most 127 UTF-8 bytes


@dataclass(frozen=True, slots=True)
class Mark:
    """A watermark (under the content) or stamp (over it): a line of text or an image asset."""

    text: str | None = None
    image: str | None = None  # an asset: its id or name, with or without `asset:`
    font_size: float = 48.0  # pt (text)
    color: str = "#808080"  # #rrggbb (text)
    opacity: float = 0.3  # 0..1
    angle: float = 45.0  # degrees, counter-clockwise
    position: str = "center"  # one of MARK_POSITIONS
    pages: str | None = None  # page ranges ('1-3, 5'); None: every page
    width: str | None = None  # the image's width as a CSS length; None: a third of the page

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Mark:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Attachment:
    """An asset embedded as a file attachment."""

    asset: str  # its id or name, with or without `asset:`
    name: str | None = None  # the file's name in the PDF; None: the asset's name
    description: str | None = None
    relationship: str = "Data"  # one of RELATIONSHIPS

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Attachment:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Protection:
    """AES-256 encryption: who may open the file and what the user password allows."""

    user_password: str | None = None  # needed to open it; None: anyone may open it
    owner_password: str | None = None  # lifts the restrictions; None: a random one
    print: bool = True
    copy: bool = True
    modify: bool = True
    annotate: bool = True

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Protection:
        permissions = dict(data.get("permissions") or {})
        rest = {k: v for k, v in data.items() if k != "permissions"}
        return cls(**rest, **permissions)


@dataclass(frozen=True, slots=True)
class SignatureBox:
    """Where a visible signature is drawn: a page (1-based; -1 is the last) and a rectangle
    in points from the page's bottom-left corner."""

    page: int = 1
    x: float = 36.0
    y: float = 36.0
    width: float = 200.0
    height: float = 60.0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SignatureBox:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Signing:
    """A PAdES signature: with the operator's certificate (`certificate` None) or one the
    user uploaded (its id); visible in `box` or invisible; with an RFC 3161 timestamp from
    the configured authority when `timestamp`."""

    certificate: str | None = None
    box: SignatureBox | None = None
    reason: str | None = None
    location: str | None = None
    contact: str | None = None
    timestamp: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signing:
        values = dict(data)
        box = values.pop("box", None)
        return cls(box=SignatureBox.from_dict(box) if box else None, **values)


@dataclass(frozen=True, slots=True)
class FinishOptions:
    watermark: Mark | None = None
    stamp: Mark | None = None
    attachments: tuple[Attachment, ...] = ()
    pdfa: str | None = None  # one of PDFA_LEVELS
    pdfua: bool = False
    encrypt: Protection | None = None
    sign: Signing | None = None

    @classmethod
    def from_dict(cls, options: Mapping[str, Any]) -> FinishOptions:
        """The finishing options among a job's stored `options` (the rest are ignored)."""

        def read(key: str, kind: Any) -> Any:
            value = options.get(key)
            return None if value is None else kind.from_dict(value)

        return cls(
            watermark=read("watermark", Mark),
            stamp=read("stamp", Mark),
            attachments=tuple(Attachment.from_dict(a) for a in options.get("attachments") or ()),
            pdfa=options.get("pdfa"),
            pdfua=bool(options.get("pdfua", False)),
            encrypt=read("encrypt", Protection),
            sign=read("sign", Signing),
        )

    @property
    def marks(self) -> bool:
        """Whether the user asks for a watermark or stamp (then the plan's watermark is drawn
        after them, by the finishing steps, so that it stays on top)."""
        return self.watermark is not None or self.stamp is not None

    @property
    def any(self) -> bool:
        """Whether any finishing step is asked for."""
        return self != FinishOptions()


REDACTED = "********"
_SECRETS = ("user_password", "owner_password")


def redacted_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """A job's (or template's) options as they may be shown: the encryption passwords
    replaced by `REDACTED`. The stored options keep them for the worker."""
    shown = dict(options)
    encrypt = shown.get("encrypt")
    if isinstance(encrypt, Mapping):
        shown["encrypt"] = {
            k: (REDACTED if k in _SECRETS and v is not None else v) for k, v in encrypt.items()
        }
    return shown


FINISH_KEYS = frozenset({"watermark", "stamp", "attachments", "pdfa", "pdfua", "encrypt", "sign"})
