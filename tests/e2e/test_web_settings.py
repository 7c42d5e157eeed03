"""The account's settings over real HTTP against a real `pdfprompt serve`, on SQLite and
PostgreSQL: changing the password (other browsers signed out, this one kept), signing out
everywhere, deleting the account (every row and stored file of the person gone, another
person's untouched), the one-time sign-in link and the password it lets one choose, and
the commands that make links and delete people."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.support.people import (
    OWNED,
    Person,
    delivery_ids,
    expire_links,
    finished_job,
    link_path,
    make_person,
    owned_rows,
    stored_files,
)
from tests.support.processes import Process, cli
from tests.support.receiver import Receiver
from tests.support.web import (
    PASSWORD,
    assert_page_headers,
    client,
    csrf,
    post,
    served_fixture,
    sign_in,
    sign_up,
)

pytestmark = pytest.mark.one_database("sqlite")

NEW_PASSWORD = "a brand new passphrase"
HOOKS = {"PDFPROMPT_WEBHOOK_ALLOW_PRIVATE": "true", "PDFPROMPT_WEBHOOK_POLL_MS": "100"}


# `pdfprompt serve` whose webhooks may go to a receiver on 127.0.0.1.
served = served_fixture("served", **HOOKS)


def _error(page: httpx.Response, field: str) -> str:
    found = re.search(rf'id="{field}-error">([^<]*)<', page.text)
    assert found is not None, page.text
    return found.group(1)


def _signed_in(c: httpx.Client) -> bool:
    return c.get("/account").status_code == 200


def test_changing_the_password_ends_the_other_sessions_and_keeps_this_one(
    served: tuple[Process, dict[str, str]],
) -> None:
    server, _ = served
    email = "changer@example.com"
    with client(server) as here, client(server) as there:
        sign_up(here, email)
        assert sign_in(there, email).status_code == 303
        page = here.get("/account")
        assert page.status_code == 200
        assert_page_headers(page)
        assert page.text.count('class="device"') == 2  # both browsers are listed
        assert page.text.count("(this browser)") == 1
        token = csrf(page)

        def change(**fields: str) -> httpx.Response:
            base = {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
            return post(here, "/account/password", **{**base, "csrf": token, **fields})

        wrong = change(current="not my password at all")
        assert wrong.status_code == 401
        assert _error(wrong, "current") == "This is not your current password."
        differ = change(confirm="something else entirely")
        assert differ.status_code == 400 and _error(differ, "confirm")
        short = change(password="short", confirm="short")
        assert short.status_code == 400 and "at least 10" in _error(short, "password")
        assert post(here, "/account/password", current=PASSWORD).status_code == 403  # no CSRF
        assert _signed_in(there)  # nothing changed yet

        old = here.cookies["pdfprompt_session"]
        changed = change()
        assert (changed.status_code, changed.headers["location"]) == (303, "/account?done=password")
        assert here.cookies["pdfprompt_session"] != old
        done = here.get(changed.headers["location"])
        assert done.status_code == 200 and "Your password is changed" in done.text
        assert done.text.count('class="device"') == 1
        assert not _signed_in(there)  # the other browser was signed out
    with client(server) as replay:
        replay.cookies.set("pdfprompt_session", old)
        assert not _signed_in(replay)
    with client(server) as c:
        assert sign_in(c, email).status_code == 401  # the old password is refused
        assert sign_in(c, email, NEW_PASSWORD).status_code == 303


def test_signing_out_everywhere(served: tuple[Process, dict[str, str]]) -> None:
    server, _ = served
    email = "everywhere@example.com"
    with client(server) as one, client(server) as two, client(server) as other:
        sign_up(one, email)
        sign_in(two, email)
        sign_up(other, "bystander@example.com")
        out = post(one, "/account/signout-everywhere", csrf=csrf(one.get("/account")))
        assert (out.status_code, out.headers["location"]) == (303, "/signin")
        assert 'pdfprompt_session=""' in out.headers["set-cookie"]
        assert not _signed_in(one) and not _signed_in(two)
        assert _signed_in(other)  # someone else's session is not touched
        assert sign_in(two, email).status_code == 303  # signing in again works


def _own_everything(server: Process, person: Person, r: Receiver) -> tuple[str, str]:
    """Two documents, a share link, a webhook that heard of both, a second key, a
    browser session: the person owns a row of every kind. Returns a job id and the share's
    path."""
    with person.api(server) as c:
        hook = c.post("/v1/webhooks", json={"url": r.url, "events": ["job.succeeded"]})
        assert hook.status_code == 201, hook.text
        job_id = finished_job(c)
        finished_job(c, "# Second\n\nAnother page")
        file_id = c.get(f"/v1/jobs/{job_id}").json()["file"]["id"]
        share = c.post(f"/v1/files/{file_id}/shares", json={})
        assert share.status_code == 201, share.text
        assert c.post("/v1/keys", json={"name": "second"}).status_code == 201
        made = c.post("/v1/templates", json={"name": "mine", "body": "<p>{{ x }}</p>"})
        assert made.status_code == 201, made.text
    return job_id, "/" + share.json()["url"].split("/", 3)[3]


def test_deleting_an_account_removes_every_row_and_file_of_the_person_only(
    served: tuple[Process, dict[str, str]],
) -> None:
    server, env = served
    data = Path(env["PDFPROMPT_DATA_DIR"])
    leaving = make_person(env, "leaving@example.com")
    staying = make_person(env, "staying@example.com")
    with Receiver() as r:
        _, leaving_share = _own_everything(server, leaving, r)
        staying_job, staying_share = _own_everything(server, staying, r)
        r.wait_for(4)
    deliveries = delivery_ids(env, leaving.id)
    assert deliveries
    before = owned_rows(env, leaving.id, deliveries)
    kept = owned_rows(env, staying.id)
    # Every kind of row is there to be deleted (sessions come with signing in, below).
    assert all(before[t] > 0 for t in OWNED if t != "sessions"), before
    assert before["webhook_attempts"] > 0
    assert stored_files(data, leaving.id) and stored_files(data, staying.id)
    staying_files = stored_files(data, staying.id)

    with client(server) as c, client(server) as elsewhere:
        assert sign_in(c, leaving.email).status_code == 303
        assert sign_in(elsewhere, leaving.email).status_code == 303
        confirm = c.get("/account/delete")
        assert confirm.status_code == 200 and 'type="password"' in confirm.text
        token = csrf(confirm)
        empty = post(c, "/account/delete", csrf=token, password="")
        assert empty.status_code == 400 and _error(empty, "password")
        wrong = post(c, "/account/delete", csrf=token, password="not my password!!")
        assert wrong.status_code == 401
        assert _error(wrong, "password") == "This is not your current password."
        assert post(c, "/account/delete", password=PASSWORD).status_code == 403  # no CSRF
        assert owned_rows(env, leaving.id)["users"] == 1  # still there
        assert owned_rows(env, leaving.id)["sessions"] == 2

        gone = post(c, "/account/delete", csrf=token, password=PASSWORD)
        assert gone.status_code == 200 and "Account deleted" in gone.text
        assert 'pdfprompt_session=""' in gone.headers["set-cookie"]
        assert not _signed_in(c) and not _signed_in(elsewhere)

    after = owned_rows(env, leaving.id, deliveries)
    assert set(after.values()) == {0}, after
    assert stored_files(data, leaving.id) == []
    # The other person has all they had.
    assert owned_rows(env, staying.id) == kept
    assert stored_files(data, staying.id) == staying_files
    with leaving.api(server) as c:
        assert c.get("/v1/jobs").status_code == 401
    with httpx.Client(base_url=server.base_url) as anyone:
        assert anyone.get(leaving_share).status_code == 404
        assert anyone.get(staying_share).status_code == 200
    with staying.api(server) as c:
        assert c.get(f"/v1/jobs/{staying_job}/pdf").status_code == 200
    with client(server) as c:
        assert sign_in(c, leaving.email).status_code == 401


def test_a_sign_in_link_works_once_then_lets_the_person_choose_a_password(
    served: tuple[Process, dict[str, str]],
) -> None:
    server, env = served
    person = make_person(env, "linked@example.com", password=False)
    assert person.key.startswith("pp_")  # the API key is still the last line
    assert "works once, for 24 hours" in person.output
    path = person.link_path
    token = path.rsplit("/", 1)[1]
    with client(server) as c:
        assert _signed_in(c) is False
        shown = c.get(path)
        assert shown.status_code == 200 and "linked@example.com" in shown.text
        assert_page_headers(shown)
        assert c.get(path).status_code == 200  # looking does not use it up
        assert post(c, path).status_code == 403  # no CSRF token: refused, not used up
        assert post(c, path, csrf="0" * 64).status_code == 403
        taken = post(c, path, csrf=csrf(shown))
        assert (taken.status_code, taken.headers["location"]) == (303, "/account/choose-password")
        assert _signed_in(c)
        # Used once: a second use, or another browser, finds it gone.
        assert c.get(path).status_code == 410
        with client(server) as other:
            page = other.get(path)
            assert page.status_code == 410 and "no longer works" in page.text
            assert post(other, path, csrf=csrf(other.get("/signin"))).status_code == 410
            assert not _signed_in(other)

        account = c.get("/account")  # no password yet: the page offers the choice
        assert 'href="/account/choose-password"' in account.text
        assert 'action="/account/password"' not in account.text
        form = c.get("/account/choose-password")
        assert form.status_code == 200
        choice = csrf(form)
        differ = post(
            c, "/account/choose-password", csrf=choice, password=PASSWORD, confirm="not the same!"
        )
        assert differ.status_code == 400 and _error(differ, "confirm")
        short = post(c, "/account/choose-password", csrf=choice, password="short", confirm="short")
        assert short.status_code == 400 and "at least 10" in _error(short, "password")
        assert post(c, "/account/choose-password", password=PASSWORD).status_code == 403
        chosen = post(
            c, "/account/choose-password", csrf=choice, password=PASSWORD, confirm=PASSWORD
        )
        assert (chosen.status_code, chosen.headers["location"]) == (303, "/account?done=chosen")
        account = c.get("/account?done=chosen")
        assert "Your password is set" in account.text
        assert 'action="/account/password"' in account.text  # now it can be changed
        # The choice was used: the form now sends to the account page.
        again = c.get("/account/choose-password")
        assert (again.status_code, again.headers["location"]) == (303, "/account")
    with client(server) as c:
        assert sign_in(c, person.email).status_code == 303
    assert token not in server.log()  # the access log does not keep the token


def test_links_expire_end_when_replaced_and_refuse_hostile_tokens(
    served: tuple[Process, dict[str, str]],
) -> None:
    server, env = served
    person = make_person(env, "relink@example.com", password=False)
    first = person.link_path
    second = link_path(cli(env, "users", "link", person.email).stdout)
    with client(server) as c:
        assert c.get(first).status_code == 410  # a new link ended the old one
        assert c.get(second).status_code == 200
        assert expire_links(env, person.id) == 2
        expired = c.get(second)
        assert expired.status_code == 410 and "has expired" in expired.text
        assert post(c, second, csrf=csrf(c.get("/signin"))).status_code == 410
        for token in ("nope", "x" * 500, "%00", "..%2F..%2Fadmin", "<script>"):
            unknown = c.get(f"/signin/link/{token}")
            assert unknown.status_code == 404, token
            assert "<script>" not in unknown.text
        assert not _signed_in(c)
    cli(env, "users", "disable", person.email)
    refused = cli(env, "users", "link", person.email, check=False)
    assert refused.returncode == 1 and "is disabled" in refused.stderr
    missing = cli(env, "users", "link", "nobody-here@example.com", check=False)
    assert missing.returncode == 1 and "no user" in missing.stderr
    # A link made before the person was disabled does not let them in either.
    cli(env, "users", "enable", person.email)
    third = link_path(cli(env, "users", "link", person.email).stdout)
    cli(env, "users", "disable", person.email)
    with client(server) as c:
        assert c.get(third).status_code == 410


def test_an_email_on_the_link_page_is_shown_as_text(
    served: tuple[Process, dict[str, str]],
) -> None:
    server, env = served
    person = make_person(env, "<b>x</b>@example.com", password=False)
    with client(server) as c:
        page = c.get(person.link_path)
        assert page.status_code == 200
        assert "<b>x</b>" not in page.text and "&lt;b&gt;x&lt;/b&gt;@example.com" in page.text


def test_users_delete_asks_for_yes(served: tuple[Process, dict[str, str]]) -> None:
    server, env = served
    person = make_person(env, "cli-delete@example.com")
    with person.api(server) as c:
        finished_job(c)
    unsure = cli(env, "users", "delete", person.email, check=False)
    assert unsure.returncode == 1 and "--yes" in unsure.stderr
    assert person.email in cli(env, "users", "list").stdout
    done = cli(env, "users", "delete", person.email, "--yes")
    assert "are deleted" in done.stdout
    assert person.email not in cli(env, "users", "list").stdout
    assert set(owned_rows(env, person.id).values()) == {0}
    assert stored_files(Path(env["PDFPROMPT_DATA_DIR"]), person.id) == []
