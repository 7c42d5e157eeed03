"""The assets a job's finishing options name, checked when it is submitted: each must be
one of the caller's (an image for a watermark or stamp), so that a mistake is a 422 naming
the option rather than a job that fails later. The worker checks again when it runs (the
asset may be deleted meanwhile)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pdfprompt.domain import ASSET_TYPES, InvalidInputError
from pdfprompt.wiring import Services

# Images a mark can be drawn from (an SVG is not one).
MARK_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def _named(options: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any] | None]]:
    """(field, asset reference, the attachment or None for a mark's image) of every asset
    the options name."""
    named: list[tuple[str, str, Mapping[str, Any] | None]] = []
    for key in ("watermark", "stamp"):
        mark = options.get(key)
        if isinstance(mark, Mapping) and mark.get("image"):
            named.append((f"options.{key}.image", str(mark["image"]), None))
    for n, attachment in enumerate(options.get("attachments") or ()):
        if isinstance(attachment, Mapping) and attachment.get("asset"):
            named.append((f"options.attachments.{n}.asset", str(attachment["asset"]), attachment))
    return named


async def check_finish_assets(svc: Services, user_id: str, options: Mapping[str, Any]) -> None:
    """`InvalidInputError` naming the option for an asset the caller does not have, or a
    mark's image that is not a PNG, JPEG, GIF or WebP image."""
    named = _named(options)
    if not named:
        return
    references = [reference.removeprefix("asset:") for _, reference, _ in named]
    found = await svc.assets.find(user_id, references)
    by_reference = {a.id: a for a in found} | {a.name: a for a in found}
    attached: set[str] = set()
    for (field, _, attachment), reference in zip(named, references, strict=True):
        asset = by_reference.get(reference)
        if asset is None:
            raise InvalidInputError(f"{field}: you have no asset {reference!r}", field=field)
        if attachment is not None:  # its name in the PDF is unique
            name = str(attachment.get("name") or asset.name)
            if name in attached:
                where = field.removesuffix(".asset") + ".name"
                raise InvalidInputError(f"{where}: {name!r} is attached twice", field=where)
            attached.add(name)
        elif asset.content_type not in MARK_IMAGE_TYPES:
            words = ASSET_TYPES.get(asset.content_type, ("", asset.content_type))[1]
            raise InvalidInputError(
                f"{field}: asset {reference!r} is {words}; a mark is drawn from a PNG, JPEG, "
                "GIF or WebP image",
                field=field,
            )
