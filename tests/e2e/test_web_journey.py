"""One person's whole journey through the real pages, in Debian's Chromium under
Playwright, on two deployments: `pdfprompt serve` on SQLite (API and worker in one
process), and `pdfprompt api` with a separate `pdfprompt worker` on one PostgreSQL database
(the stage then reaches the page from another process).

They sign up, make a PDF from a prompt and watch its stage change live (pushed over
Server-Sent Events into the page, which runs under its own Content-Security-Policy), revise
it, share it, open the link signed out, see the downloads counted, revoke the link, find
both versions in the history and on the usage page, make an API key, use it and revoke it,
and sign out. A second test keeps a stranger out of another person's document and refuses
a session cookie replayed after signing out."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from playwright import sync_api

from tests.support.documents import PLANS, finished, made
from tests.support.llm import control, fake_llm, llm_env
from tests.support.processes import Process, cli, new_database, service_env, start_server
from tests.support.web import PASSWORD, chromium, client, look_at, sign_in, sign_up, watch_stage

pytestmark = [pytest.mark.chromium, pytest.mark.one_database("sqlite")]

WAIT_MS = 60_000
TITLE = "ACME summer party"
DOCUMENT_URL = re.compile(r".*/documents/([0-9a-f-]{36})$")


@dataclass
class Deployment:
    base_url: str
    env: dict[str, str]
    llm: str
    processes: list[Process]

    def check_running(self) -> None:
        """Every process still runs (a worker has no port to ask whether it is ready)."""
        for process in self.processes:
            assert process.proc is not None
            assert process.proc.poll() is None, f"{process.args} exited:\n{process.log()}"


@pytest.fixture(scope="module")
def llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fake_llm(
        tmp_path_factory.mktemp("fake-llm-journey"), "--stream", "--chunk-ms", "5"
    ) as url:
        yield url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def deployed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, llm: str
) -> Iterator[Deployment]:
    """SQLite: one `pdfprompt serve`. PostgreSQL: `pdfprompt worker` and `pdfprompt api`
    apart, on one new database. Sign-ups get the `writer` plan; the fake LLM writes."""
    tmp = tmp_path_factory.mktemp(f"journey-{request.param}")
    plans = tmp / "plans.toml"
    plans.write_text(PLANS)
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(new_database(request, tmp, request.param))
        env = service_env(
            tmp / "data",
            url,
            PDFPROMPT_PLANS_FILE=str(plans),
            PDFPROMPT_SIGNUP_PLAN="writer",
            **llm_env(llm),
        )
        processes: list[Process] = []
        if request.param == "sqlite":
            processes.append(start_server("serve", env, tmp / "serve.log"))
            stack.callback(processes[-1].stop)
        else:
            cli(env, "db", "upgrade")
            processes.append(Process(["worker"], env, tmp / "worker.log").start())
            stack.callback(processes[-1].stop)
            processes.append(start_server("api", env, tmp / "api.log"))
            stack.callback(processes[-1].stop)
        deployment = Deployment(processes[-1].base_url, env, llm, processes)
        deployment.check_running()
        yield deployment


def _document_id(page: sync_api.Page) -> str:
    found = DOCUMENT_URL.fullmatch(page.url)
    assert found is not None, page.url
    return found.group(1)


def _sends_document(response: sync_api.Response) -> bool:
    """Whether an answer carried the PDF, as the server counts downloads."""
    if response.status == 200:
        return True
    return response.status == 206 and int(response.headers.get("content-length", "0")) > 1


def _policy_errors(console: list[str]) -> list[str]:
    return [e for e in console if "Content Security Policy" in e or "Refused" in e]


def test_sign_up_make_share_revoke_keys_and_sign_out(deployed: Deployment) -> None:
    base, llm = deployed.base_url, deployed.llm
    expect = sync_api.expect
    console: list[str] = []
    owner_pdfs: list[sync_api.Response] = []
    # The model takes a while, so the page is seen while the document is being made.
    control(llm, reset=True, latency_ms=1500, chunk_ms=20)
    with chromium() as browser:
        owner = browser.new_context()  # no bypass: the pages' own policy applies
        page = owner.new_page()
        page.set_default_timeout(WAIT_MS)
        page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
        page.on(
            "response",
            lambda r: owner_pdfs.append(r) if urlsplit(r.url).path.endswith("/pdf") else None,
        )
        reports = watch_stage(page)

        # 1. Sign up.
        page.goto(f"{base}/signup")
        page.get_by_label("Email").fill("journey@example.com")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_label("Password again").fill(PASSWORD)
        page.get_by_role("button", name="Make my account").click()
        page.wait_for_url(f"{base}/")

        # 2. A new document from a prompt.
        assert page.locator("#type-prompt").is_checked()
        page.get_by_label("What should the PDF hold?").fill(
            "An invitation to the ACME summer party on the roof terrace"
        )
        page.get_by_text("Page and PDF options").click()
        page.get_by_label("Title").fill(TITLE)
        page.get_by_role("button", name="Make the PDF").click()
        page.wait_for_url(DOCUMENT_URL)
        first = _document_id(page)

        # 3. The stage changes under the page's script while it stays loaded; once the
        # document is done the script loads the page again, now with the PDF.
        page.locator("iframe").wait_for()
        control(llm, latency_ms=0, chunk_ms=5)
        mine = [(kind, text) for path, kind, text in reports if path == f"/documents/{first}"]
        loaded = [text for kind, text in mine if kind == "loaded"]
        pushed = [text for kind, text in mine if kind == "pushed"]
        assert loaded and loaded[0] in ("Waiting in the queue.", "Writing the document."), mine
        assert any(text != loaded[0] for text in pushed), mine
        assert "Printing the PDF." in pushed or "Saving the PDF." in pushed, mine

        # 4. The PDF is shown: the frame loads it from the document's own address.
        frame = page.locator("iframe")
        assert frame.get_attribute("src") == f"/documents/{first}/pdf"
        page.wait_for_load_state("load")  # the frame's document loaded with the page
        shown = [r for r in owner_pdfs if urlsplit(r.url).path == f"/documents/{first}/pdf"]
        assert shown and shown[-1].status == 200
        assert shown[-1].headers["content-type"] == "application/pdf"
        box = frame.bounding_box()
        assert box is not None and box["height"] > 300
        expect(page.locator("h1.doc-title")).to_have_text(TITLE)

        # 5. Revise: a second version, both listed.
        page.get_by_label("What should change?").fill("Add that drinks are served at six")
        page.get_by_role("button", name="Make a revised version").click()
        page.wait_for_url(DOCUMENT_URL)
        second = _document_id(page)
        assert second != first
        page.locator("iframe").wait_for()
        versions = page.locator(".version-list li")
        expect(versions).to_have_count(2)
        assert versions.nth(0).locator("[aria-current=page]").inner_text().startswith("Version 2")
        expect(versions.nth(1).get_by_role("link")).to_have_attribute("href", f"/documents/{first}")
        expect(page.locator("h1.doc-title")).to_have_text(TITLE)  # the revision keeps it
        whole = page.request.get(f"{base}/documents/{second}/pdf").body()
        assert whole.startswith(b"%PDF-")

        # 6. Share: a link made on the share page, read from the page.
        page.get_by_role("link", name="Share a link").click()
        page.wait_for_url(f"{base}/documents/{second}/share")
        assert page.get_by_text("No links yet.").is_visible()
        page.get_by_role("button", name="Make a link").click()
        link = page.get_by_role("textbox", name="Link").input_value()
        found = re.fullmatch(rf"{re.escape(base)}/s/([A-Za-z0-9_-]{{32}})", link)
        assert found is not None, link
        token = found.group(1)
        expect(page.locator("td.downloads")).to_have_text("0")

        # 7. The link in a fresh profile, signed out: the title and the viewer; then the
        # download button's address fetched.
        stranger = browser.new_context()
        visitor = stranger.new_page()
        visitor.set_default_timeout(WAIT_MS)
        visitor.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
        answers: list[sync_api.Response] = []
        visitor.on(
            "response",
            lambda r: answers.append(r) if urlsplit(r.url).path == f"/s/{token}/pdf" else None,
        )
        with visitor.expect_response(lambda r: urlsplit(r.url).path == f"/s/{token}/pdf") as seen:
            opened = visitor.goto(link)
        assert opened is not None and opened.status == 200
        assert seen.value.status == 200
        assert seen.value.headers["content-type"] == "application/pdf"
        expect(visitor.get_by_role("heading", level=1)).to_have_text(TITLE)
        expect(visitor.locator("iframe.viewer")).to_be_visible()
        assert visitor.get_by_role("button", name="Sign out").count() == 0
        href = visitor.get_by_role("link", name="Download the PDF").get_attribute("href")
        assert href == f"/s/{token}/pdf?download=1"
        fetched = stranger.request.get(urljoin(link, href))
        assert fetched.status == 200
        assert fetched.headers["content-disposition"].startswith("attachment;")
        assert fetched.body() == whole
        visitor.wait_for_load_state("load")  # the viewer's fetches are done

        # 8. Back as the owner: every fetch that sent the PDF counted, the page itself not.
        counted = len([a for a in answers if _sends_document(a)]) + 1
        page.goto(f"{base}/documents/{second}/share")  # a reload would post again
        expect(page.locator("td.downloads")).to_have_text(str(counted))
        expect(page.locator("td.state")).to_have_text("Active")

        # 9. Revoke: the signed-out page now says the link is gone, and sends nothing.
        page.get_by_role("button", name=re.compile(r"^Revoke the link")).click()
        expect(page.locator("td.state")).to_have_text("Revoked")
        gone = visitor.reload()
        assert gone is not None and gone.status == 410
        expect(visitor.get_by_role("heading", level=1)).to_have_text("This link no longer works")
        assert visitor.get_by_text("was revoked").is_visible()
        assert stranger.request.get(urljoin(link, href)).status == 410
        page.reload()
        expect(page.locator("td.downloads")).to_have_text(str(counted))
        stranger.close()

        # 10. The history lists both versions, newest first.
        nav = page.get_by_role("navigation", name="Main")
        nav.get_by_role("link", name="History").click()
        page.wait_for_url(f"{base}/documents")
        links = page.locator("li.history-doc a.history-link")
        expect(links).to_have_count(2)
        assert [links.nth(i).get_attribute("href") for i in range(2)] == [
            f"/documents/{second}",
            f"/documents/{first}",
        ]

        # 11. The usage page counts the two PDFs made, and lists the model's two answers.
        nav.get_by_role("link", name="Usage").click()
        page.wait_for_url(f"{base}/usage")
        expect(page.locator("p.pdfs")).to_have_text(re.compile(r"^2 made of 12\b"))
        rows = page.locator("table.history tbody tr td[data-label='What']")
        expect(rows).to_have_count(4)
        made = sorted(rows.all_inner_texts())
        assert made == ["Model call", "Model call", "PDF made", "PDF made"]

        # 12. An API key: shown once, works against the API, revoked on the page.
        nav.get_by_role("link", name="API keys").click()
        page.wait_for_url(f"{base}/keys")
        page.get_by_label("Name (optional)").fill("journey script")
        page.get_by_role("button", name="Make a key").click()
        key = page.get_by_label("Key", exact=True).input_value()
        assert key.startswith("pp_")
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as program:
            listed = program.get("/v1/jobs")
            assert listed.status_code == 200, listed.text
            assert {j["id"] for j in listed.json()["items"]} == {first, second}
            page.goto(f"{base}/keys")
            assert key not in page.content()
            page.get_by_role("button", name=re.compile(r"^Revoke the key pp_")).click()
            expect(page.locator("tr.key-row td.state")).to_have_text("Revoked")
            refused = program.get("/v1/jobs")
            assert refused.status_code == 401, refused.text

        # 13. Sign out: the account page now sends to the sign-in page.
        page.get_by_role("button", name="Sign out", exact=True).click()
        page.wait_for_url(f"{base}/signin")
        page.goto(f"{base}/account")
        page.wait_for_url(f"{base}/signin?next=/account")
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        owner.close()
    assert not _policy_errors(console), console
    deployed.check_running()


def test_a_stranger_finds_nothing_and_a_replayed_session_is_refused(
    deployed: Deployment,
) -> None:
    base = deployed.base_url
    control(deployed.llm, reset=True)
    paths: list[str] = []
    with client(deployed.processes[-1]) as owner:
        sign_up(owner, "journey-owner@example.com")
        job_id = made(owner, type="markdown", input="# Minutes\n\nOnly for the board.")
        finished(owner, job_id)
        paths = [
            f"/documents/{job_id}",
            f"/documents/{job_id}/share",
            f"/documents/{job_id}/pdf",
            f"/documents/{job_id}/pdf?download=1",
        ]
        for path in [*paths, f"/documents/{job_id}/thumbnail"]:
            assert owner.get(path).status_code == 200, path  # what the stranger must not see

    with chromium() as browser:
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(f"{base}/signup")
        page.get_by_label("Email").fill("journey-stranger@example.com")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_label("Password again").fill(PASSWORD)
        page.get_by_role("button", name="Make my account").click()
        page.wait_for_url(f"{base}/")
        for path in paths:
            answer = page.goto(f"{base}{path}")
            assert answer is not None and answer.status == 404, path
            assert answer.headers["content-type"].startswith("text/html"), path
            sync_api.expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
            assert "Minutes" not in page.content()
        # Nor may they act on it with a form of their own (a valid token of theirs).
        page.goto(f"{base}/")
        token = page.locator("input[name=csrf]").first.get_attribute("value") or ""
        assert token
        forms: list[tuple[str, dict[str, str | float | bool]]] = [
            (f"/documents/{job_id}/share", {"csrf": token, "expires_in_s": "86400"}),
            (f"/documents/{job_id}/revise", {"csrf": token, "instructions": "Make it mine"}),
            (f"/documents/{job_id}/delete", {"csrf": token}),
        ]
        for path, form in forms:
            refused = context.request.post(f"{base}{path}", form=form, max_redirects=0)
            assert refused.status == 404, (path, refused.status)
        for path in (f"/documents/{job_id}/thumbnail", f"/documents/{job_id}/events"):
            assert context.request.get(f"{base}{path}", max_redirects=0).status == 404, path

        checked = browser.new_context(bypass_csp=True, storage_state=context.storage_state())
        copy = checked.new_page()
        copy.goto(f"{base}{paths[0]}")
        look_at(copy, "document-not-found")
        checked.close()

        [session] = [c for c in context.cookies() if c["name"] == "pdfprompt_session"]
        page.goto(f"{base}/account")
        page.get_by_role("button", name="Sign out", exact=True).click()
        page.wait_for_url(f"{base}/signin")
        context.close()

    with client(deployed.processes[-1]) as owner:
        assert sign_in(owner, "journey-owner@example.com").status_code == 303
        assert owner.get(f"/documents/{job_id}").status_code == 200  # still there, unshared
        assert "No links yet." in owner.get(f"/documents/{job_id}/share").text
        assert owner.get("/documents").text.count('<li class="history-doc">') == 1  # no revision

    with httpx.Client(base_url=base, follow_redirects=False, timeout=30) as replay:
        replay.cookies.set("pdfprompt_session", session["value"])
        for path in ("/account", "/documents", "/keys"):
            replayed = replay.get(path)
            assert replayed.status_code == 303, (path, replayed.status_code)
            assert replayed.headers["location"].startswith("/signin"), path
