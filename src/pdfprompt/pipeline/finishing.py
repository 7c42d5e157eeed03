"""The finishing steps a job asks for (`FinishOptions`), applied to its PDF after rendering (or
after reading, for the PDF job types), in their order: watermark, stamp, the plan's
watermark, attachments, PDF/A, PDF/UA, encryption, signature. Each step's CPU work runs off
the event loop; a step that fails raises, and nothing half-finished is stored."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from pdfprompt.accounts import AssetStore
from pdfprompt.domain import (
    Asset,
    FinishOptions,
    InvalidInputError,
    JobWarning,
    NotFoundError,
    Signing,
)
from pdfprompt.pdf import (
    PLAN_MARK,
    PLAN_MARK_MARGIN_PT,
    Accessibility,
    AttachedFile,
    FinishSteps,
    MarkImage,
    MarkStep,
    finish_document,
    read_document,
)
from pdfprompt.storage import Storage

# What the attachments and image marks of one job may load in all.
MAX_FINISH_ASSET_BYTES = 50 * 1024 * 1024


class Signer(Protocol):
    """Signs a finished PDF (the last step) with the operator's certificate or one of the
    user's."""

    async def sign(self, pdf: bytes, spec: Signing, user_id: str, *, password: str | None) -> bytes:
        """`pdf` signed as `spec` asks; `password` opens it when it is encrypted."""
        ...


@dataclass(frozen=True, slots=True)
class FinishTools:
    """What the steps look things up in: the owner's assets (images, attachments) and the
    signer (None: no signing configured); at most `max_asset_bytes` of assets per job."""

    storage: Storage
    assets: AssetStore | None = None
    signer: Signer | None = None
    max_asset_bytes: int = MAX_FINISH_ASSET_BYTES


@dataclass(frozen=True, slots=True)
class Finished:
    data: bytes
    warnings: tuple[JobWarning, ...] = ()


def asset_reference(value: str) -> str:
    """An asset option's id or name, without `asset:`."""
    return value.strip().removeprefix("asset:").strip()


async def finish_pdf(
    pdf: bytes,
    finishing: FinishOptions,
    tools: FinishTools,
    *,
    user_id: str,
    plan_watermark: bool,
    title: str | None = None,
    lang: str | None = None,
    document: str | None = None,
) -> Finished:
    """`pdf` with every step `finishing` asks for applied, in order. `plan_watermark`: draw
    the plan's watermark after the user's marks. `title`, `lang`: the document's, for PDF/A
    and PDF/UA; `document`: the HTML it was rendered from (its title, language and images'
    alt texts, for PDF/UA). `InvalidInputError` naming the option for an asset that is not
    the owner's or cannot be used, a PDF that cannot take a step (not tagged for PDF/UA, not
    PDF/A after the steps), or signing asked of a server that has no signer."""
    if not finishing.any and not plan_watermark:
        return Finished(pdf)
    if finishing.sign is not None and tools.signer is None:
        raise InvalidInputError(
            "options.sign: this server has no signing configured", field="options.sign"
        )
    loaded = _Loaded(tools, user_id)
    marks: list[MarkStep] = []
    for key, mark, over in (
        ("watermark", finishing.watermark, False),
        ("stamp", finishing.stamp, True),
    ):
        if mark is None:
            continue
        field = f"options.{key}"
        image = None
        if mark.image is not None:
            asset, data = await loaded.asset(mark.image, f"{field}.image")
            image = MarkImage(data, asset.content_type)
        marks.append(MarkStep(mark, over, field, image))
    if plan_watermark:
        marks.append(MarkStep(PLAN_MARK, True, "plan", margin_pt=PLAN_MARK_MARGIN_PT))
    attached: list[AttachedFile] = []
    for n, attachment in enumerate(finishing.attachments):
        asset, data = await loaded.asset(attachment.asset, f"options.attachments.{n}.asset")
        name = attachment.name or asset.name
        if any(name == a.name for a in attached):
            field = f"options.attachments.{n}.name"
            raise InvalidInputError(f"{field}: {name!r} is attached twice", field=field)
        attached.append(
            AttachedFile(
                name,
                data,
                asset.content_type,
                attachment.description,
                attachment.relationship,
            )
        )
    about = None
    if finishing.pdfua:
        read = read_document(document)
        about = Accessibility(title or read.title, lang or read.lang, read.alts)
    protection = finishing.encrypt
    if protection is not None and finishing.sign is not None and not protection.owner_password:
        # The signer opens the encrypted file with the owner's password (whatever the
        # permissions forbid the user): one is made here rather than by the encryption.
        protection = replace(protection, owner_password=secrets.token_urlsafe(32))
    steps = FinishSteps(
        marks=tuple(marks),
        attachments=tuple(attached),
        pdfa=finishing.pdfa,
        pdfua=about,
        protection=protection,
    )
    data, notes = await asyncio.to_thread(finish_document, pdf, steps)
    warnings = tuple(JobWarning("pdfua_incomplete", note) for note in notes)
    if finishing.sign is not None:
        assert tools.signer is not None
        password = protection.owner_password if protection is not None else None
        data = await tools.signer.sign(data, finishing.sign, user_id, password=password)
    return Finished(data, warnings)


class _Loaded:
    """The owner's assets the steps use, read from storage (within the byte limit)."""

    def __init__(self, tools: FinishTools, user_id: str) -> None:
        self.tools = tools
        self.user_id = user_id
        self.total = 0

    async def asset(self, reference: str, field: str) -> tuple[Asset, bytes]:
        name = asset_reference(reference)
        found = await self._find([name]) if name else []
        asset = next((a for a in found if name in (a.id, a.name)), None)
        if asset is None:
            raise InvalidInputError(f"{field}: you have no asset {name!r}", field=field)
        if self.total + asset.size_bytes > self.tools.max_asset_bytes:
            raise InvalidInputError(
                f"{field}: the assets finishing uses are over {self.tools.max_asset_bytes} bytes "
                "in all",
                field=field,
            )
        try:
            data = await self.tools.storage.read(asset.storage_key)
        except NotFoundError:
            raise InvalidInputError(f"{field}: asset {name!r} was deleted", field=field) from None
        self.total += len(data)
        return asset, data

    async def _find(self, names: Sequence[str]) -> list[Asset]:
        if self.tools.assets is None:
            return []
        return await self.tools.assets.find(self.user_id, names)
