"""Asset references in every candidate of a `srcset` (on `<img>` and `<picture>`'s
`<source>`), and in a header or footer: refused when the job is submitted, naming the field
and saying why. Through `pdfprompt serve` (Chromium) on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.assets import has_color, png
from tests.support.jobs import wait_final
from tests.support.processes import Process, create_key, serving

pytestmark = pytest.mark.one_database("sqlite")

RED = (214, 31, 47)
TEAL = (16, 160, 150)
VIOLET = (120, 40, 200)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Process, dict[str, str]]]:
    tmp: Path = tmp_path_factory.mktemp(f"srcset-{request.param}")
    with serving(request, tmp, request.param) as s:
        yield s


def _client(served: tuple[Process, dict[str, str]], email: str) -> httpx.Client:
    server, env = served
    key = create_key(env, email)
    return httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )


def _printed(c: httpx.Client, document: str) -> tuple[dict[str, object], bytes]:
    made = c.post("/v1/jobs", json={"type": "html", "input": document})
    assert made.status_code == 202, made.text
    job, _ = wait_final(c, made.json()["id"])
    assert job["status"] == "succeeded", job
    return job, c.get(f"/v1/jobs/{job['id']}/pdf").content


def test_every_srcset_candidate_is_served(served: tuple[Process, dict[str, str]]) -> None:
    with _client(served, "srcset@example.com") as c:
        for name, color in (("red.png", RED), ("teal.png", TEAL), ("violet.png", VIOLET)):
            assert (
                c.post("/v1/assets", params={"name": name}, content=png(color)).status_code == 201
            )
        style = "display:block;width:300px;height:300px"
        # At one device pixel per CSS pixel the browser takes the 1x candidate: the second.
        job, pdf = _printed(
            c,
            f"<html><body style='margin:0'><img alt='' style='{style}' "
            f"srcset='asset:teal.png 3x, asset:red.png 1x'></body></html>",
        )
        assert job["warnings"] == [] and has_color(pdf, RED) and not has_color(pdf, TEAL)
        job, pdf = _printed(
            c,
            "<html><body style='margin:0'><picture>"
            f'<source srcset="asset:teal.png 3x,asset:violet.png 1x">'
            f"<img alt='' style='{style}' src='asset:red.png'></picture></body></html>",
        )
        assert job["warnings"] == [] and has_color(pdf, VIOLET)
        # An unknown name in a later candidate is refused by name, like any other.
        job, _ = _printed(
            c,
            f"<html><body><img alt='' style='{style}' "
            "srcset='asset:red.png 3x, asset:no-such.png 1x'></body></html>",
        )
        assert [w["code"] for w in job["warnings"]] == ["resource_refused"]  # type: ignore[union-attr]
        assert "asset:no-such.png" in job["warnings"][0]["message"]  # type: ignore[index]


@pytest.mark.parametrize("field", ["header_html", "footer_html"])
def test_an_asset_in_a_header_or_footer_is_refused_naming_it(
    served: tuple[Process, dict[str, str]], field: str
) -> None:
    with _client(served, f"header-{field}@example.com") as c:
        c.post("/v1/assets", params={"name": "logo.png"}, content=png(RED))
        options = {field: "<img src='asset:logo.png' alt=''>"}
        r = c.post("/v1/jobs", json={"type": "html", "input": "<p>x</p>", "options": options})
        assert r.status_code == 422, r.text
        problem = r.json()
        assert problem["field"] == f"options.{field}"
        assert "cannot use assets" in problem["detail"] and "data: URI" in problem["detail"]
        # Its neighbours: a data: URI is fine, and so is the asset in the page itself.
        inline = {field: "<img src='data:image/png;base64,iVBORw0KGgo=' alt=''>"}
        ok = c.post("/v1/jobs", json={"type": "html", "input": "<p>x</p>", "options": inline})
        assert ok.status_code == 202, ok.text
        page = c.post("/v1/jobs", json={"type": "html", "input": "<img src='asset:logo.png'>"})
        assert page.status_code == 202
