"""URL jobs and the page options over HTTP, through `pdfprompt serve` on SQLite and
PostgreSQL: a page from an allowed host printed (scripts run, `wait_for` honoured, the
request's media type), every way to reach a private address refused at submission or at
the worker with `url_refused` and zero requests at the private listener, URL jobs off for a
plan with an empty allow-list, and the page options of an HTML job checked in the PDF."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

from tests.support.accounts import client_for, plans_toml, user_on_plan
from tests.support.jobs import wait_final
from tests.support.processes import Process, serving
from tests.support.web_hosts import PAGES_ADDRESS, PRIVATE_ADDRESS, Dns, Site

pytestmark = pytest.mark.one_database("postgresql")

PLANS = plans_toml(open={"max_concurrent_jobs": 8}, closed={"max_concurrent_jobs": 8})
PLANS += "url_allow = []\n"  # the last table: plan `closed` has URL jobs off


@pytest.fixture(scope="module")
def hosts() -> Iterator[tuple[Dns, Site, Site]]:
    """The DNS server, the pages' site (allowed on purpose) and the private listener."""
    with Dns() as dns, Site(PAGES_ADDRESS) as site, Site(PRIVATE_ADDRESS) as private:
        dns.names.update(
            {
                "pages.test": [PAGES_ADDRESS],
                "evil.test": [PRIVATE_ADDRESS],
                "mapped.pages.test": [f"::ffff:{PRIVATE_ADDRESS}"],
            }
        )
        private.page("/", "<p>SECRET</p>")
        site.page(
            "/",
            "<style>.screen { display: none } @media screen { .screen { display: block } }"
            "</style><h1>HELLO PAGE</h1><p class=screen>SCREENONLY</p><div id=box></div>"
            "<script>setTimeout(() => { document.getElementById('box').innerHTML ="
            " '<p id=ready>SCRIPTED LATE</p>' }, 200)</script>"
            f"<img src='http://{PRIVATE_ADDRESS}:{{private}}/'>",
        )
        site.redirect("/away", f"http://{PRIVATE_ADDRESS}:{private.port}/")
        site.redirect("/mapped", f"http://[::ffff:{PRIVATE_ADDRESS}]:{private.port}/")
        body = site.pages["/"][2].decode().replace("{private}", str(private.port))
        site.pages["/"] = (200, site.pages["/"][1], body.encode())
        yield dns, site, private


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    hosts: tuple[Dns, Site, Site],
) -> Iterator[tuple[Process, dict[str, str]]]:
    dns, _, _ = hosts
    tmp = tmp_path_factory.mktemp(f"url-{request.param}")
    plans = tmp / "plans.toml"
    plans.write_text(PLANS)
    with serving(
        request,
        tmp,
        request.param,
        PDFPROMPT_PLANS_FILE=str(plans),
        PDFPROMPT_URL_ALLOW=f"pages.test, *.pages.test, evil.test, {PAGES_ADDRESS}, "
        f"{PRIVATE_ADDRESS}",
        PDFPROMPT_URL_ALLOW_ADDRESSES=f"{PAGES_ADDRESS}/32",
        PDFPROMPT_URL_NAMESERVERS=dns.server,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def client(served: tuple[Process, dict[str, str]]) -> Iterator[httpx.Client]:
    server, env = served
    with client_for(server, user_on_plan(env, "pages@example.com", "open")) as c:
        yield c


def _run(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post("/v1/jobs", json=body)
    assert answer.status_code == 202, answer.text
    job, _ = wait_final(client, answer.json()["id"])
    return job


def _text(pdf: bytes, tmp: Path) -> str:
    path = tmp / "page.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def test_an_allowed_page_is_printed_with_its_scripts_and_media(
    client: httpx.Client, hosts: tuple[Dns, Site, Site], tmp_path: Path
) -> None:
    _, site, private = hosts
    job = _run(
        client,
        {
            "type": "url",
            "input": site.url("/", "pages.test"),
            "options": {"media": "screen", "wait_for": {"selector": "#ready"}},
        },
    )
    assert job["status"] == "succeeded", job
    assert job["generator"] == "web"
    text = _text(client.get(f"/v1/jobs/{job['id']}/pdf").content, tmp_path)
    assert "HELLO PAGE" in text and "SCREENONLY" in text and "SCRIPTED LATE" in text
    [warning] = job["warnings"]
    assert warning["code"] == "resource_refused"
    assert f"{PRIVATE_ADDRESS}:{private.port}/" in warning["message"]
    assert private.hits == []


@pytest.mark.parametrize(
    ("path", "host", "reason"),
    [
        ("/", "evil.test", f"evil.test resolves to {PRIVATE_ADDRESS}"),
        ("/away", "pages.test", f"{PRIVATE_ADDRESS} is {PRIVATE_ADDRESS}, a special-purpose"),
        ("/mapped", "pages.test", "not on the allow-list"),
        ("/", "mapped.pages.test", f"holding {PRIVATE_ADDRESS}: Loopback"),
    ],
)
def test_a_page_reaching_a_private_address_fails_with_url_refused(
    client: httpx.Client, hosts: tuple[Dns, Site, Site], path: str, host: str, reason: str
) -> None:
    _, site, private = hosts
    job = _run(client, {"type": "url", "input": site.url(path, host)})
    assert job["status"] == "failed"
    assert job["error"]["code"] == "url_refused"
    assert reason in job["error"]["message"]
    assert job["attempts"] == 1  # refused for good: not retried
    assert private.hits == []


@pytest.mark.parametrize(
    ("url", "field", "words"),
    [
        ("http://{private}/", "input", "special-purpose address"),
        ("http://2130706435/", "input", "127.0.0.3 is a special-purpose address"),
        ("http://0x7f.0.0.3/", "input", "127.0.0.3 is a special-purpose address"),
        ("http://pages.test@{private}/", "input", "user name or password"),
        ("http://elsewhere.example/", "input", "not on the hosts"),
        ("file:///etc/passwd", "input", "http:// or https://"),
        ("data:text/html,<p>x</p>", "input", "http:// or https://"),
        ("http://pages.test\\@evil.test/", "input", "backslash"),
    ],
)
def test_urls_refused_at_submission_name_the_field(
    client: httpx.Client, hosts: tuple[Dns, Site, Site], url: str, field: str, words: str
) -> None:
    _, _, private = hosts
    answer = client.post(
        "/v1/jobs",
        json={"type": "url", "input": url.format(private=f"{PRIVATE_ADDRESS}:{private.port}")},
    )
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["code"] == "invalid_input"
    assert words in problem["detail"], problem
    assert problem.get("field") == field or field in str(problem), problem
    assert private.hits == []


def test_url_jobs_are_off_for_a_plan_with_an_empty_allow_list(
    served: tuple[Process, dict[str, str]], hosts: tuple[Dns, Site, Site]
) -> None:
    server, env = served
    _, site, _ = hosts
    with client_for(server, user_on_plan(env, "closed@example.com", "closed")) as c:
        answer = c.post("/v1/jobs", json={"type": "url", "input": site.url("/", "pages.test")})
    assert answer.status_code == 422
    assert "url jobs are off for plan closed" in answer.json()["detail"]
    assert "type" in str(answer.json())


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"wait_for": {"delay_ms": 100}}, "options.wait_for"),
        ({"media": "tv"}, "options.media"),
        ({"omit_background": "yes"}, "options.omit_background"),
        ({"prefer_css_page_size": 1}, "options.prefer_css_page_size"),
    ],
)
def test_bad_page_options_are_refused_naming_the_field(
    client: httpx.Client, options: dict[str, Any], field: str
) -> None:
    answer = client.post("/v1/jobs", json={"type": "html", "input": "<p>x</p>", "options": options})
    assert answer.status_code == 422, answer.text
    assert field in str(answer.json()), answer.json()


