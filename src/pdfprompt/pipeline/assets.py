"""A document's assets: its `asset:ID` and `asset:NAME` references found, the job owner's
assets they name read from storage (bounded in number and bytes), and the references
rewritten to the internal origin that only the renderers' request interception answers.

A reference to nothing the owner has (an unknown name, another user's asset) stays as it was
and is reported like any refused address, so a job never tells whether it exists for
someone else."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field, replace

from pdfprompt.accounts import AssetStore
from pdfprompt.domain import (
    ASSET_REFERENCE,
    MAX_ASSET_REFERENCES,
    RENDERED_KINDS,
    Asset,
    NotFoundError,
    refused_warnings,
)
from pdfprompt.render import ASSET_ORIGIN, RenderedPdf
from pdfprompt.storage import Storage


@dataclass(frozen=True, slots=True)
class DocumentAssets:
    document: str  # with the references it could serve rewritten to `ASSET_ORIGIN`
    resources: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    # What the references resolved to (reference, asset id, sha256; or the reference
    # alone): part of the render cache's key, so that new bytes make a new render.
    used: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()  # the `asset:` references not served


# A quoted `srcset` value (on `<img>` and `<source>`): its candidates after the first are
# each `, URL DESCRIPTOR`, which `ASSET_REFERENCE` (a quote, `(` or `=` before) does not see.
_SRCSET = re.compile(r"""(\bsrcset\s*=\s*)("[^"]*"|'[^']*')""", re.I)
_LATER_CANDIDATE = re.compile(
    r"(?<=,)(\s*)asset:(ast_[0-9a-f-]{36}|[A-Za-z0-9][A-Za-z0-9._-]{0,99})(?![A-Za-z0-9._-])"
)


def _references(document: str) -> list[re.Match[str]]:
    """Every `asset:` reference of the document: `ASSET_REFERENCE`'s, and every candidate
    of a `srcset` after its first."""
    if "asset:" not in document:  # both patterns need it; most documents have none
        return []
    found = list(ASSET_REFERENCE.finditer(document))
    for srcset in _SRCSET.finditer(document):
        found += _LATER_CANDIDATE.finditer(document, srcset.start(2), srcset.end(2))
    return sorted(found, key=lambda m: m.start())


def asset_references(document: str) -> list[str]:
    """The distinct ids and names a document refers to as `asset:…`, in order."""
    return list(dict.fromkeys(m.group(2) for m in _references(document)))


def _rewritten(document: str, url_of: dict[str, str]) -> str:
    """The document with each reference in `url_of` (id or name -> URL) replaced."""
    parts: list[str] = []
    at = 0
    for match in _references(document):
        url = url_of.get(match.group(2))
        if url is not None and match.start() >= at:
            parts += [document[at : match.start()], match.group(1), url]
            at = match.end()
    parts.append(document[at:])
    return "".join(parts)


async def load_assets(
    assets: AssetStore | None,
    storage: Storage,
    user_id: str,
    document: str,
    *,
    max_bytes: int,
) -> DocumentAssets:
    """The owner's assets the document refers to, at most `MAX_ASSET_REFERENCES` distinct
    ones and `max_bytes` in all (the rest are refused), ready for the renderer."""
    references = asset_references(document)
    if not references:
        return DocumentAssets(document)
    wanted, over = references[:MAX_ASSET_REFERENCES], references[MAX_ASSET_REFERENCES:]
    found = await assets.find(user_id, wanted) if assets is not None else []
    by_reference: dict[str, Asset] = {}
    for asset in found:
        by_reference[asset.name] = asset
        by_reference[asset.id] = asset
    resources: dict[str, tuple[bytes, str]] = {}
    url_of: dict[str, str] = {}
    used: list[str] = []
    refused = [f"asset:{r}" for r in over]
    total = 0
    for reference in wanted:
        named = by_reference.get(reference)
        if named is not None and named.kind not in RENDERED_KINDS:
            named = None  # a data file is attached to a PDF, never loaded by a render
        url = ASSET_ORIGIN + named.id if named is not None else ""
        if named is not None and url not in resources and total + named.size_bytes <= max_bytes:
            with contextlib.suppress(NotFoundError):
                resources[url] = (await storage.read(named.storage_key), named.content_type)
                total += named.size_bytes
        if named is None or url not in resources:
            refused.append(f"asset:{reference}")
            used.append(reference)
            continue
        url_of[reference] = url
        used.append(f"{reference}={named.id}:{named.sha256}")

    return DocumentAssets(_rewritten(document, url_of), resources, tuple(used), tuple(refused))


def with_refused(rendered: RenderedPdf, refused: tuple[str, ...]) -> RenderedPdf:
    """The render with a `resource_refused` warning for each asset reference not served
    (once each, whether or not the engine asked for it too)."""
    if not refused:
        return rendered
    warnings = {w.message: w for w in (*refused_warnings(refused), *rendered.warnings)}
    return replace(rendered, warnings=tuple(warnings.values()))
