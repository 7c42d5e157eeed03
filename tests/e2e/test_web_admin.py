"""The admin area over real HTTP against a real `pdfprompt serve`, on SQLite and
PostgreSQL: a 404 for everyone but admins, searching users by email (escaped, capped),
changing a plan, disabling (the person's session ends, signing in and their key fail) and
enabling, and the queue dashboard showing the figures `pdfprompt stats --json` shows."""

from __future__ import annotations

import contextlib
import html
import json
import re
from collections.abc import Iterator

import httpx

from tests.support.people import (
    Person,
    busy_queue,
    finished_job,
    make_admin,
    make_person,
)
from tests.support.processes import Process, cli
from tests.support.web import assert_page_headers, client, csrf, post, sign_in, sign_up


@contextlib.contextmanager
def _admin_browser(server: Process, admin: Person) -> Iterator[httpx.Client]:
    with client(server) as c:
        assert sign_in(c, admin.email).status_code == 303
        yield c


def _emails(page: httpx.Response) -> list[str]:
    return [
        html.unescape(re.sub(r"<[^>]+>.*", "", cell).strip())
        for cell in re.findall(r'<th scope="row" class="email">(.*?)</th>', page.text, re.S)
    ]


def test_everyone_but_admins_gets_a_404_on_every_admin_url(
    service: tuple[Process, dict[str, str]],
) -> None:
    server, env = service
    target = make_person(env, "target-404@example.com")
    with client(server) as signed_out:
        first = signed_out.get("/admin")
        assert (first.status_code, first.headers["location"]) == (303, "/signin?next=/admin")
    with client(server) as c:
        sign_up(c, "not-an-admin@example.com")
        token = csrf(c.get("/account"))
        assert 'href="/admin"' not in c.get("/account").text
        for path in ("/admin", "/admin?q=target", "/admin/queue"):
            page = c.get(path)
            assert page.status_code == 404, path
            assert_page_headers(page)
            assert "target-404" not in page.text
        for action in ("plan", "disable", "enable"):
            path = f"/admin/users/{target.id}/{action}"
            assert post(c, path, csrf=token, plan="starter").status_code == 404, path
            assert post(c, path).status_code == 404, path  # not even the form is looked at
    listed = cli(env, "users", "list").stdout
    assert re.search(r"target-404@example.com  enterprise  active", listed), listed


def test_admin_searches_changes_a_plan_disables_and_enables(
    service: tuple[Process, dict[str, str]],
) -> None:
    server, env = service
    admin = make_admin(env, "boss@example.com")
    people = {
        email: make_person(env, email)
        for email in (
            "per%cent@example.com",
            "under_score@example.com",
            "underXscore@example.com",
            "<i>odd</i>@example.com",
        )
    }
    target = make_person(env, "target@example.com")
    with _admin_browser(server, admin) as c, client(server) as theirs:
        everyone = c.get("/admin")
        assert everyone.status_code == 200 and 'href="/admin"' in everyone.text
        assert_page_headers(everyone)
        assert {e.lower() for e in people} | {target.email, admin.email} <= set(_emails(everyone))
        assert "<i>odd</i>" not in everyone.text and "&lt;i&gt;odd&lt;/i&gt;" in everyone.text
        # LIKE's wildcards match only themselves.
        assert _emails(c.get("/admin", params={"q": "%"})) == ["per%cent@example.com"]
        assert _emails(c.get("/admin", params={"q": "_"})) == ["under_score@example.com"]
        assert _emails(c.get("/admin", params={"q": "UNDER"})) == [
            "underxscore@example.com",
            "under_score@example.com",
        ]
        none = c.get("/admin", params={"q": "nobody-matches"})
        assert none.status_code == 200 and _emails(none) == []
        long = c.get("/admin", params={"q": "x" * 1000})
        assert long.status_code == 400 and 'id="q-error"' in long.text
        for hostile in ("\x00", "a\x00b"):
            assert 400 <= c.get("/admin", params={"q": hostile, "who": hostile}).status_code < 500
        assert c.get("/admin", params={"done": "plan", "who": "no-such-id"}).status_code == 200
        # The row shows plan, status and this month's PDFs.
        with target.api(server) as api:
            finished_job(api)
        row = c.get("/admin", params={"q": "target@"})
        assert _emails(row) == ["target@example.com"]
        assert '<option value="enterprise" selected>' in row.text
        assert ">Active<" in row.text and '<td class="number">1</td>' in row.text

        token = csrf(row)
        moved = post(c, f"/admin/users/{target.id}/plan", csrf=token, plan="classic", q="target@")
        assert moved.status_code == 303
        assert moved.headers["location"].startswith("/admin?q=target%40&done=plan")
        shown = c.get(moved.headers["location"])
        assert "target@example.com is now on plan classic." in shown.text
        assert "target@example.com  classic" in cli(env, "users", "list").stdout
        bad = post(c, f"/admin/users/{target.id}/plan", csrf=token, plan="nope")
        assert bad.status_code == 422 and "o plan named" in bad.text
        unknown = post(c, "/admin/users/no-such-user/plan", csrf=token, plan="classic")
        assert unknown.status_code == 404
        nul = post(c, "/admin/users/%00/disable", csrf=token)
        assert nul.status_code == 404
        assert post(c, f"/admin/users/{target.id}/plan", plan="starter").status_code == 403
        assert post(c, f"/admin/users/{admin.id}/disable", csrf=token).status_code == 409

        # Disabling: the person's browser is signed out, signing in and their key fail.
        assert sign_in(theirs, target.email).status_code == 303
        assert theirs.get("/account").status_code == 200
        off = post(c, f"/admin/users/{target.id}/disable", csrf=token)
        assert off.status_code == 303
        assert "is disabled" in c.get(off.headers["location"]).text
        assert theirs.get("/account").status_code == 303
        with client(server) as again:
            assert sign_in(again, target.email).status_code == 401
        with target.api(server) as api:
            assert api.get("/v1/jobs").status_code == 401
        assert ">Disabled<" in c.get("/admin", params={"q": "target@"}).text

        on = post(c, f"/admin/users/{target.id}/enable", csrf=token)
        assert on.status_code == 303
        assert theirs.get("/account").status_code == 303  # the old session stays ended
        with client(server) as again:
            assert sign_in(again, target.email).status_code == 303
        with target.api(server) as api:
            assert api.get("/v1/jobs").status_code == 200


