"""What a user downloads is finished, through `pdfprompt serve` on SQLite and PostgreSQL: a plan
with a watermark gets it on every page whatever the document does, a plan without gets none,
and an HTML job's links stay live only to http, https and mailto addresses and within it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.accounts import client_for, plans_toml, user_on_plan
from tests.support.hostile import (
    SAFE_HREFS,
    WATERMARK_DOCUMENTS,
    annotation_actions,
    dangerous,
    has_watermark_text,
    internal_link_pages,
    links_document,
    live_uris,
    read,
    watermarked_pages,
)
from tests.support.jobs import wait_final
from tests.support.processes import Process, cli, service_env, serving

pytestmark = pytest.mark.one_database("sqlite")

PLANS = plans_toml(
    marked={"max_concurrent_jobs": 8, "watermark": True},
    plain={"max_concurrent_jobs": 8},
)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Process, dict[str, str]]]:
    """`pdfprompt serve` with the two plans; a user's plan change is seen at once."""
    tmp = tmp_path_factory.mktemp(f"finish-{request.param}")
    plans = tmp / "plans.toml"
    plans.write_text(PLANS)
    with serving(
        request,
        tmp,
        request.param,
        PDFPROMPT_PLANS_FILE=str(plans),
        PDFPROMPT_SUBSCRIPTION_CACHE_TTL_S="0",
    ) as running:
        yield running


def _client(served: tuple[Process, dict[str, str]], email: str, plan: str) -> httpx.Client:
    server, env = served
    return client_for(server, user_on_plan(env, email, plan))


def _pdfs(c: httpx.Client, jobs: dict[str, dict[str, Any]]) -> dict[str, bytes]:
    """Submit every job at once, then download each one's PDF."""
    ids = {}
    for name, body in jobs.items():
        created = c.post("/v1/jobs", json=body)
        assert created.status_code == 202, created.text
        ids[name] = created.json()["id"]
    pdfs = {}
    for name, job_id in ids.items():
        job, _ = wait_final(c, job_id, timeout_s=120)
        assert job["status"] == "succeeded", (name, job)
        pdfs[name] = c.get(f"/v1/jobs/{job_id}/pdf").content
    return pdfs


# The API refuses an empty input; the other documents go as they are.
_SUBMITTED = {
    name: {"type": "html", "input": document, "options": options}
    for name, (document, options) in WATERMARK_DOCUMENTS.items()
    if document
}


def test_a_plan_with_a_watermark_has_it_on_every_page_and_one_without_has_none(
    served: tuple[Process, dict[str, str]],
) -> None:
    with _client(served, "marked@example.com", "marked") as c:
        marked = _pdfs(c, _SUBMITTED)
    with _client(served, "plain@example.com", "plain") as c:
        plain = _pdfs(c, _SUBMITTED)
    pages = {name: watermarked_pages(pdf) for name, pdf in marked.items()}
    assert {name: found for name, found in pages.items() if not all(found)} == {}
    assert len(pages["twenty-pages"]) == 20
    assert [n for n, pdf in plain.items() if has_watermark_text(pdf)] == []


def test_an_html_jobs_links_stay_live_only_to_the_web_mail_and_itself(
    served: tuple[Process, dict[str, str]],
) -> None:
    body = {"type": "html", "input": links_document()}
    with _client(served, "links@example.com", "plain") as c:
        pdf = _pdfs(c, {"links": body})["links"]
    with _client(served, "links-marked@example.com", "marked") as c:
        marked = _pdfs(c, {"links": body})["links"]
    for finished in (pdf, marked):
        assert [a for a in annotation_actions(finished) if dangerous(a)] == []
        assert sorted(live_uris(finished)) == sorted(SAFE_HREFS.values())
        pages = read(finished).pages
        there = [n for n, page in enumerate(pages) if page.extract_text().startswith("There")]
        assert len(there) == 1 and internal_link_pages(finished) == there
    assert all(watermarked_pages(marked)) and not has_watermark_text(pdf)
    # Markdown's link syntax refuses javascript: and file: itself, not other schemes.
    markdown = "[a](smb://evil.example/x) [b](relative.html) [c](ftp://example.com/) [d](https://example.com/)"
    with _client(served, "links-md@example.com", "plain") as c:
        pdf = _pdfs(c, {"md": {"type": "markdown", "input": markdown}})["md"]
    assert [a for a in annotation_actions(pdf) if dangerous(a)] == []
    assert live_uris(pdf) == ["https://example.com/"]


def test_after_a_plan_change_the_render_cache_never_hands_out_the_other_watermark(
    served: tuple[Process, dict[str, str]],
) -> None:
    env = served[1]
    email = "switch@example.com"
    body = {"type": "html", "input": "<h1>Same document</h1><p>each time</p>"}
    with _client(served, email, "marked") as c:
        first = _pdfs(c, {"first": body})["first"]
        cli(env, "users", "set-plan", email, "plain")
        second = _pdfs(c, {"second": body})["second"]
        cli(env, "users", "set-plan", email, "marked")
        third = _pdfs(c, {"third": body})["third"]
    assert all(watermarked_pages(first)) and not has_watermark_text(second)
    assert third == first  # the marked render, from the cache


def test_the_render_command_keeps_no_dangerous_link(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(links_document(), "utf-8")
    env = service_env(tmp_path / "data", f"sqlite:///{tmp_path / 'unused.sqlite3'}")
    cli(env, "render", str(page), "-o", str(tmp_path / "page.pdf"))
    pdf = (tmp_path / "page.pdf").read_bytes()
    assert [a for a in annotation_actions(pdf) if dangerous(a)] == []
    assert sorted(live_uris(pdf)) == sorted(SAFE_HREFS.values())
    assert not has_watermark_text(pdf)
