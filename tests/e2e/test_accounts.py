"""Plans, quotas, keys, scopes and rate limits through real `pdfprompt` processes, on SQLite
and PostgreSQL (and Redis for the shared rate limit)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from pdfprompt.settings import Settings
from pdfprompt.wiring import account_store
from tests.support.accounts import HOOK, Start, client_for, fresh_rate_window, user_on_plan
from tests.support.jobs import wait_final
from tests.support.processes import cli, create_key
from tests.support.render import pdf_text
from tests.support.waiting import wait_until


def _html(i: int) -> dict[str, Any]:
    return {"type": "html", "input": f"<p>job {i}</p>"}


def test_200_concurrent_submissions_get_exactly_the_plans_50(
    deployment: tuple[Start, dict[str, str]],
) -> None:
    start, env = deployment
    api = start("api")  # no worker: accepted jobs stay queued, holding their reservation
    key = user_on_plan(env, "quota@example.com", "tiny")

    async def submit_all() -> list[httpx.Response]:
        headers = {"Authorization": f"Bearer {key}"}
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(
            base_url=api.base_url, headers=headers, limits=limits, timeout=60
        ) as c:
            return await asyncio.gather(*(c.post("/v1/jobs", json=_html(i)) for i in range(200)))

    answers = asyncio.run(submit_all())
    accepted = [r for r in answers if r.status_code == 202]
    refused = [r for r in answers if r.status_code == 429]
    assert (len(accepted), len(refused)) == (50, 150)
    problem = refused[0].json()
    assert problem["code"] == "quota_exceeded" and problem["reset_at"].endswith(
        "-01T00:00:00+00:00"
    )
    assert int(refused[0].headers["Retry-After"]) >= 1
    with client_for(api, key) as c:
        usage = c.get("/v1/usage").json()
        assert usage["pdfs"] == {"used": 0, "reserved": 50, "limit": 50}
        assert usage["plan"]["name"] == "tiny"
        # Ten of the fifty end without a PDF: their reservations come back, and only those.
        for r in accepted[:10]:
            assert c.post(f"/v1/jobs/{r.json()['id']}/cancel").status_code == 200
        again = [c.post("/v1/jobs", json=_html(1000 + i)).status_code for i in range(11)]
        assert again == [202] * 10 + [429]
        assert c.get("/v1/usage").json()["pdfs"]["reserved"] == 50


def test_plan_limits_hold_in_the_worker(deployment: tuple[Start, dict[str, str]]) -> None:
    start, env = deployment
    server = start("serve")
    key = user_on_plan(env, "limits@example.com", "tiny")
    with client_for(server, key) as c:
        too_long = c.post("/v1/jobs", json={"type": "prompt", "input": "x" * 101})
        assert too_long.status_code == 422 and too_long.json()["field"] == "input"
        two_pages = "<p>one</p><p style='break-before: page'>two</p>"
        failed, _ = wait_final(
            c, c.post("/v1/jobs", json={"type": "html", "input": two_pages}).json()["id"]
        )
        assert failed["status"] == "failed" and failed["error"]["code"] == "page_limit_exceeded"
        # The renderer stopped at the plan's limit, and the error names the plan.
        assert failed["error"]["message"].endswith("plan tiny allows 1")
        done, _ = wait_final(c, c.post("/v1/jobs", json=_html(1)).json()["id"])
        assert done["status"] == "succeeded"
        text = pdf_text(c.get(f"/v1/jobs/{done['id']}/pdf").content)
        assert "Made with pdfprompt" in text and "job 1" in text
        usage = c.get("/v1/usage").json()
        assert usage["pdfs"] == {"used": 1, "reserved": 0, "limit": 50}
        assert usage["storage_bytes"]["used"] == done["file"]["size_bytes"]
        history = c.get("/v1/usage/history").json()["items"]
        assert [(h["kind"], h["job_id"]) for h in history] == [("job", done["id"])]
        assert history[0]["pages"] == 1 and history[0]["generator"] == "html"
    for plan, code in (("nofile", "file_too_large"), ("nostore", "storage_quota_exceeded")):
        with client_for(server, user_on_plan(env, f"{plan}@example.com", plan)) as c:
            job, _ = wait_final(c, c.post("/v1/jobs", json=_html(2)).json()["id"])
            assert (job["status"], job["error"]["code"], job["file"]) == ("failed", code, None)
            assert c.get("/v1/usage").json()["pdfs"] == {"used": 0, "reserved": 0, "limit": 50}


def test_keys_scopes_and_revocation(deployment: tuple[Start, dict[str, str]]) -> None:
    start, env = deployment
    api = start("api")
    owner = create_key(env, "keys@example.com")
    other = create_key(env, "other-keys@example.com")
    with client_for(api, owner) as c:
        made = c.post("/v1/keys", json={"name": "dashboard", "scopes": ["jobs:read"]})
        assert made.status_code == 201
        reader = made.json()
        assert reader["key"].startswith("pp_") and reader["scopes"] == ["jobs:read"]
        listed = c.get("/v1/keys").json()["items"]
        assert {k["name"] for k in listed} == {"default", "dashboard"}
        assert all("key" not in k and "key_hash" not in k for k in listed)
        bad = c.post("/v1/keys", json={"scopes": ["everything"]})
        assert bad.status_code == 422
    with client_for(api, reader["key"]) as r:
        assert r.get("/v1/jobs").status_code == 200
        refused = r.post("/v1/jobs", json=_html(1))
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
        assert r.get("/v1/usage").status_code == 403  # needs the account scope
    with client_for(api, other) as o:
        assert o.delete(f"/v1/keys/{reader['id']}").status_code == 404
    with client_for(api, reader["key"]) as r:
        assert r.get("/v1/jobs").status_code == 200  # another user could not revoke it
    with client_for(api, owner) as c:
        assert c.delete(f"/v1/keys/{reader['id']}").status_code == 204
    with client_for(api, reader["key"]) as r:
        assert r.get("/v1/jobs").status_code == 401  # at once, on the node that revoked it


def _within(seconds: float, check: Callable[[], bool], what: str) -> None:
    """`check()` holds within `seconds` (asked every 50 ms: a request each time)."""
    wait_until(check, seconds, what, every_s=0.05)


def test_a_user_disabled_from_the_cli_is_refused_within_the_cache_ttl(
    deployment: tuple[Start, dict[str, str]],
) -> None:
    start, env = deployment
    api = start("api", PDFPROMPT_SUBSCRIPTION_CACHE_TTL_S="1")
    key = create_key(env, "disable@example.com")
    with client_for(api, key) as c:
        assert c.get("/v1/jobs").status_code == 200
        # Within the 1 s TTL, checked with a bound of three times it.
        cli(env, "users", "disable", "disable@example.com")
        _within(3, lambda: c.get("/v1/jobs").status_code == 401, "the disabled user refused")
        cli(env, "users", "enable", "disable@example.com")
        _within(3, lambda: c.get("/v1/jobs").status_code == 200, "the enabled user served")


def test_the_rate_limit_of_the_plan(deployment: tuple[Start, dict[str, str]]) -> None:
    start, env = deployment
    api = start("api", PDFPROMPT_SHARE_RATE_LIMIT_PER_MINUTE="5")
    key = user_on_plan(env, "rate@example.com", "slow")
    fresh_rate_window()
    with client_for(api, key) as c:
        codes = [c.get("/v1/jobs").status_code for _ in range(6)]
        assert codes == [200] * 5 + [429]
        limited = c.get("/v1/jobs")
        assert limited.json()["code"] == "rate_limited"
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # Share links need no key: their requests are limited per client address.
    with httpx.Client(base_url=api.base_url) as anyone:
        guesses = [anyone.get(f"/s/{'x' * 32}") for _ in range(12)]
    codes = [g.status_code for g in guesses]
    assert set(codes) == {404, 429} and 5 <= codes.count(404) <= 10  # at most 2 windows
    refused = guesses[codes.index(429)]
    assert refused.json()["code"] == "rate_limited" and "Retry-After" in refused.headers


def test_the_rate_limit_is_shared_through_redis(
    deployment: tuple[Start, dict[str, str]], redis_url: str
) -> None:
    start, env = deployment
    a = start("api", PDFPROMPT_REDIS_URL=redis_url)
    b = start("api", PDFPROMPT_REDIS_URL=redis_url)
    key = user_on_plan(env, "shared-rate@example.com", "slow")
    fresh_rate_window()
    with client_for(a, key) as ca, client_for(b, key) as cb:
        codes = [ca.get("/v1/jobs").status_code for _ in range(3)]
        codes += [cb.get("/v1/jobs").status_code for _ in range(3)]
        assert codes == [200] * 5 + [429]
        assert ca.get("/v1/jobs").status_code == 429


def test_other_nodes_forget_a_revoked_key_at_once_on_postgresql(
    deployment: tuple[Start, dict[str, str]], request: pytest.FixtureRequest
) -> None:
    if "postgresql" not in request.node.callspec.id:
        pytest.skip("SQLite runs one node; other processes see changes within the TTL")
    start, env = deployment
    a, b = start("api"), start("api")  # the default 300 s cache
    owner = create_key(env, "nodes@example.com")
    with client_for(a, owner) as ca:
        spare = ca.post("/v1/keys", json={"name": "spare"}).json()
    with client_for(b, spare["key"]) as cb, client_for(a, owner) as ca:
        assert cb.get("/v1/jobs").status_code == 200  # cached on b
        assert ca.delete(f"/v1/keys/{spare['id']}").status_code == 204
        # At once: a bound of seconds, where b's cache would trust the key for 300.
        _within(10, lambda: cb.get("/v1/jobs").status_code == 401, "b refusing the key")
    with client_for(b, owner) as cb:
        assert cb.get("/v1/usage").json()["plan"]["name"] == "enterprise"
        cli(env, "users", "set-plan", "nodes@example.com", "tiny")
        _within(
            10, lambda: cb.get("/v1/usage").json()["plan"]["name"] == "tiny", "b on the new plan"
        )


ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/v1/jobs/{job}", None),
    ("GET", "/v1/jobs/{job}/events", None),
    ("GET", "/v1/jobs/{job}/pdf", None),
    ("POST", "/v1/jobs/{job}/cancel", None),
    ("POST", "/v1/jobs/{job}/revise", {"instructions": "shorter"}),
    ("DELETE", "/v1/jobs/{job}", None),
    ("GET", "/v1/files/{file}", None),
    ("GET", "/v1/files/{file}/content", None),
    ("DELETE", "/v1/keys/{key}", None),
    ("POST", "/v1/files/{file}/shares", {"expires_in_s": 600}),
    ("GET", "/v1/files/{file}/shares", None),
    ("DELETE", "/v1/shares/{share}", None),
    ("GET", "/v1/webhooks/{webhook}", None),
    ("PATCH", "/v1/webhooks/{webhook}", {"enabled": False}),
    ("GET", "/v1/webhooks/{webhook}/deliveries", None),
    ("POST", "/v1/webhooks/{webhook}/deliveries/1/retry", None),
    ("DELETE", "/v1/webhooks/{webhook}", None),
]


def test_every_route_answers_404_for_another_users_ids_and_changes_nothing(
    deployment: tuple[Start, dict[str, str]],
) -> None:
    start, env = deployment
    server = start("serve")
    owner = create_key(env, "owner@example.com")
    stranger = create_key(env, "stranger@example.com")
    with client_for(server, owner) as c:
        job, _ = wait_final(c, c.post("/v1/jobs", json=_html(7)).json()["id"])
        assert job["status"] == "succeeded"
        [key] = c.get("/v1/keys").json()["items"]
        share = c.post(f"/v1/files/{job['file']['id']}/shares", json={}).json()
        # A literal public address (no name looked up) and an event that never comes.
        hook = c.post("/v1/webhooks", json={"url": HOOK, "events": ["quota.warning"]}).json()
        ids = {
            "webhook": hook["id"],
            "job": job["id"],
            "file": job["file"]["id"],
            "key": key["id"],
            "share": share["id"],
        }
    with client_for(server, stranger) as s:
        for method, path, body in ROUTES:
            answer = s.request(method, path.format(**ids), json=body)
            assert (method, path, answer.status_code) == (method, path, 404)
            assert answer.json()["code"] == "not_found"
    with client_for(server, owner) as c:
        assert c.get(f"/v1/jobs/{ids['job']}").json()["status"] == "succeeded"
        assert c.get(f"/v1/files/{ids['file']}/content").status_code == 200
        assert c.get("/v1/keys").json()["items"][0]["revoked_at"] is None
        assert c.get("/v1/jobs").json()["items"][0]["id"] == ids["job"]
        [still] = c.get(f"/v1/files/{ids['file']}/shares").json()["items"]
        assert still["revoked_at"] is None and still["downloads"] == 0
        assert httpx.get(share["url"]).status_code == 200
        [hooked] = c.get("/v1/webhooks").json()["items"]
        assert hooked["enabled"] is True and hooked["url"] == HOOK


def test_users_create_with_a_password_and_set_admin(
    deployment: tuple[Start, dict[str, str]],
) -> None:
    """The operator makes a person who can sign in to the web pages (the password piped in)
    and makes them an admin; the API key is still the last line."""
    _, env = deployment
    made = cli(env, "users", "create", "Web@Example.com", "--password", stdin="a long password\n")
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("pp_") and "a long password" not in made.stdout
    refused = cli(
        env, "users", "create", "short@example.com", "--password", stdin="short\n", check=False
    )
    assert refused.returncode == 1 and "at least 10 characters" in refused.stderr
    assert "short@example.com" not in cli(env, "users", "list").stdout  # nothing was made

    cli(env, "users", "set-admin", "web@example.com")
    listed = [line for line in cli(env, "users", "list").stdout.splitlines() if "web@" in line]
    assert listed[0].endswith("active  admin")

    async def check() -> tuple[bool, bool]:
        async with account_store(
            Settings(database_url=env["DATABASE_URL"], data_dir=env["PDFPROMPT_DATA_DIR"])
        ) as accounts:
            user = await accounts.check_password("web@example.com", "a long password")
            return user.is_admin, user.has_password

    assert asyncio.run(check()) == (True, True)
    cli(env, "users", "set-admin", "web@example.com", "--off")
    assert "admin" not in cli(env, "users", "list").stdout
    unknown = cli(env, "users", "set-admin", "nobody@example.com", check=False)
    assert unknown.returncode == 1 and "no user with email" in unknown.stderr
