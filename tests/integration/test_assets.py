"""Assets in the store and the pipeline, on SQLite and PostgreSQL: the orphan sweep keeps
what an asset row points to, and a document's references are loaded for its owner only,
within their bounds."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.accounts import AccountStore, AssetStore
from pdfprompt.domain import MAX_ASSET_REFERENCES, RenderOptions, new_asset_id
from pdfprompt.pipeline import render_key
from pdfprompt.pipeline.assets import load_assets
from pdfprompt.queue import ORPHAN_GRACE_S, job_store_for, sweep_orphans
from pdfprompt.render import ASSET_ORIGIN
from pdfprompt.storage import LocalStorage


async def _asset(
    assets: AssetStore, storage: LocalStorage, user: str, name: str, data: bytes
) -> str:
    key = f"assets/{user}/{name}"
    await storage.put(key, data)
    made = await assets.add(
        user,
        new_asset_id(),
        name=name,
        content_type="image/png",
        kind="image",
        size_bytes=len(data),
        sha256=f"{len(data):064x}",
        storage_key=key,
    )
    return made.id


async def test_the_sweep_keeps_assets_and_takes_what_nothing_points_to(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    storage = LocalStorage(tmp_path / "files")
    store, assets = job_store_for(engine), AssetStore(engine)
    user = (await AccountStore(engine).create_user("sweep@example.com", "enterprise")).id
    await _asset(assets, storage, user, "kept", b"png bytes")
    await storage.put(f"assets/{user}/left-by-a-failed-upload", b"x")
    later = time.time() + 2 * ORPHAN_GRACE_S
    assert await sweep_orphans(store, storage, now=later) == 1
    assert [k async for k, _ in storage.list_keys()] == [f"assets/{user}/kept"]
    assert await store.storage_used(user) == len(b"png bytes")


async def test_references_load_the_owners_assets_within_bounds(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    storage = LocalStorage(tmp_path / "files")
    assets = AssetStore(engine)
    accounts = AccountStore(engine)
    owner = (await accounts.create_user("owner@example.com", "enterprise")).id
    other = (await accounts.create_user("other@example.com", "enterprise")).id
    logo = await _asset(assets, storage, owner, "logo", b"a" * 100)
    big = await _asset(assets, storage, owner, "big", b"b" * 1000)
    theirs = await _asset(assets, storage, other, "theirs", b"c" * 10)
    document = (
        "<img src='asset:logo'><img src=\"asset:" + logo + "\"><img src='asset:big'>"
        "<img src='asset:theirs'><img src='asset:" + theirs + "'><p>asset:logo</p>"
    )
    loaded = await load_assets(assets, storage, owner, document, max_bytes=500)
    assert loaded.resources == {ASSET_ORIGIN + logo: (b"a" * 100, "image/png")}
    assert loaded.document.count(ASSET_ORIGIN + logo) == 2
    assert "<p>asset:logo</p>" in loaded.document  # prose is not a reference
    assert loaded.refused == ("asset:big", "asset:theirs", f"asset:{theirs}")
    assert "asset:big" in loaded.document and ASSET_ORIGIN + big not in loaded.document
    # With room for both, both; the render key changes with what they resolved to.
    roomy = await load_assets(assets, storage, owner, document, max_bytes=5000)
    assert set(roomy.resources) == {ASSET_ORIGIN + logo, ASSET_ORIGIN + big}
    keys = {
        render_key(owner, "chromium", document, RenderOptions(), assets=x.used)
        for x in (loaded, roomy)
    }
    assert len(keys) == 2
    # Without an asset store (or references), nothing is loaded and nothing changes.
    none = await load_assets(None, storage, owner, document, max_bytes=5000)
    assert none.document == document and not none.resources
    plain = await load_assets(assets, storage, owner, "<p>x</p>", max_bytes=5000)
    assert plain.used == () and render_key(owner, "e", "<p>x</p>", RenderOptions()) == render_key(
        owner, "e", "<p>x</p>", RenderOptions(), assets=plain.used
    )
    # At most MAX_ASSET_REFERENCES distinct references are looked up.
    many = "".join(f"<img src='asset:n{i}'>" for i in range(MAX_ASSET_REFERENCES + 5))
    bounded = await load_assets(assets, storage, owner, many, max_bytes=5000)
    assert len(bounded.refused) == MAX_ASSET_REFERENCES + 5