@pytest.mark.parametrize(
    "wait_for",
    [{}, {"delay_ms": 100, "selector": "#a"}, {"delay_ms": 10_001}, {"network_idle": False}],
)
def test_a_wait_for_must_be_one_condition_within_its_cap(
    client: httpx.Client, hosts: tuple[Dns, Site, Site], wait_for: dict[str, Any]
) -> None:
    _, site, _ = hosts
    answer = client.post(
        "/v1/jobs",
        json={
            "type": "url",
            "input": site.url("/", "pages.test"),
            "options": {"wait_for": wait_for},
        },
    )
    assert answer.status_code == 422, answer.text
    assert "options.wait_for" in str(answer.json())


def test_the_page_options_of_an_html_job_shape_its_pdf(
    client: httpx.Client, tmp_path: Path
) -> None:
    document = (
        "<style>@page { size: 100mm 150mm } .screen { display: none }"
        "@media screen { .screen { display: block } }</style>"
        "<p class=screen>SCREENONLY</p><p>ALWAYS</p>"
    )
    job = _run(
        client,
        {
            "type": "html",
            "input": document,
            "options": {
                "format": "A4",
                "prefer_css_page_size": True,
                "media": "screen",
                "omit_background": True,
            },
        },
    )
    assert job["status"] == "succeeded", job
    pdf = client.get(f"/v1/jobs/{job['id']}/pdf").content
    box = PdfReader(io.BytesIO(pdf)).pages[0].mediabox
    assert (round(float(box.width) * 25.4 / 72), round(float(box.height) * 25.4 / 72)) == (100, 150)
    assert "SCREENONLY" in _text(pdf, tmp_path)
    # The same document with the default options: A4 (the request's size wins), print media.
    plain = _run(client, {"type": "html", "input": document, "options": {"format": "A4"}})
    plain_pdf = client.get(f"/v1/jobs/{plain['id']}/pdf").content
    box = PdfReader(io.BytesIO(plain_pdf)).pages[0].mediabox
    assert round(float(box.width) * 25.4 / 72) == 210
    assert "SCREENONLY" not in _text(plain_pdf, tmp_path)


def test_a_web_page_is_not_revised(client: httpx.Client, hosts: tuple[Dns, Site, Site]) -> None:
    _, site, _ = hosts
    job = _run(client, {"type": "url", "input": site.url("/", "pages.test")})
    answer = client.post(f"/v1/jobs/{job['id']}/revise", json={"instructions": "shorter"})
    assert answer.status_code == 409
    assert "web page" in answer.json()["detail"]
