"""Webhooks through `pdfprompt serve` on SQLite and PostgreSQL, to real HTTP receivers on
127.0.0.1: registration and its errors, a signed `job.succeeded` carrying the job, retries
recorded attempt by attempt, a server killed in the middle of a delivery, and the address
rules when private addresses are not allowed: the table of hostile URLs refused at
registration, and URLs stored before that refused at delivery."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from pdfprompt.db import create_engine, webhooks
from pdfprompt.settings import Settings
from pdfprompt.webhooks import verify
from tests.support.hostile_urls import HOSTILE
from tests.support.jobs import split_service, wait_final
from tests.support.processes import (
    Process,
    cli,
    create_key,
    new_account,
    service_env,
    serving,
    start_server,
)
from tests.support.receiver import Receiver

ALLOW = {
    "PDFPROMPT_WEBHOOK_ALLOW_PRIVATE": "true",
    "PDFPROMPT_WEBHOOK_RETRY_BASE_S": "0.2",
    "PDFPROMPT_WEBHOOK_TIMEOUT_S": "2",
    "PDFPROMPT_WEBHOOK_POLL_MS": "100",
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def allowing(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Process, dict[str, str], Path]]:
    """`pdfprompt serve` that may deliver to loopback receivers, as the tests need."""
    tmp = tmp_path_factory.mktemp(f"hooks-{request.param}")
    with serving(request, tmp, request.param, **ALLOW) as (server, env):
        yield server, env, tmp


def _client(server: Process, env: dict[str, str], email: str) -> httpx.Client:
    key = create_key(env, email)
    return httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )


def _ended_delivery(c: httpx.Client, hook_id: str) -> dict[str, Any]:
    """The webhook's one delivery, once it is no longer pending."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        items = c.get(f"/v1/webhooks/{hook_id}/deliveries").json()["items"]
        if items and items[0]["status"] != "pending":
            [delivery] = items
            return dict(delivery)
        time.sleep(0.05)
    raise AssertionError(f"the delivery of webhook {hook_id} did not end")


def _succeeded(c: httpx.Client) -> dict[str, object]:
    job, _ = wait_final(
        c, c.post("/v1/jobs", json={"type": "html", "input": "<p>w</p>"}).json()["id"]
    )
    assert job["status"] == "succeeded"
    return job


def test_a_signed_event_carries_the_job_and_every_attempt_is_listed(
    allowing: tuple[Process, dict[str, str], Path],
) -> None:
    server, env, _ = allowing
    with _client(server, env, "hooks@example.com") as c, Receiver(script=[500, 502, 500]) as r:
        made = c.post("/v1/webhooks", json={"url": r.url, "events": ["job.succeeded"]})
        assert made.status_code == 201
        hook = made.json()
        assert hook["secret"].startswith("whsec_") and hook["enabled"] is True
        [listed] = c.get("/v1/webhooks").json()["items"]
        assert listed["id"] == hook["id"] and listed["secret"] is None  # shown once
        job = _succeeded(c)
        hits = r.wait_for(4)
        event = hits[-1].event
        assert event["type"] == "job.succeeded"
        assert event["data"]["job"]["id"] == job["id"]
        assert event["data"]["job"]["status"] == "succeeded"
        assert event["data"]["job"]["file"]["url"] == f"{server.base_url}/v1/jobs/{job['id']}/pdf"
        assert all(h.body == hits[0].body for h in hits)
        assert verify(hook["secret"], hits[-1].body, hits[-1].headers["Pdfprompt-Signature"])
        delivery = _ended_delivery(c, hook["id"])
        assert delivery["id"] == event["id"] and delivery["subject"] == job["id"]
        assert (delivery["status"], delivery["attempts"]) == ("succeeded", 4)
        assert [a["status_code"] for a in delivery["log"]] == [500, 502, 500, 200]
        assert delivery["log"][1]["error"] == "the endpoint answered HTTP 502: receiver says no"
        metrics = httpx.get(f"{server.base_url}/metrics").text
        assert 'pdfprompt_webhook_attempts_total{result="failed"}' in metrics
        assert 'pdfprompt_webhook_deliveries_total{status="succeeded"}' in metrics
        assert "webhooks      pending" in cli(env, "stats").stdout
        # Off, on, and gone.
        off = c.patch(f"/v1/webhooks/{hook['id']}", json={"enabled": False}).json()
        assert (off["enabled"], off["disabled_reason"]) == (False, "disabled by its owner")
        rotated = c.patch(f"/v1/webhooks/{hook['id']}", json={"rotate_secret": True}).json()
        assert rotated["secret"].startswith("whsec_") and rotated["secret"] != hook["secret"]
        assert c.delete(f"/v1/webhooks/{hook['id']}").status_code == 204
        assert c.get(f"/v1/webhooks/{hook['id']}").status_code == 404
        assert c.get(f"/v1/webhooks/{hook['id']}/deliveries").status_code == 404


