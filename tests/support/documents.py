"""The document pages' deployment: `pdfprompt serve` with the fake LLM process as its model
and a plans file, people signing up from their own (forwarded) addresses, and following a
document through the page's own event stream."""

from __future__ import annotations

import contextlib
import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.accounts import plans_toml
from tests.support.llm import fake_llm, llm_env
from tests.support.processes import Process, new_account, serving
from tests.support.web import PASSWORD, client, csrf, post, sign_in, sign_up

PROMPT_LIMIT = 300
_WRITER = {"max_pages": 5, "max_prompt_chars": PROMPT_LIMIT, "max_concurrent_jobs": 1}
PLANS = plans_toml(
    writer={"pdfs_per_month": 12, **_WRITER}, single={"pdfs_per_month": 1, **_WRITER}
)
_addresses = itertools.count(1)


@contextlib.contextmanager
def documents_service(
    request: pytest.FixtureRequest, tmp: Path, database: str, fake_url: str
) -> Iterator[tuple[Process, dict[str, str]]]:
    """`pdfprompt serve` whose sign-ups get the `writer` plan and whose prompts the fake
    LLM writes; forwarded addresses are believed (each person has their own)."""
    plans = tmp / "plans.toml"
    plans.write_text(PLANS)
    with serving(
        request,
        tmp,
        database,
        PDFPROMPT_PLANS_FILE=str(plans),
        PDFPROMPT_SIGNUP_PLAN="writer",
        PDFPROMPT_TRUSTED_PROXIES="127.0.0.1",
        PDFPROMPT_MAX_ATTEMPTS="1",
        **llm_env(fake_url),
    ) as served:
        yield served


def documents_fixtures(name: str) -> tuple[Any, Any]:
    """A module's `llm` (the fake LLM, streaming its answers) and `docs` (the documents'
    deployment on it, once on SQLite and once on PostgreSQL) fixtures, their folders named
    after `name`: `llm, docs = documents_fixtures("…")`."""

    @pytest.fixture(scope="module")
    def llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
        folder = tmp_path_factory.mktemp(f"fake-llm-{name}")
        with fake_llm(folder, "--stream", "--chunk-ms", "5") as url:
            yield url

    @pytest.fixture(scope="module", params=["sqlite", "postgresql"])
    def docs(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, llm: str
    ) -> Iterator[tuple[Process, dict[str, str]]]:
        tmp = tmp_path_factory.mktemp(f"{name}-{request.param}")
        with documents_service(request, tmp, request.param, llm) as served:
            yield served

    return llm, docs


@contextlib.contextmanager
def person(server: Process, email: str) -> Iterator[httpx.Client]:
    """A browser without JavaScript, signed up (plan `writer`), from an address of its own
    (sign-ups are throttled per address)."""
    with _from_own_address(server) as c:
        sign_up(c, email)
        yield c


@contextlib.contextmanager
def person_on_plan(
    server: Process, env: dict[str, str], email: str, plan: str
) -> Iterator[httpx.Client]:
    """A browser signed in to an account the operator made on `plan`."""
    new_account(env, email, plan=plan, password=PASSWORD)
    with _from_own_address(server) as c:
        assert sign_in(c, email).status_code == 303
        yield c


@contextlib.contextmanager
def _from_own_address(server: Process) -> Iterator[httpx.Client]:
    n = next(_addresses)
    with client(server) as c:
        c.headers["X-Forwarded-For"] = f"10.20.{n // 250}.{n % 250 + 1}"
        yield c


def submit(c: httpx.Client, **fields: str) -> httpx.Response:
    """The new-document form posted with the page's token: by default a prompt."""
    token = csrf(c.get("/"))
    fields.setdefault("type", "prompt")
    return post(c, "/documents", csrf=token, **fields)


def made(c: httpx.Client, **fields: str) -> str:
    """Submit and return the new document's id (the form answers 303 to its page)."""
    r = submit(c, **fields)
    assert r.status_code == 303, r.text
    found = re.fullmatch(r"/documents/([0-9a-f-]{36})", r.headers["location"])
    assert found is not None, r.headers["location"]
    return found.group(1)


def events(c: httpx.Client, job_id: str, timeout_s: float = 90) -> list[dict[str, Any]]:
    """Every `job` event of the document's stream, until the server ends it (after a final
    status)."""
    seen: list[dict[str, Any]] = []
    name, data = "", ""
    with c.stream("GET", f"/documents/{job_id}/events", timeout=timeout_s) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = line.removeprefix("data: ")
            elif line == "" and data:
                assert name == "job", name
                seen.append(json.loads(data))
                name, data = "", ""
    return seen


def finished(c: httpx.Client, job_id: str) -> httpx.Response:
    """The document page once the document ended (its stream closed)."""
    last = events(c, job_id)[-1]
    assert last["status"] in ("succeeded", "failed", "canceled"), last
    page = c.get(f"/documents/{job_id}")
    assert page.status_code == 200
    return page


def field_error(page: httpx.Response, name: str) -> str:
    """The error shown next to a field (`<p class="error" id="NAME-error">`)."""
    found = re.search(rf'<p class="error" id="{re.escape(name)}-error">([^<]*)</p>', page.text)
    assert found is not None, f"no error for {name} in:\n{page.text}"
    return found.group(1)
