"""The claim query stays on its indexes when the table is large (PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.db import create_engine
from pdfprompt.queue import PostgresJobStore
from pdfprompt.queue.store.postgres import claim_candidates
from pdfprompt.settings import Settings


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found += _nodes(child)
    return found


async def test_claim_uses_its_indexes_with_100k_finished_and_10k_queued(pg_url: str) -> None:
    engine: AsyncEngine = create_engine(Settings(database_url=pg_url))
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO users (id, email, plan) SELECT 'u' || g, 'u' || g || '@x.io', "
                    "'enterprise' FROM generate_series(1, 200) g"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO jobs (id, user_id, type, input, options, status, stage, "
                    "max_attempts, finished_at) SELECT 'f' || lpad(g::text, 9, '0'), "
                    "'u' || (1 + g % 200), 'markdown', 'x', '{}', 'succeeded', 'done', 3, "
                    "now() FROM generate_series(1, 100000) g"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO jobs (id, user_id, type, input, options, status, stage, "
                    "max_attempts) SELECT 'q' || lpad(g::text, 9, '0'), 'u' || (1 + g % 50), "
                    "'markdown', 'x', '{}', 'queued', 'queued', 3 FROM generate_series(1, 10000) g"
                )
            )
        async with engine.connect() as conn:
            await conn.execute(text("COMMIT"))
            await conn.execute(text("VACUUM ANALYZE jobs"))
        # With plan caps, as the service runs it: each waiting user's plan is probed too.
        plan_caps = {"starter": 1, "classic": 2}
        store = PostgresJobStore(engine, plan_caps=plan_caps)
        query = claim_candidates(8, 10, plan_caps)
        sql = str(
            query.compile(
                dialect=postgresql.asyncpg.dialect(), compile_kwargs={"literal_binds": True}
            )
        )
        async with engine.connect() as conn:
            raw = (await conn.execute(text("EXPLAIN (FORMAT JSON) " + sql))).scalar_one()
        plan = json.loads(raw) if isinstance(raw, str) else raw
        nodes = _nodes(plan[0]["Plan"])
        scans = {
            (n["Node Type"], n.get("Index Name"), n.get("Relation Name"))
            for n in nodes
            if "Scan" in n["Node Type"]
        }
        assert not any(t == "Seq Scan" and r == "jobs" for t, _, r in scans), scans
        assert any(name == "ix_jobs_claim" for _, name, _ in scans), scans
        claimed = await store.claim_jobs("w", 8, lease_s=30, per_user_cap=10)
        assert len(claimed) == 8 and len({j.user_id for j in claimed}) == 8
    finally:
        await engine.dispose()