BAD = [
    ({"url": "ftp://example.com/in"}, "url: must be an http:// or https:// URL"),
    ({"url": "https://example.com/in", "events": ["job.done"]}, "events"),
    ({"url": "https://example.com/in", "events": []}, "events"),
    ({"events": ["job.failed"]}, "url"),
    ({"url": "https://example.com/in", "secret": "mine"}, "secret"),
]


def _all_refused(c: httpx.Client, table: list[tuple[str, str]]) -> None:
    """Registering each URL (for an event this user never causes, to be safe) answers 422
    naming the field and the problem."""
    answers = [
        c.post("/v1/webhooks", json={"url": url, "events": ["quota.warning"]}) for url, _ in table
    ]
    accepted = [url for (url, _), answer in zip(table, answers, strict=True) if answer.is_success]
    assert accepted == []
    for (url, problem), answer in zip(table, answers, strict=True):
        # A NUL is refused with the body, before the URL is looked at.
        _refused(answer, "url: contains a NUL character" if "\x00" in url else problem)


def _refused(answer: httpx.Response, problem: str, field: str = "url") -> None:
    assert answer.status_code == 422, (answer.request.content, answer.text)
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "invalid_input"
    assert answer.json()["field"] == field, answer.json()
    assert problem in answer.json()["detail"], (problem, answer.json())


def test_bad_registrations_are_refused_naming_the_problem(
    allowing: tuple[Process, dict[str, str], Path],
) -> None:
    server, env, _ = allowing
    with _client(server, env, "bad@example.com") as c:
        for body, problem in BAD:
            answer = c.post("/v1/webhooks", json=body)
            assert (body, answer.status_code) == (body, 422)
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["code"] == "invalid_input"
            assert problem in answer.json()["detail"]
        # Allowing private addresses, URLs the client cannot use are still refused.
        unusable = [(url, problem) for url, problem, kind in HOSTILE if kind == "url"]
        _all_refused(c, unusable)
        assert c.get("/v1/webhooks").json()["items"] == []
        assert c.patch("/v1/webhooks/nope", json={"enabled": True}).status_code == 404


def test_a_server_killed_mid_delivery_loses_no_event(
    allowing: tuple[Process, dict[str, str], Path],
) -> None:
    server, env, tmp = allowing
    with Receiver(script=["hang"]) as r:
        with _client(server, env, "killed@example.com") as c:
            hook = c.post("/v1/webhooks", json={"url": r.url}).json()
            job = _succeeded(c)
            [first] = r.wait_for(1)  # the delivery is in flight, its answer held back
        assert server.stop(signal.SIGKILL) == -signal.SIGKILL
        # A second server on the same database and storage takes over once the lease ends.
        second = start_server("serve", env, tmp / "second.log")
        try:
            hits = r.wait_for(2, timeout_s=30)
            assert hits[1].body == first.body  # the same event, again
            assert first.event["data"]["job"]["id"] == job["id"]
            assert [h.headers["Pdfprompt-Attempt"] for h in hits] == ["1", "2"]
            with httpx.Client(base_url=second.base_url, headers=c.headers, timeout=30) as c2:
                delivery = _ended_delivery(c2, hook["id"])
            assert (delivery["status"], delivery["attempts"]) == ("succeeded", 2)
            assert delivery["log"][0]["error"].startswith("interrupted")
            assert delivery["log"][1]["status_code"] == 200
        finally:
            second.stop()
            server.start()  # the module's server again, for the tests after this one
            server.wait_ready()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_private_addresses_are_refused_when_not_allowed(
    request: pytest.FixtureRequest, tmp_path: Path, database: str
) -> None:
    # The operator's default rule, a failure run of one disabling an endpoint.
    extra = {"PDFPROMPT_WEBHOOK_DISABLE_AFTER": "1", "PDFPROMPT_WEBHOOK_POLL_MS": "100"}
    with serving(request, tmp_path, database, **extra) as (server, env):
        _refused_when_not_allowed(server, env)


def _store(env: dict[str, str], webhook_id: str, url: str) -> None:
    """Write the URL into the row, as one registered before registration refused it."""

    async def write() -> int:
        engine = create_engine(Settings(database_url=env["DATABASE_URL"]))
        try:
            async with engine.begin() as conn:
                done = await conn.execute(
                    update(webhooks)
                    .where(webhooks.c.id == webhook_id)
                    .values(url=url, events=["job.succeeded"])
                )
                return done.rowcount
        finally:
            await engine.dispose()

    assert asyncio.run(write()) == 1


