"""Storage in the service: the storage URL picks the backend, and the sweep of objects no
file row points to."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pdfprompt.accounts import AccountStore
from pdfprompt.db import create_engine, files, upgrade
from pdfprompt.domain import JobType, StorageError
from pdfprompt.queue import ORPHAN_GRACE_S, NewJob, StoredFile, job_store_for, sweep_orphans
from pdfprompt.settings import Settings
from pdfprompt.storage import LocalStorage, S3Storage, Storage, storage_from_settings
from tests.support.databases import make_bucket
from tests.support.leases import expire_lease


async def test_the_storage_url_picks_the_backend(s3_endpoint: str, tmp_path: Path) -> None:
    bucket = f"pdfprompt-{uuid.uuid4().hex[:12]}"
    make_bucket(s3_endpoint, bucket)
    s3 = storage_from_settings(
        Settings(storage_url=f"s3://{bucket}/pdfs", s3_endpoint_url=s3_endpoint)
    )
    assert isinstance(s3, S3Storage) and (s3.bucket, s3.prefix) == (bucket, "pdfs")
    await s3.check()
    missing = storage_from_settings(
        Settings(storage_url="s3://no-such-bucket-here", s3_endpoint_url=s3_endpoint)
    )
    with pytest.raises(StorageError, match="no-such-bucket-here"):
        await missing.check()
    local = storage_from_settings(Settings(storage_url=(tmp_path / "f").as_uri()))
    assert isinstance(local, LocalStorage)


async def test_a_crash_between_storing_and_finishing_leaves_one_file_after_the_sweep(
    storage: Storage, tmp_path: Path
) -> None:
    """Attempt 1 stores its PDF and its worker dies before finishing; the lease runs out,
    attempt 2 stores and finishes. The sweep then removes attempt 1's object: one job, one
    file row, one stored object."""
    engine = create_engine(Settings(database_url=f"sqlite:///{tmp_path / 'crash.sqlite3'}"))
    try:
        await upgrade(engine)
        store = job_store_for(engine)
        user = (await AccountStore(engine).create_user("crash@example.com", "enterprise")).id
        job = await store.enqueue(NewJob(user, JobType.HTML, "<p>x</p>", {}, 3))
        [first] = await store.claim_jobs("w1", 1, lease_s=30)
        assert first.id == job.id
        lost_key = f"{user}/{job.id}/1-aaaa.pdf"
        await storage.put(lost_key, b"%PDF attempt 1")  # ... and w1 is gone
        await expire_lease(engine, job.id)
        assert await store.requeue_expired() == 1
        [second] = await store.claim_jobs("w2", 1, lease_s=30)
        assert second.id == job.id and second.attempts == 2
        won_key = f"{user}/{job.id}/2-bbbb.pdf"
        await storage.put(won_key, b"%PDF attempt 2")
        await store.finish_job(job.id, "w2", user, StoredFile(won_key, 14, 1, "0" * 64, "a.pdf"))
        # Within the grace period nothing is touched (a slow attempt may still finish).
        assert await sweep_orphans(store, storage) == 0
        assert await sweep_orphans(store, storage, now=time.time() + 2 * ORPHAN_GRACE_S) == 1
        assert [k async for k, _ in storage.list_keys()] == [won_key]
        finished = await store.get(job.id)
        assert finished.file is not None and await storage.read(won_key) == b"%PDF attempt 2"
        async with engine.connect() as conn:
            count = select(func.count()).where(files.c.job_id == job.id)
            assert (await conn.execute(count)).scalar_one() == 1
    finally:
        await engine.dispose()


async def test_a_worker_whose_clock_is_hours_ahead_sweeps_nothing_just_stored(
    storage: Storage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sweep's grace is measured by the database's clock: a worker five hours ahead
    does not take the PDF a job stored a moment ago (not yet recorded) for an old orphan."""
    engine = create_engine(Settings(database_url=f"sqlite:///{tmp_path / 'skew.sqlite3'}"))
    try:
        await upgrade(engine)
        store = job_store_for(engine)
        key = "usr_x/job_x/1-cccc.pdf"
        await storage.put(key, b"%PDF being recorded")
        real_time = time.time
        monkeypatch.setattr(time, "time", lambda: real_time() + 5 * 3600)
        assert await sweep_orphans(store, storage) == 0
        monkeypatch.setattr(time, "time", real_time)
        assert [k async for k, _ in storage.list_keys()] == [key]
        # Once the grace has passed by the database's clock, the orphan goes.
        later = (await store.database_time()).timestamp() + 2 * ORPHAN_GRACE_S
        assert await sweep_orphans(store, storage, now=later) == 1
    finally:
        await engine.dispose()
