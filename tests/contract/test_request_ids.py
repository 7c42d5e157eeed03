"""A job keeps the id of the request that submitted it (the API's `X-Request-Id`, in the log
context while the request is answered), so that the worker's log lines about it carry it:
read back by the claim and by `get`, on both databases; a job queued outside a request
keeps none."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.domain import log_context
from pdfprompt.queue import JobStore
from tests.support.store import new_job, new_user


async def test_the_request_id_goes_with_the_job(engine: AsyncEngine, store: JobStore) -> None:
    user = await new_user(engine)
    with log_context(request_id="req-a/1"):
        asked = await store.enqueue(new_job(user, priority=5))
    unasked = await store.enqueue(new_job(user))
    assert asked.request_id == "req-a/1" and unasked.request_id is None
    claimed = {j.id: j.request_id for j in await store.claim_jobs("w", 2, lease_s=30)}
    assert claimed == {asked.id: "req-a/1", unasked.id: None}
    assert (await store.get(asked.id, user)).request_id == "req-a/1"
