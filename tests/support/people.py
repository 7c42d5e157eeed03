"""People for the page tests: made by the operator with a password, each with a browser
that is signed in and a program holding their API key; and their finished documents."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.jobs import wait_final
from tests.support.processes import Process, cli
from tests.support.web import PASSWORD, client, sign_in


class People:
    """People made by the operator with a password, each with their browser (signed in)
    and a program holding their API key; every client closed at the end of the test."""

    def __init__(self, server: Process, env: dict[str, str]) -> None:
        self.server, self.env = server, env
        self.clients: list[httpx.Client] = []

    def __call__(self, email: str, plan: str = "enterprise") -> tuple[httpx.Client, httpx.Client]:
        stdin = PASSWORD + "\n"
        made = cli(self.env, "users", "create", email, "--plan", plan, "--password", stdin=stdin)
        key = made.stdout.strip().splitlines()[-1]
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
