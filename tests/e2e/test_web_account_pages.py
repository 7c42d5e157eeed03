"""The usage, API keys and webhooks pages over real HTTP against `pdfprompt serve` on SQLite
and PostgreSQL: this month's numbers and the chart after making PDFs, a key shown once that
works against the API until it is revoked, webhooks made, given a new secret, turned off and
on and deleted, the address rule's refusal next to the URL, and deliveries with their
attempts, sent again. Deliveries go only to a receiver on 127.0.0.1; the endpoints of the
other tests are never sent anything (a literal public address, for an event that never
happens to their owner)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.accounts import HOOK
from tests.support.people import People, finished
from tests.support.processes import Process, serving
from tests.support.receiver import Receiver
from tests.support.web import assert_page_headers, client, csrf, post, sign_up

pytestmark = pytest.mark.one_database("sqlite")

ALLOW = {
    "PDFPROMPT_WEBHOOK_ALLOW_PRIVATE": "true",
    "PDFPROMPT_WEBHOOK_RETRY_BASE_S": "0.2",
    "PDFPROMPT_WEBHOOK_TIMEOUT_S": "2",
    "PDFPROMPT_WEBHOOK_POLL_MS": "100",
}


@pytest.fixture
def person(service: tuple[Process, dict[str, str]]) -> Iterator[People]:
    people = People(*service)
    yield people
    people.close()


def error_of(page: httpx.Response, field: str) -> str:
    found = re.search(rf'id="{field}-error">([^<]*)<', page.text)
    assert found is not None, page.text
    return found.group(1)


def test_usage_shows_the_months_pdfs_storage_chart_and_history(person: People) -> None:
    web, api = person("usage@example.com", plan="starter")
    empty = web.get("/usage")
    assert empty.status_code == 200
    assert_page_headers(empty)
    assert "0 made" in empty.text and "of 3 (3 left)" in empty.text
    assert "Nothing yet" in empty.text
    made = [finished(api), finished(api)]
    page = web.get("/usage")
    text = page.text
    assert 'class="plan">starter<' in text
    assert "2 made" in text and "of 3 (1 left)" in text
    assert re.search(r'<meter id="pdfs-meter" min="0" max="3" value="2"', text), text
    stored = api.get("/v1/usage").json()["storage_bytes"]
    assert stored["used"] > 0 and 'id="storage-meter"' in text
    assert f'max="{stored["limit"]}" value="{stored["used"]}"' in text
    # The chart: inline SVG with its text alternative; today's bar holds both PDFs.
    assert '<svg viewBox="0 0 480 220" role="img" aria-labelledby="chart-svg-title' in text
    assert '<title id="chart-svg-title">' in text and "2 PDFs in all" in text
    today = datetime.now(UTC).date().isoformat()
    assert f'data-day="{today}" data-pdfs="2"' in text
    assert len(re.findall(r'<rect class="bar"', text)) == 30
    assert "<script" not in text.replace('<script src="/static/time.js" defer></script>', "")
    for job in made:
        assert f'href="/documents/{job["id"]}"' in text
    assert text.count("PDF made") == 2
    assert web.get("/usage?cursor=abc").status_code == 422
    with client(person.server) as nobody:
        away = nobody.get("/usage")
        assert (away.status_code, away.headers["location"]) == (303, "/signin?next=/usage")


def _key_form(web: httpx.Client, **fields: str) -> httpx.Response:
    token = csrf(web.get("/keys"))
    return post(web, "/keys", csrf=token, **fields)


def test_a_key_is_shown_once_works_with_its_scopes_and_stops_when_revoked(
    service: tuple[Process, dict[str, str]],
) -> None:
    server, _ = service
    with client(server) as web:
        sign_up(web, "keys@example.com")
        listed = web.get("/keys")
        assert listed.status_code == 200 and "No keys yet." in listed.text
        forged = post(web, "/keys", name="forged", **{"scope.jobs:write": "on"})
        assert forged.status_code == 403
        assert "No keys yet." in web.get("/keys").text
        name = '"><img src=x onerror=alert(1)>'
        made = _key_form(web, name=name, **{"scope.jobs:write": "on", "scope.jobs:read": "on"})
        assert made.status_code == 200
        assert_page_headers(made)
        found = re.search(r'id="new-key" type="text" readonly value="(pp_[^"]+)"', made.text)
        assert found is not None, made.text
        key = found.group(1)
        assert "<img src=x" not in made.text and "&lt;img src=x onerror=alert(1)&gt;" in made.text
        again = web.get("/keys")
        assert key not in again.text  # shown once
        prefix = key.split("_")[1]
        assert f"pp_{prefix}_…" in again.text and "jobs:write, jobs:read" in again.text
        assert "<img src=x" not in again.text and "never" in again.text

        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as api:
            submitted = api.post("/v1/jobs", json={"type": "markdown", "input": "# k"})
            assert submitted.status_code == 202
            assert api.get(f"/v1/jobs/{submitted.json()['id']}").status_code == 200
            assert api.get("/v1/usage").status_code == 403  # not given the account scope
            page = web.get("/keys")
            revoke = re.search(r'action="(/keys/[^"]+/revoke)"', page.text)
            assert revoke is not None
            assert post(web, revoke.group(1)).status_code == 403  # no token: refused
            assert api.get(f"/v1/jobs/{submitted.json()['id']}").status_code == 200
            done = post(web, revoke.group(1), csrf=csrf(page))
            assert (done.status_code, done.headers["location"]) == (303, "/keys")
            assert api.get(f"/v1/jobs/{submitted.json()['id']}").status_code == 401
        assert re.search(r'class="state"[^>]*>Revoked<', web.get("/keys").text)

        expiring = _key_form(web, name="ci", expires_in_s="2592000", **{"scope.account": "on"})
        assert expiring.status_code == 200 and "pp_" in expiring.text
        row = re.search(r'<td class="name"[^>]*>ci</td>.*?</tr>', web.get("/keys").text, re.S)
        assert row is not None and "<time datetime=" in row.group(0).split("never")[0]

        none = _key_form(web, name="nothing")
        assert none.status_code == 400 and "at least one scope" in error_of(none, "scopes")
        short = _key_form(web, expires_in_s="5", **{"scope.account": "on"})
        assert short.status_code == 400 and error_of(short, "expires_in_s")
        words = _key_form(web, expires_in_s="soon", **{"scope.account": "on"})
        assert "whole number" in error_of(words, "expires_in_s")
        long = _key_form(web, name="n" * 201, **{"scope.account": "on"})
        assert "at most 200" in error_of(long, "name")
        assert post(web, f"/keys/{'x' * 100}/revoke", csrf=csrf(page)).status_code == 404
    with client(server) as other:
        sign_up(other, "other-keys@example.com")
        token = csrf(other.get("/keys"))
        assert post(other, revoke.group(1), csrf=token).status_code == 404


def _hook_form(web: httpx.Client, url: str, *events: str, **fields: str) -> httpx.Response:
    token = csrf(web.get("/webhooks"))
    chosen = {f"event.{e}": "on" for e in events}
    return post(web, "/webhooks", csrf=token, url=url, **chosen, **fields)


def _secret(page: httpx.Response) -> str:
    found = re.search(r'id="secret" type="text" readonly value="(whsec_[^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


def test_webhooks_are_made_rotated_turned_off_and_on_and_deleted(person: People) -> None:
    web, api = person("hooks-page@example.com")
    assert "No endpoints yet." in web.get("/webhooks").text
    # The server's rule (no private addresses): the refusal is next to the URL field.
    refused = _hook_form(web, "http://127.0.0.1:9/hook", "job.canceled")
    assert refused.status_code == 400
    assert "special-purpose address" in error_of(refused, "url")
    assert 'aria-describedby="url-error url-hint"' in refused.text
    assert 'value="http://127.0.0.1:9/hook"' in refused.text
    for url in ("ftp://example.com/x", "not a url", "http://10.0.0.1/x", "http://[::1]/x"):
        assert error_of(_hook_form(web, url, "job.canceled"), "url")
    assert "at least one event" in error_of(_hook_form(web, HOOK), "events")
    assert "Enter the endpoint" in error_of(_hook_form(web, "", "job.canceled"), "url")
    hostile = '"><script>alert(1)</script>'
    echoed = _hook_form(web, hostile, "job.canceled", description=hostile)
    assert echoed.status_code == 400 and "<script>alert" not in echoed.text
    assert "at most 200" in error_of(
        _hook_form(web, HOOK, "job.canceled", description="d" * 201), "description"
    )
    forged = post(web, "/webhooks", url=HOOK, **{"event.job.canceled": "on"})
    assert forged.status_code == 403
    assert api.get("/v1/webhooks").json()["items"] == []

    made = _hook_form(web, HOOK, "job.canceled", description=hostile)
    assert made.status_code == 200
    secret = _secret(made)
    [hook] = api.get("/v1/webhooks").json()["items"]
    assert (hook["url"], hook["events"], hook["description"]) == (HOOK, ["job.canceled"], hostile)
    assert "<script>alert" not in made.text
    detail = web.get(f"/webhooks/{hook['id']}")
    assert detail.status_code == 200 and secret not in detail.text
    assert "Nothing sent yet" in detail.text
    listed = web.get("/webhooks")
    assert f'href="/webhooks/{hook["id"]}"' in listed.text and "<script>alert" not in listed.text

    path = f"/webhooks/{hook['id']}"
    token = csrf(detail)
    assert post(web, f"{path}/rotate").status_code == 403
    rotated = post(web, f"{path}/rotate", csrf=token)
    assert rotated.status_code == 200 and _secret(rotated) != secret
    off = post(web, f"{path}/disable", csrf=token)
    assert (off.status_code, off.headers["location"]) == (303, path)
    page = web.get(path)
    assert "Off since" in page.text and "disabled by its owner" in page.text
    assert api.get(path.replace("/webhooks", "/v1/webhooks")).json()["enabled"] is False
    assert post(web, f"{path}/enable", csrf=token).status_code == 303
    assert 'class="state">On<' in web.get(path).text
    assert api.get(path.replace("/webhooks", "/v1/webhooks")).json()["enabled"] is True

    other, _ = person("hooks-other@example.com")
    assert other.get(path).status_code == 404
    other_token = csrf(other.get("/webhooks"))
    for action in ("rotate", "disable", "delete"):
        assert post(other, f"{path}/{action}", csrf=other_token).status_code == 404
    assert post(other, f"{path}/deliveries/1/retry", csrf=other_token).status_code == 404
    assert post(web, f"{path}/deliveries/x/retry", csrf=token).status_code == 404
    assert web.get(f"{path}?before=x").status_code == 422
    assert web.get(f"/webhooks/{'x' * 100}").status_code == 404

    gone = post(web, f"{path}/delete", csrf=token)
    assert (gone.status_code, gone.headers["location"]) == (303, "/webhooks")
    assert web.get(path).status_code == 404
    assert api.get("/v1/webhooks").json()["items"] == []


def _ended(api: httpx.Client, hook_id: str, attempts: int) -> dict[str, Any]:
    """The endpoint's one delivery, once it has ended after `attempts` attempts."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        items = api.get(f"/v1/webhooks/{hook_id}/deliveries").json()["items"]
        if items and items[0]["status"] != "pending" and items[0]["attempts"] >= attempts:
            return dict(items[0])
        time.sleep(0.05)
    raise AssertionError(f"the delivery of webhook {hook_id} did not end")


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_deliveries_show_every_attempt_and_are_sent_again(
    request: pytest.FixtureRequest, tmp_path: Path, database: str
) -> None:
    with (
        serving(request, tmp_path, database, **ALLOW) as (server, env),
        Receiver(script=[500]) as receiver,
    ):
        people = People(server, env)
        request.addfinalizer(people.close)
        web, api = people("deliveries@example.com")
        made = _hook_form(web, receiver.url, "job.succeeded")
        assert made.status_code == 200
        [hook] = api.get("/v1/webhooks").json()["items"]
        job = finished(api)
        delivery = _ended(api, hook["id"], 2)
        assert delivery["status"] == "succeeded"
        path = f"/webhooks/{hook['id']}"
        page = web.get(path)
        assert page.status_code == 200
        assert job["id"] in page.text and "job.succeeded" in page.text
        codes = re.findall(r'<td class="code"[^>]*>([^<]*)</td>', page.text)
        assert codes == ["500", "200"]
        assert "Succeeded" in page.text
        errors = re.findall(r'<td class="error-text"[^>]*>([^<]*)</td>', page.text)
        assert "HTTP 500" in errors[0] and errors[1] == "—"
        retry = f"{path}/deliveries/{delivery['id']}/retry"
        assert f'action="{retry}"' in page.text
        assert post(web, retry).status_code == 403
        sent = post(web, retry, csrf=csrf(page))
        assert (sent.status_code, sent.headers["location"]) == (303, path)
        receiver.wait_for(3)
        again = _ended(api, hook["id"], 3)
        assert again["status"] == "succeeded"
        codes = re.findall(r'<td class="code"[^>]*>([^<]*)</td>', web.get(path).text)
        assert codes == ["500", "200", "200"]
        assert [hit.event["id"] for hit in receiver.hits] == [delivery["id"]] * 3
