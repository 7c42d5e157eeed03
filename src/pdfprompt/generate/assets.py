"""An uploaded asset's bytes checked for what they claim to be: the type read from the bytes
(`domain.sniff_type`), an image's size read from its header and refused over a pixel bound
before anything is decoded (a small file can declare a huge canvas), then decoded; a font
parsed; an SVG rebuilt from its allowed parts (`clean_svg`). CPU work: run it in a thread."""

from __future__ import annotations

import io
import json
import re
import warnings
from dataclasses import dataclass
from xml.etree import ElementTree

from PIL import Image

from pdfprompt.domain import ASSET_TYPES, InvalidInputError, refused_type, sniff_type
from pdfprompt.generate.svg import clean_svg

# The most pixels an image asset may have (40 megapixels: 8000 x 5000). Checked from the
# header, before the image is decoded.
MAX_IMAGE_PIXELS = 40_000_000
_BINARY = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_DECLARATION = re.compile(r"<!(DOCTYPE|ENTITY)", re.I)
_PIL_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}


@dataclass(frozen=True, slots=True)
class InspectedAsset:
    data: bytes  # what is stored: the upload, or for an SVG its cleaned text
    content_type: str
    kind: str


def inspect_asset(data: bytes, *, max_pixels: int = MAX_IMAGE_PIXELS) -> InspectedAsset:
    """What the bytes are, checked; `InvalidInputError` (field `file`) for anything that is
    not a whole image or font of an accepted type."""
    content_type = sniff_type(data)
    if content_type is None:
        raise refused_type()
    kind = ASSET_TYPES[content_type][0]
    if content_type == "image/svg+xml":
        return InspectedAsset(clean_svg(data).encode("utf-8"), content_type, kind)
    if kind == "image":
        _check_image(data, content_type, max_pixels)
    elif kind == "data":
        _check_data(data, content_type)
    else:
        _check_font(data, content_type)
    return InspectedAsset(data, content_type, kind)


def _check_image(data: bytes, content_type: str, max_pixels: int) -> None:
    words = ASSET_TYPES[content_type][1]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[content_type]]) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise InvalidInputError(
                        f"file: a {width}x{height} image has more than the {max_pixels} pixels "
                        "an image asset may have",
                        field="file",
                    )
                image.load()
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise InvalidInputError(
            f"file: the image has more than the {max_pixels} pixels an image asset may have",
            field="file",
        ) from None
    except InvalidInputError:
        raise
    except Exception as exc:  # Pillow's many ways of saying a file is broken
        raise InvalidInputError(f"file: not a whole {words} image ({exc})", field="file") from None


def _check_data(data: bytes, content_type: str) -> None:
    """The whole file is UTF-8 text without control characters; JSON parses; XML is well
    formed and declares no document type (so no entity is ever expanded)."""
    words = ASSET_TYPES[content_type][1]
    try:
        text = data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError(f"file: {words} that is not UTF-8 text", field="file") from None
    if _BINARY.search(text):
        raise InvalidInputError(
            f"file: {words} with control characters is not a text file", field="file"
        )
    if content_type == "application/json":
        try:
            json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise InvalidInputError(f"file: not whole JSON ({exc})", field="file") from None
    elif content_type == "application/xml":
        if _DECLARATION.search(text):
            raise InvalidInputError(
                "file: XML with a document type or entity declaration is refused", field="file"
            )
        try:
            ElementTree.fromstring(text)
        except (ElementTree.ParseError, RecursionError) as exc:
            raise InvalidInputError(f"file: not well-formed XML ({exc})", field="file") from None


def _check_font(data: bytes, content_type: str) -> None:
    from fontTools.ttLib import TTFont

    words = ASSET_TYPES[content_type][1]
    try:
        font = TTFont(io.BytesIO(data), lazy=True, fontNumber=-1)
        try:
            family = font["name"].getBestFamilyName()
            font["cmap"]
            if "glyf" not in font and "CFF " not in font and "CFF2" not in font:
                raise ValueError("no outlines")
        finally:
            font.close()
    except Exception as exc:
        raise InvalidInputError(f"file: not a whole {words} font ({exc})", field="file") from None
    if not family:
        raise InvalidInputError(f"file: the {words} font has no family name", field="file")