def _refused_when_not_allowed(server: Process, env: dict[str, str]) -> None:
    with _client(server, env, "private@example.com") as c, Receiver() as r:
        # Every URL of the table that needs no resolver but the system's, and the receiver's
        # address in several spellings.
        port = r.base.rsplit(":", 1)[1]
        spellings = ["127.0.0.1", "127.1", "2130706433", "0x7f000001", "localhost.", "[::1]"]
        _all_refused(
            c,
            [(url, problem) for url, problem, kind in HOSTILE if kind != "name"]
            + [(f"http://{host}:{port}/hook", "special-purpose address") for host in spellings],
        )
        assert c.get("/v1/webhooks").json()["items"] == []
        # Endpoints registered when these URLs still passed: a literal public address (never
        # contacted: it hears no event) is swapped for them in the database.
        stored = {
            f"http://127.1:{port}/hook": "refused: 127.1 means 127.0.0.1, a special-purpose "
            "address (Loopback, 127.0.0.0/8);",
            f"http://0177.0.0.1:{port}/hook": "refused: cannot be read: Invalid IPv4 address",
        }
        hooks = {}
        for url in stored:
            made = c.post(
                "/v1/webhooks", json={"url": "https://93.184.215.14/in", "events": ["job.canceled"]}
            )
            assert made.status_code == 201
            hook = made.json()
            _refused(c.patch(f"/v1/webhooks/{hook['id']}", json={"url": url}), "url: ")
            _store(env, hook["id"], url)
            hooks[url] = hook["id"]
        _succeeded(c)
        for url, error in stored.items():
            delivery = _ended_delivery(c, hooks[url])
            assert (delivery["status"], delivery["attempts"]) == ("failed", 1)
            assert delivery["last_error"].startswith(error)
            ended = c.get(f"/v1/webhooks/{hooks[url]}").json()  # a failure run of one
            assert ended["enabled"] is False and error in ended["disabled_reason"]
        assert r.hits == []
    assert "failed unexpectedly" not in server.log()


def test_the_quota_warning_is_sent_once_with_the_usage(
    allowing: tuple[Process, dict[str, str], Path],
) -> None:
    server, env, _ = allowing
    _, key = new_account(env, "warned@example.com", plan="starter")
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as c, Receiver() as r:
        made = c.post("/v1/webhooks", json={"url": r.url, "events": ["quota.warning"]}).json()
        ids = []
        for n in range(3):  # starter: 3 PDFs a month; the 3rd passes 80 %
            posted = c.post("/v1/jobs", json={"type": "html", "input": f"<p>{n}</p>"})
            assert posted.is_success
            ids.append(posted.json()["id"])
        [hit] = r.wait_for(1)
        event = hit.event
        assert event["type"] == "quota.warning"
        assert event["data"]["usage"]["plan"]["name"] == "starter"
        assert event["data"]["usage"]["pdfs"]["limit"] == 3
        assert event["data"]["period"] == event["created_at"][:7]
        assert verify(made["secret"], hit.body, hit.headers["Pdfprompt-Signature"])
        assert c.post("/v1/jobs", json={"type": "html", "input": "<p>4</p>"}).status_code == 429
        # Once a period: the jobs ended and the refusal come with no second event (an event
        # is a delivery written with the change that causes it), and the one was sent once.
        for job_id in ids:
            wait_final(c, job_id)
        delivery = _ended_delivery(c, made["id"])
        assert (delivery["status"], delivery["attempts"]) == ("succeeded", 1)
        assert len(c.get(f"/v1/webhooks/{made['id']}/deliveries").json()["items"]) == 1
        assert len(r.hits) == 1


def test_a_separate_worker_delivers_and_stops_cleanly(tmp_path: Path) -> None:
    """`pdfprompt api` and `pdfprompt worker` apart: the worker sends the events, and a
    SIGTERM stops it (webhooks included) with exit status 0."""
    env = service_env(tmp_path / "data", f"sqlite:///{tmp_path / 'pdfprompt.sqlite3'}", **ALLOW)
    with Receiver() as r, split_service(env, tmp_path, "split@example.com") as split:
        c = split.client
        hook = c.post("/v1/webhooks", json={"url": r.url, "events": ["job.succeeded"]}).json()
        job = _succeeded(c)
        [hit] = r.wait_for(1)
        assert hit.event["data"]["job"]["id"] == job["id"]
        assert verify(hook["secret"], hit.body, hit.headers["Pdfprompt-Signature"])
        assert _ended_delivery(c, hook["id"])["status"] == "succeeded"
        assert split.worker.stop() == 0, split.worker.log()