def _cell(page: str, window: str, name: str) -> str:
    row = re.search(rf'<tr data-window="{window}">(.*?)</tr>', page, re.S)
    assert row is not None, page
    found = re.search(rf'<td class="number {name}">([^<]*)</td>', row.group(1))
    assert found is not None, row.group(1)
    return found.group(1)


def test_the_queue_dashboard_shows_what_pdfprompt_stats_shows(
    service: tuple[Process, dict[str, str]],
) -> None:
    server, env = service
    admin, _, _ = busy_queue(server, env, "queue", succeeded=3, pages=12)
    with _admin_browser(server, admin) as c:
        page = c.get("/admin/queue")
        assert page.status_code == 200
        assert_page_headers(page)
        stats = json.loads(cli(env, "stats", "--json").stdout)
        assert stats["depth"] == {"queued": 0, "running": 0}
        assert '<dd class="queued">0</dd>' in page.text
        assert '<dd class="running">0</dd>' in page.text
        for window in ("1 hour", "1 day"):
            w = stats["windows"][window]
            assert w["succeeded"] >= 3 and w["failed"] >= 1
            assert _cell(page.text, window, "ended") == str(w["ended"])
            assert _cell(page.text, window, "succeeded") == str(w["succeeded"])
            assert _cell(page.text, window, "failed") == str(w["failed"])
            assert _cell(page.text, window, "canceled") == str(w["canceled"])
            assert _cell(page.text, window, "per-hour") == f"{w['per_hour']:.1f}"
            assert _cell(page.text, window, "error-rate") == f"{w['error_rate'] * 100:.1f}%"
            assert _cell(page.text, window, "p50") == f"{w['p50_s']:.2f}s"
            assert _cell(page.text, window, "p95") == f"{w['p95_s']:.2f}s"
        text = cli(env, "stats").stdout
        day = stats["windows"]["1 day"]
        assert re.search(rf"1 day\s+{day['ended']}\s+{day['succeeded']}\s+{day['failed']}", text)
        # The chart: an image with a text alternative, and its numbers as a table.
        assert '<svg role="img" aria-labelledby="chart-title chart-desc"' in page.text
        summary = f"{day['ended']} jobs ended and {day['failed']} of them failed."
        assert f'<desc id="chart-desc">In the last 24 hours {summary}' in page.text
        last_hour = re.search(
            r"<th scope=\"row\">the last hour</th>\s*<td class=\"number\">(\d+)", page.text
        )
        assert last_hour is not None and last_hour.group(1) == str(
            stats["windows"]["1 hour"]["ended"]
        )
        assert '<rect class="bar-failed"' in page.text and "<script" not in page.text
