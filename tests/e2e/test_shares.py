"""Share links through `pdfprompt serve` on SQLite and PostgreSQL: a public URL, counted
downloads that never pass their limit under concurrency, revocation, deletion, bounds."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx

from tests.support.accounts import client_for, user_on_plan
from tests.support.jobs import check_ranges, wait_final
from tests.support.processes import Process


def _shared_pdf(
    server: Process, env: dict[str, str], email: str, plan: str = "enterprise"
) -> tuple[httpx.Client, dict[str, object]]:
    """A client of a new user on `plan` and a job of theirs that succeeded."""
    c = client_for(server, user_on_plan(env, email, plan))
    job, _ = wait_final(
        c, c.post("/v1/jobs", json={"type": "html", "input": "<p>s</p>"}).json()["id"]
    )
    assert job["status"] == "succeeded"
    return c, job


def test_a_share_link_serves_the_pdf_without_a_key_until_revoked(
    service: tuple[Process, dict[str, str]],
) -> None:
    server, env = service
    c, job = _shared_pdf(server, env, "share@example.com")
    file_id = job["file"]["id"]  # type: ignore[index]
    made = c.post(f"/v1/files/{file_id}/shares", json={"expires_in_s": 600})
    assert made.status_code == 201
    share = made.json()
    token = share["url"].rsplit("/", 1)[1]
    assert len(token) >= 32  # 192 random bits, URL-safe
    public = httpx.get(share["url"], timeout=30)  # no Authorization header
    assert public.status_code == 200 and public.headers["content-type"] == "application/pdf"
    assert public.content == c.get(f"/v1/files/{file_id}/content").content
    check_ranges(c, f"/v1/files/{file_id}/content", public.content)
    [listed] = c.get(f"/v1/files/{file_id}/shares").json()["items"]
    assert listed["downloads"] == 1 and listed["url"] is None  # the link is shown once
    assert httpx.get(f"{server.base_url}/s/{'x' * 32}").status_code == 404
    assert c.delete(f"/v1/shares/{share['id']}").status_code == 204
    gone = httpx.get(share["url"])
    assert gone.status_code == 410 and gone.json()["code"] == "gone"
    assert (
        c.post(f"/v1/files/{file_id}/shares", json={"expires_in_s": 366 * 86400}).status_code == 422
    )
    c.close()


def test_concurrent_downloads_never_pass_the_limit(
    service: tuple[Process, dict[str, str]],
) -> None:
    server, env = service
    c, job = _shared_pdf(server, env, "limit@example.com")
    file_id = job["file"]["id"]  # type: ignore[index]
    share = c.post(f"/v1/files/{file_id}/shares", json={"max_downloads": 5}).json()
    with ThreadPoolExecutor(max_workers=20) as pool:
        codes = list(pool.map(lambda _: httpx.get(share["url"], timeout=30).status_code, range(20)))
    assert sorted(codes) == [200] * 5 + [410] * 15
    [listed] = c.get(f"/v1/files/{file_id}/shares").json()["items"]
    assert listed["downloads"] == 5
    # Deleting the job takes its file and its links with it.
    assert c.delete(f"/v1/jobs/{job['id']}").status_code == 204
    assert httpx.get(share["url"]).status_code == 404
    c.close()


def test_a_share_link_lives_no_longer_than_the_plan_keeps_the_file(
    service: tuple[Process, dict[str, str]],
) -> None:
    """Classic keeps files 90 days: a link may live that long, and not a second more."""
    server, env = service
    c, job = _shared_pdf(server, env, "kept@example.com", "classic")
    shares = f"/v1/files/{job['file']['id']}/shares"  # type: ignore[index]
    longest = 90 * 86400
    refused = c.post(shares, json={"expires_in_s": longest + 1})
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert (problem["code"], problem["field"]) == ("invalid_input", "expires_in_s")
    assert problem["detail"] == f"expires_in_s: at most {longest} on plan classic"
    assert c.get(shares).json()["items"] == []  # nothing was made
    made = c.post(shares, json={"expires_in_s": longest})
    assert made.status_code == 201, made.text
    expires_at = datetime.fromisoformat(made.json()["expires_at"])
    assert abs(expires_at - (datetime.now(UTC) + timedelta(seconds=longest))) < timedelta(hours=1)
    c.close()
