"""The real databases, Redis and S3-compatible server the tests run against.

PostgreSQL comes from `PDFPROMPT_TEST_PG_URL` (default: the local server as
user postgres). When it cannot be reached the PostgreSQL tests are skipped,
except under `CI=true`, where they fail: CI must test both databases.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Iterator

import asyncpg
from sqlalchemy.engine import make_url

PG_ADMIN_URL = os.environ.get(
    "PDFPROMPT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pg_url_for(database: str) -> str:
    return make_url(PG_ADMIN_URL).set(database=database).render_as_string(hide_password=False)


async def pg_execute(*statements: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement, timeout=120)
    finally:
        await conn.close()


def pg_problem() -> str | None:
    try:
        asyncio.run(pg_execute("SELECT 1"))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@contextlib.contextmanager
def pg_database(template: str | None) -> Iterator[str]:
    """A new PostgreSQL database (a clone of `template`, or empty), dropped afterwards."""
    name = f"pdfprompt_t_{uuid.uuid4().hex[:12]}"
    clone = f' TEMPLATE "{template}"' if template else ""
    asyncio.run(pg_execute(f'CREATE DATABASE "{name}"{clone}'))
    try:
        yield pg_url_for(name)
    finally:
        asyncio.run(pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


REDIS_URL = os.environ.get("PDFPROMPT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


S3_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def make_bucket(endpoint: str, name: str) -> None:
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=name)
