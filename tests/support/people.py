"""People made through the CLI as an operator makes them (alone, or with a signed-in browser
and a program holding their API key: `People`), what they own (read straight from the
database and the data directory), sign-in links, and their finished documents."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select, update

from pdfprompt.db import (
    api_keys,
    create_engine,
    db_now,
    files,
    jobs,
    sessions,
    shares,
    templates,
    usage_counters,
    usage_events,
    users,
    webhook_attempts,
    webhook_deliveries,
    webhooks,
)
from pdfprompt.settings import Settings
from tests.support.jobs import wait_final
from tests.support.processes import Process, cli, new_account
from tests.support.web import PASSWORD, client, sign_in

# Every table that holds a person's rows, by the column naming them.
OWNED = {
    "users": users.c.id,
    "sessions": sessions.c.user_id,
    "api_keys": api_keys.c.user_id,
    "jobs": jobs.c.user_id,
    "files": files.c.user_id,
    "shares": shares.c.user_id,
    "usage_counters": usage_counters.c.user_id,
    "usage_events": usage_events.c.user_id,
    "webhooks": webhooks.c.user_id,
    "webhook_deliveries": webhook_deliveries.c.user_id,
    "templates": templates.c.user_id,
}
_LINK = re.compile(r"^(https?://\S+)/signin/link/([A-Za-z0-9_-]+)$", re.M)


@dataclass
class Person:
    email: str
    id: str
    key: str
    output: str  # what `users create` printed

    def api(self, server: Process) -> httpx.Client:
        return httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {self.key}"}, timeout=30
        )

    @property
    def link_path(self) -> str:
        """The path of the sign-in link `users create` printed."""
        return link_path(self.output)


def make_person(
    env: dict[str, str], email: str, *, password: bool = True, plan: str | None = None
) -> Person:
    """`pdfprompt users create EMAIL [--password] [--plan]` (the password: PASSWORD)."""
    args = ["users", "create", email, *(["--password"] if password else [])]
    args += ["--plan", plan] if plan else []
    out = cli(env, *args, stdin=PASSWORD + "\n" if password else None).stdout
    found = re.search(r"^created user \S+ \(([^)]+)\)", out, re.M)
    assert found is not None, out
    return Person(email, found.group(1), out.strip().splitlines()[-1], out)


def link_path(output: str) -> str:
    """The path of the one sign-in link in a command's output."""
    found = _LINK.findall(output)
    assert len(found) == 1, output
    return f"/signin/link/{found[0][1]}"


def make_admin(env: dict[str, str], email: str) -> Person:
    person = make_person(env, email)
    cli(env, "users", "set-admin", email)
    return person


def finished_job(c: httpx.Client, document: str = "# Hello\n\nWorld") -> str:
    created = c.post("/v1/jobs", json={"type": "markdown", "input": document})
    assert created.status_code == 202, created.text
    job, _ = wait_final(c, created.json()["id"])
    assert job["status"] == "succeeded", job
    return str(job["id"])


def failed_job(c: httpx.Client, pages: int) -> str:
    """A job that fails for good: `pages` pages, over its owner's plan's limit."""
    html = "".join(f"<p style='break-before: page'>page {i}</p>" for i in range(pages))
    created = c.post("/v1/jobs", json={"type": "html", "input": html})
    assert created.status_code == 202, created.text
    job, _ = wait_final(c, created.json()["id"])
    assert job["status"] == "failed", job
    return str(job["id"])


def busy_queue(
    server: Process, env: dict[str, str], tag: str, *, succeeded: int, pages: int
) -> tuple[Person, Person, Person]:
    """What the admin pages show: an admin (`admin-TAG@example.com`), a person with
    `succeeded` finished documents (`busy-TAG@…`) and one on the starter plan whose document
    of `pages` pages (more than the plan's 10) failed (`small-TAG@…`)."""
    admin = make_admin(env, f"admin-{tag}@example.com")
    busy = make_person(env, f"busy-{tag}@example.com")
    small = make_person(env, f"small-{tag}@example.com", plan="starter")
    with busy.api(server) as api:
        for i in range(succeeded):
            finished_job(api, f"# Document {i}")
    with small.api(server) as api:
        failed_job(api, pages=pages)
    return admin, busy, small


def owned_rows(
    env: dict[str, str], user_id: str, deliveries: list[int] | None = None
) -> dict[str, int]:
    """How many rows of each table are the person's; with `deliveries` (ids of deliveries
    seen before), also how many attempts of those are left."""

    async def count() -> dict[str, int]:
        engine = create_engine(Settings(database_url=env["DATABASE_URL"]))
        try:
            async with engine.connect() as conn:
                found: dict[str, int] = {}
                for name, column in OWNED.items():
                    query = select(func.count()).select_from(column.table).where(column == user_id)
                    found[name] = int((await conn.execute(query)).scalar_one())
                if deliveries is not None:
                    query = (
                        select(func.count())
                        .select_from(webhook_attempts)
                        .where(webhook_attempts.c.delivery_id.in_(deliveries))
                    )
                    found["webhook_attempts"] = int((await conn.execute(query)).scalar_one())
                return found
        finally:
            await engine.dispose()

    return asyncio.run(count())


def delivery_ids(env: dict[str, str], user_id: str) -> list[int]:
    async def read() -> list[int]:
        engine = create_engine(Settings(database_url=env["DATABASE_URL"]))
        try:
            async with engine.connect() as conn:
                query = select(webhook_deliveries.c.id).where(
                    webhook_deliveries.c.user_id == user_id
                )
                return [int(i) for i in (await conn.execute(query)).scalars()]
        finally:
            await engine.dispose()

    return asyncio.run(read())


def expire_links(env: dict[str, str], user_id: str) -> int:
    """Move the person's sign-in links' expiry into the past (as 24 hours passing would)."""

    async def write() -> int:
        engine = create_engine(Settings(database_url=env["DATABASE_URL"]))
        try:
            async with engine.begin() as conn:
                done = await conn.execute(
                    update(sessions)
                    .where(sessions.c.user_id == user_id, sessions.c.token_hash.like("link:%"))
                    .values(expires_at=db_now())
                )
                return int(done.rowcount)
        finally:
            await engine.dispose()

    return asyncio.run(write())


def stored_files(data_dir: Path, user_id: str) -> list[Path]:
    """The files the person has in the data directory (stored under their id)."""
    return [p for p in data_dir.rglob("*") if p.is_file() and user_id in p.as_posix()]


class People:
    """People made by the operator with a password, each with their browser (signed in)
    and a program holding their API key; every client closed at the end of the test."""

    def __init__(self, server: Process, env: dict[str, str]) -> None:
        self.server, self.env = server, env
        self.clients: list[httpx.Client] = []

    def __call__(self, email: str, plan: str = "enterprise") -> tuple[httpx.Client, httpx.Client]:
        _, key = new_account(self.env, email, plan=plan, password=PASSWORD)
        web = client(self.server)
        self.clients.append(web)
        assert sign_in(web, email).status_code == 303
        api = httpx.Client(
            base_url=self.server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )
        self.clients.append(api)
        return web, api

    def close(self) -> None:
        for c in self.clients:
            c.close()


def finished(api: httpx.Client, title: str = "Shared notes") -> dict[str, Any]:
    """A Markdown document of the person's, once it has its PDF."""
    body = {"type": "markdown", "input": "# Notes\n\nShared.", "options": {"title": title}}
    submitted = api.post("/v1/jobs", json=body)
    assert submitted.status_code == 202, submitted.text
    job, _ = wait_final(api, submitted.json()["id"])
    assert job["status"] == "succeeded", job
    return job
