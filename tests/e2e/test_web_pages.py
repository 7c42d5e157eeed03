"""The account pages (sign-up, sign-in, sign-out, home) over real HTTP against a real
`pdfprompt serve`, on SQLite and PostgreSQL: sessions, CSRF, throttling, security headers
and hostile form input."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import httpx
import pytest

from tests.support.accounts import fresh_rate_window
from tests.support.processes import Process, cli, serving

pytestmark = pytest.mark.one_database("sqlite")

PASSWORD = "correct horse battery"
CSP = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"


def _browser(server: Process) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, follow_redirects=False, timeout=30)


def _assert_headers(r: httpx.Response) -> None:
    assert r.headers["content-security-policy"] == CSP
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"


def _csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]*)"', page.text)
    assert found is not None, page.text
    return found.group(1)


def _alert(page: httpx.Response) -> str:
    found = re.search(r'role="alert">([^<]*)<', page.text)
    assert found is not None, page.text
    return found.group(1)


def _post(c: httpx.Client, path: str, **fields: str) -> httpx.Response:
    r = c.post(path, data=fields)
    assert r.status_code < 500, r.text
    _assert_headers(r)
    return r


def _sign_up(c: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    token = _csrf(c.get("/signup"))
    return _post(c, "/signup", email=email, password=password, confirm=password, csrf=token)


def _sign_in(c: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    token = _csrf(c.get("/signin"))
    return _post(c, "/signin", email=email, password=password, csrf=token)


def test_sign_up_home_sign_out_replay_and_sign_in_again(
    service: tuple[Process, dict[str, str]],
) -> None:
    server, _ = service
    with _browser(server) as c:
        first = c.get("/")
        assert (first.status_code, first.headers["location"]) == (303, "/signin")
        _assert_headers(first)
        for path in ("/signin", "/signup"):
            page = c.get(path)
            assert page.status_code == 200 and "text/html" in page.headers["content-type"]
            _assert_headers(page)
            assert "<script" not in page.text and "style=" not in page.text
        css = c.get("/static/style.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        assert css.headers["x-content-type-options"] == "nosniff"
        made = _sign_up(c, "Pages@Example.com")
        assert (made.status_code, made.headers["location"]) == (303, "/")
        cookie = made.headers["set-cookie"]
        assert cookie.startswith("pdfprompt_session=")
        assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
        assert "secure" not in cookie.lower()  # plain HTTP here
        home = c.get("/account")
        assert home.status_code == 200
        _assert_headers(home)
        assert "pages@example.com" in home.text and "starter" in home.text
        assert "0 used" in home.text and "of 3" in home.text  # the starter plan's month
        old = c.cookies["pdfprompt_session"]
        out = _post(c, "/signout", csrf=_csrf(home))
        assert (out.status_code, out.headers["location"]) == (303, "/signin")
        assert c.get("/").status_code == 303
    with _browser(server) as replay:
        replay.cookies.set("pdfprompt_session", old)
        refused = replay.get("/")
        assert (refused.status_code, refused.headers["location"]) == (303, "/signin")
    with _browser(server) as c:
        again = _sign_in(c, "pages@example.com")
        assert (again.status_code, again.headers["location"]) == (303, "/")
        assert c.cookies["pdfprompt_session"] != old
        assert "pages@example.com" in c.get("/account").text


def test_a_missing_or_wrong_csrf_token_is_refused_and_changes_nothing(
    service: tuple[Process, dict[str, str]],
) -> None:
    server, _ = service
    email = "csrf@example.com"
    fields = {"email": email, "password": PASSWORD, "confirm": PASSWORD}
    with _browser(server) as c, _browser(server) as other:
        c.get("/signup")
        foreign = _csrf(other.get("/signup"))  # another browser's token
        for token in (None, "", "0" * 64, foreign):
            sent = fields if token is None else {**fields, "csrf": token}
            r = _post(c, "/signup", **sent)
            assert r.status_code == 403 and "Form refused" in r.text
        assert _sign_in(c, email).status_code == 401  # no account was made
        assert _sign_up(c, email).status_code == 303
        home = c.get("/")
        assert _post(c, "/signout", csrf="nope").status_code == 403
        assert _post(c, "/signout").status_code == 403
        assert c.get("/").status_code == 200  # still signed in
        assert _post(c, "/signout", csrf=_csrf(home)).status_code == 303
    with _browser(server) as bare:  # no cookie at all
        assert _post(bare, "/signin", email=email, password=PASSWORD).status_code == 403


def test_wrong_password_and_unknown_email_answer_alike(
    service: tuple[Process, dict[str, str]],
) -> None:
    server, _ = service
    with _browser(server) as c:
        assert _sign_up(c, "known@example.com").status_code == 303
    with _browser(server) as c:
        wrong = _sign_in(c, "known@example.com", "not the password at all")
        unknown = _sign_in(c, "nobody@example.com", "not the password at all")
        assert wrong.status_code == unknown.status_code == 401
        assert _alert(wrong) == _alert(unknown) == "Wrong email or password."
        assert "pdfprompt_session" not in c.cookies
        # Signing up with a known email and another password says no more than that.
        taken = _sign_up(c, "known@example.com", "another long password")
        assert taken.status_code == 400 and "could not make an account" in _alert(taken)
        # With the right password, signing up signs the person in.
        assert _sign_up(c, "known@example.com").headers["location"] == "/"
        assert "known@example.com" in c.get("/account").text


def test_hostile_form_input_is_refused_or_escaped(
    service: tuple[Process, dict[str, str]],
) -> None:
    server, _ = service
    with _browser(server) as c:
        token = _csrf(c.get("/signup"))

        def signup(**fields: str) -> httpx.Response:
            base = {"email": "h@example.com", "password": PASSWORD, "confirm": PASSWORD}
            return _post(c, "/signup", **{**base, "csrf": token, **fields})

        too_long = signup(email="a" * 310 + "@example.com")
        assert too_long.status_code == 400 and 'id="email-error"' in too_long.text
        huge = "p" * 1025
        long_pw = signup(password=huge, confirm=huge)
        assert long_pw.status_code == 400 and 'id="password-error"' in long_pw.text
        short = signup(password="short", confirm="short")
        assert short.status_code == 400 and "at least 10" in short.text
        differ = signup(confirm="something else entirely")
        assert differ.status_code == 400 and 'id="confirm-error"' in differ.text
        nul = signup(email="a\x00b@example.com")
        assert nul.status_code == 400 and "email" in nul.text
        nul_pw = signup(password="long enough\x00", confirm="long enough\x00")
        assert nul_pw.status_code == 400 and 'id="password-error"' in nul_pw.text
        big = c.post("/signup", content=b"email=" + b"a" * 20_000, headers=_form())
        assert big.status_code == 413
        not_utf8 = c.post("/signup", content=b"email=%ff%fe", headers=_form())
        assert not_utf8.status_code in (400, 403)
        as_json = c.post("/signup", json={"email": "x@example.com"})
        assert as_json.status_code == 400
        many = "&".join(f"f{i}=1" for i in range(100))
        assert c.post("/signin", content=many.encode(), headers=_form()).status_code == 400
        evil = '"><script>alert(1)</script>@example.com'
        shown = signup(email=evil)
        if shown.status_code == 303:
            shown = c.get("/account")
        assert "<script>" not in shown.text and "&lt;script&gt;" in shown.text
    with _browser(server) as c:
        echoed = _sign_in(c, '"><img src=x onerror=alert(1)>@example.com', "wrong password!!")
        assert echoed.status_code == 401
        assert "<img" not in echoed.text and "&lt;img" in echoed.text


def _form() -> dict[str, str]:
    return {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_closed_sign_up_and_sign_in_throttling(
    request: pytest.FixtureRequest, tmp_path: Path, database: str
) -> None:
    # This proxy's X-Forwarded-For is believed: each request chooses the address it comes from.
    extra = {"PDFPROMPT_SIGNUP": "closed", "PDFPROMPT_TRUSTED_PROXIES": "127.0.0.1"}
    with serving(request, tmp_path, database, **extra) as (server, env):
        for email in ("op@example.com", "second@example.com"):
            cli(env, "users", "create", email, "--password", stdin=PASSWORD + "\n")
        with _browser(server) as c:
            closed = c.get("/signup")
            assert closed.status_code == 200 and "made by the operator" in closed.text
            _assert_headers(closed)
            assert 'href="/signup"' not in c.get("/signin").text
            token = _csrf(c.get("/signin"))
            fields = {"email": "new@example.com", "password": PASSWORD, "confirm": PASSWORD}
            refused = _post(c, "/signup", csrf=token, **fields)
            assert refused.status_code == 403 and "made by the operator" in refused.text
        assert "new@example.com" not in cli(env, "users", "list").stdout
        fresh_rate_window()
        with _browser(server) as c:
            token = _csrf(c.get("/signin"))

            def attempt(address: str, email: str, password: str) -> httpx.Response:
                fields = {"email": email, "password": password, "csrf": token}
                r = c.post("/signin", data=fields, headers={"X-Forwarded-For": address})
                _assert_headers(r)
                return r

            answers = [attempt("10.0.0.1", "op@example.com", "wrong password!") for _ in range(10)]
            assert {r.status_code for r in answers} == {401}
            # Over the limit even the right password is held back, with a clear message.
            held = attempt("10.0.0.1", "op@example.com", PASSWORD)
            assert held.status_code == 429 and "Too many attempts" in held.text
            assert int(held.headers["Retry-After"]) >= 1
            # Per account: from another address too. Per address: for another account too.
            assert attempt("10.0.0.2", "op@example.com", PASSWORD).status_code == 429
            assert attempt("10.0.0.1", "second@example.com", PASSWORD).status_code == 429
            assert attempt("10.0.0.2", "nobody@example.com", "wrong password!").status_code == 401
            assert "pdfprompt_session" not in c.cookies
            # Served over HTTPS (as the proxy says), the session cookie is Secure.
            secure = c.post(
                "/signin",
                data={"email": "second@example.com", "password": PASSWORD, "csrf": token},
                headers={"X-Forwarded-For": "10.0.0.3", "X-Forwarded-Proto": "https"},
            )
            assert secure.status_code == 303
            assert "; secure" in secure.headers["set-cookie"].lower()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_sign_up_with_a_taken_email_counts_against_its_sign_in_attempts(
    request: pytest.FixtureRequest, tmp_path: Path, database: str
) -> None:
    """Signing up with an email taken and its password signs the person in: those tries
    share the account's sign-in limit, whatever address each comes from, so that sign-up
    is no way around it."""
    extra = {"PDFPROMPT_TRUSTED_PROXIES": "127.0.0.1"}
    with serving(request, tmp_path, database, **extra) as (server, env), _browser(server) as c:
        cli(env, "users", "create", "taken@example.com", "--password", stdin=PASSWORD + "\n")
        token = _csrf(c.get("/signup"))
        fresh_rate_window()

        def attempt(path: str, n: int, password: str) -> httpx.Response:
            fields = {"email": "Taken@example.com", "password": password, "csrf": token}
            if path == "/signup":
                fields["confirm"] = password
            r = c.post(path, data=fields, headers={"X-Forwarded-For": f"10.1.1.{n}"})
            _assert_headers(r)
            return r

        tries = [attempt("/signup", n, "wrong password!") for n in range(5)]
        tries += [attempt("/signin", n, "wrong password!") for n in range(5, 10)]
        assert [r.status_code for r in tries] == [400] * 5 + [401] * 5
        for path in ("/signup", "/signin"):
            held = attempt(path, 20, PASSWORD)
            assert held.status_code == 429 and "Too many attempts" in held.text
        assert "pdfprompt_session" not in c.cookies


def test_an_unknown_sign_up_plan_stops_the_start(service: tuple[Process, dict[str, str]]) -> None:
    _, env = service
    failed = cli({**env, "PDFPROMPT_SIGNUP_PLAN": "nope"}, "users", "list", check=False)
    assert failed.returncode != 0
    assert "PDFPROMPT_SIGNUP_PLAN: no plan named 'nope'" in failed.stderr


def test_an_address_that_names_nothing_is_a_page_for_browsers_and_a_problem_for_programs(
    service: tuple[Process, dict[str, str]],
) -> None:
    server, _ = service
    html = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    with _browser(server) as c:
        page = c.get("/no/such/page", headers=html)
        assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
        _assert_headers(page)
        assert "Not found" in page.text and "<script" not in page.text
        hostile = c.get('/"><img src=x onerror=alert(1)>', headers=html)
        assert hostile.status_code == 404 and "onerror" not in hostile.text
        for path, headers in (("/no/such/page", {}), ("/v1/no/such", html)):
            problem = c.get(path, headers=headers)
            assert problem.status_code == 404
            assert problem.headers["content-type"] == "application/problem+json"
        # A form's address opened as a link: a page (with its headers), not the API's words.
        wrong_way = c.get("/signout", headers=html)
        assert wrong_way.status_code == 405 and wrong_way.headers["allow"] == "POST"
        assert wrong_way.headers["content-type"].startswith("text/html")
        _assert_headers(wrong_way)
        assert "not opened that way" in wrong_way.text
        problem = c.get("/signout")
        assert problem.status_code == 405
        assert problem.headers["content-type"] == "application/problem+json"


def test_a_database_that_does_not_answer_is_a_page_for_browsers(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """An error no page catches (here SQLite locked by another process past the busy
    timeout: 503) reaches a browser as a page with the pages' headers; programs still get
    the API's problem+json. SQLite only: a lock held from outside is how to make one
    database stop answering writes while it still answers reads."""
    extra = {"DATABASE_CONNECT_TIMEOUT": "1"}
    with serving(request, tmp_path, "sqlite", **extra) as (server, env), _browser(server) as c:
        assert _sign_up(c, "locked-out@example.com").status_code == 303
        token = _csrf(c.get("/keys"))
        other = sqlite3.connect(env["DATABASE_URL"].removeprefix("sqlite:///"))
        try:
            other.execute("BEGIN IMMEDIATE")  # stands for another process writing
            fields = {"csrf": token, "name": "k", "scope.account": "on"}
            page = c.post("/keys", data=fields, headers={"Accept": "text/html"})
            assert page.status_code == 503 and page.headers["retry-after"] == "1"
            assert page.headers["content-type"].startswith("text/html")
            _assert_headers(page)
            assert "Something went wrong on our side" in page.text
            assert "database" not in page.text
            with _browser(server) as program:  # the server ended the connection above
                program.cookies = c.cookies
                problem = program.post("/keys", data=fields, headers={"Accept": "*/*"})
            assert problem.status_code == 503
            assert problem.headers["content-type"] == "application/problem+json"
        finally:
            other.rollback()
            other.close()


def test_forms_count_against_the_plans_requests_per_minute(
    service: tuple[Process, dict[str, str]],
) -> None:
    """The starter plan allows 60 requests a minute, shared by the person's API keys and
    the forms they send from the pages; past it a form gets a 429 page, and reading pages
    is not counted."""
    server, _ = service
    with _browser(server) as c:
        assert _sign_up(c, "busy@example.com").status_code == 303
        fresh_rate_window()
        for _ in range(60):
            assert _post(c, "/documents", csrf="not the token").status_code == 403
        assert c.get("/account").status_code == 200
        over = _post(c, "/documents", csrf="not the token")
        assert over.status_code == 429 and "Retry-After" in over.headers
        assert "text/html" in over.headers["content-type"]
        assert c.get("/account").status_code == 200


def test_a_signed_in_person_keeps_the_nav_on_error_pages(
    service: tuple[Process, dict[str, str]],
) -> None:
    server, _ = service
    html = {"Accept": "text/html"}
    with _browser(server) as c:
        assert _sign_up(c, "lost@example.com").status_code == 303
        for path in ("/no/such/page", "/documents/01a00000-0000-7000-8000-000000000000"):
            page = c.get(path, headers=html)
            assert page.status_code == 404, path
            assert 'aria-label="Main"' in page.text and 'action="/signout"' in page.text
            token = _csrf(page)
            assert _post(c, "/signout", csrf=token).status_code == 303
            assert _sign_in(c, "lost@example.com").status_code == 303
    with _browser(server) as stranger:
        page = stranger.get("/no/such/page", headers=html)
        assert page.status_code == 404 and 'aria-label="Main"' not in page.text
