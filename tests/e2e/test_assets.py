"""Assets through real `pdfprompt serve` processes, on SQLite and PostgreSQL: uploads checked
from their bytes and held to their limits before they are read, the routes, another user's

pytestmark = pytest.mark.one_database("postgresql")
assets out of reach, an asset's pixels and a font asset's face in the PDF on both engines,
new bytes making a new render, storage counted and freed, and hostile SVG made inert."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.support.accounts import Start, client_for, plans_toml, user_on_plan
from tests.support.assets import (
    font,
    has_color,
    hostile_svgs,
    image,
    noise_png,
    pdf_fonts,
    png,
    png_declaring,
)
from tests.support.jobs import wait_final
from tests.support.processes import Process, cli, create_key, serving

RED = (214, 31, 47)
TEAL = (16, 160, 150)
VIOLET = (120, 40, 200)
MAX_ASSET_MB = 2
ROOM_BYTES = 6000  # the storage of plan `room`


@pytest.fixture(scope="module")
def served(deployment: tuple[Start, dict[str, str]]) -> tuple[Process, dict[str, str]]:
    """`pdfprompt serve` (Chromium) with a 2 MiB asset limit, on each database."""
    start, env = deployment
    return start("serve", PDFPROMPT_MAX_ASSET_MB=str(MAX_ASSET_MB)), env


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def weasy(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Process, dict[str, str]]]:
    """`pdfprompt serve` rendering with WeasyPrint, on a database of its own."""
    tmp = tmp_path_factory.mktemp(f"weasy-{request.param}")
    plans = tmp / "plans.toml"
    plans.write_text(plans_toml(room={"storage_bytes": ROOM_BYTES}))
    with serving(
        request,
        tmp,
        request.param,
        PDFPROMPT_RENDER_ENGINE="weasyprint",
        PDFPROMPT_PLANS_FILE=str(plans),
    ) as s:
        yield s


class _Listener:
    """A loopback HTTP server that counts every request it gets."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener() -> Iterator[_Listener]:
    heard = _Listener()
    yield heard
    heard.close()


def _upload(c: httpx.Client, name: str, data: bytes, **params: str) -> httpx.Response:
    return c.post("/v1/assets", params={"name": name, **params}, content=data)


def _job(c: httpx.Client, document: str, kind: str = "html") -> dict[str, object]:
    made = c.post("/v1/jobs", json={"type": kind, "input": document})
    assert made.status_code == 202, made.text
    job, _ = wait_final(c, made.json()["id"])
    assert job["status"] == "succeeded", job
    return job


def _pdf(c: httpx.Client, job: dict[str, object]) -> bytes:
    return c.get(f"/v1/jobs/{job['id']}/pdf").content


def _image_page(reference: str) -> str:
    return (
        "<html><body style='margin:0'>"
        f"<img src='{reference}' style='display:block;width:400px;height:400px'>"
        "</body></html>"
    )


def _font_page(reference: str) -> str:
    return (
        "<html><head><style>@font-face { font-family: 'Brand'; "
        f"src: url({reference}) }} p {{ font-family: 'Brand'; font-size: 30px }}</style>"
        "</head><body><p>Hello brand</p></body></html>"
    )


def test_uploads_of_each_kind_and_the_routes(served: tuple[Process, dict[str, str]]) -> None:
    server, env = served
    c = client_for(server, create_key(env, "kinds@example.com"))
    # Multipart, with the name from the part's file name; the declared type is ignored.
    sent = png(RED)
    made = c.post("/v1/assets", files={"file": ("logo.png", sent, "application/pdf")})
    assert made.status_code == 201, made.text
    logo = made.json()
    assert logo["id"].startswith("ast_") and made.headers["location"] == f"/v1/assets/{logo['id']}"
    assert (logo["name"], logo["content_type"], logo["kind"]) == ("logo.png", "image/png", "image")
    assert logo["size_bytes"] == len(sent)
    # A multipart `name` field wins over the file name.
    named = c.post(
        "/v1/assets", files={"file": ("x.jpg", image(TEAL, "JPEG"))}, data={"name": "photo"}
    )
    assert named.status_code == 201 and named.json()["content_type"] == "image/jpeg"
    kinds = {
        "anim.gif": (image(TEAL, "GIF"), "image/gif", "image"),
        "pic.webp": (image(TEAL, "WEBP"), "image/webp", "image"),
        "face.ttf": (font("PpKindFace"), "font/ttf", "font"),
        "face.woff": (font("PpKindFace", "woff"), "font/woff", "font"),
        "face.woff2": (font("PpKindFace", "woff2"), "font/woff2", "font"),
    }
    for name, (data, content_type, kind) in kinds.items():
        answer = _upload(c, name, data)
        assert answer.status_code == 201, (name, answer.text)
        assert (answer.json()["content_type"], answer.json()["kind"]) == (content_type, kind)
    svg = "<svg xmlns='http://www.w3.org/2000/svg' onload='x()'><rect width='4' height='4'/></svg>"
    drawn = _upload(c, "shape.svg", svg.encode())
    assert drawn.status_code == 201 and drawn.json()["content_type"] == "image/svg+xml"

    listed = c.get("/v1/assets", params={"limit": 3}).json()
    assert [a["name"] for a in listed["items"]] == ["shape.svg", "face.woff2", "face.woff"]
    rest = c.get("/v1/assets", params={"cursor": listed["next_cursor"]}).json()
    assert len(rest["items"]) == 5 and rest["next_cursor"] is None
    assert c.get(f"/v1/assets/{logo['id']}").json() == logo

    content = c.get(f"/v1/assets/{logo['id']}/content")
    assert content.status_code == 200 and content.content == sent
    assert content.headers["content-type"] == "image/png"
    assert content.headers["x-content-type-options"] == "nosniff"
    assert content.headers["content-security-policy"].startswith("sandbox; default-src 'none'")
    assert content.headers["content-disposition"] == 'inline; filename="logo.png"'
    stored_svg = c.get(f"/v1/assets/{drawn.json()['id']}/content")
    assert b"onload" not in stored_svg.content and b"<rect" in stored_svg.content

    assert c.delete(f"/v1/assets/{logo['id']}").status_code == 204
    for path in (f"/v1/assets/{logo['id']}", f"/v1/assets/{logo['id']}/content"):
        gone = c.get(path)
        assert gone.status_code == 404 and gone.json()["code"] == "not_found"
    assert c.delete(f"/v1/assets/{logo['id']}").status_code == 404
    c.close()


def test_uploads_refused(served: tuple[Process, dict[str, str]]) -> None:
    server, env = served
    c = client_for(server, create_key(env, "refused@example.com"))

    def refused(answer: httpx.Response, status: int, code: str, field: str) -> None:
        assert answer.status_code == status, answer.text
        problem = answer.json()
        assert (problem["code"], problem["field"]) == (code, field), problem

    binary = _upload(c, "notes.bin", b"\x00\x01\x02 not text, not an image")
    refused(binary, 422, "invalid_input", "file")
    assert (
        "PNG, JPEG, GIF, WebP, SVG, TTF, OTF, WOFF, WOFF2, PDF, JSON, XML, CSV, plain text"
        in (binary.json()["detail"])
    )
    refused(_upload(c, "broken.json", b'{"a": '), 422, "invalid_input", "file")
    refused(_upload(c, "fake.png", b"\x89PNG\r\n\x1a\nnot really"), 422, "invalid_input", "file")
    whole = png(RED)
    refused(_upload(c, "half.png", whole[: len(whole) // 2]), 422, "invalid_input", "file")
    bomb = png_declaring(20000, 20000)
    assert len(bomb) < 2048
    refused(_upload(c, "bomb.png", bomb), 422, "invalid_input", "file")
    refused(
        _upload(c, "xxe.svg", b"<!DOCTYPE s [<!ENTITY e 'x'>]><svg/>"), 422, "invalid_input", "file"
    )
    refused(_upload(c, "empty.png", b""), 422, "invalid_input", "file")
    refused(_upload(c, "bad name", whole), 422, "invalid_input", "name")
    refused(_upload(c, "-dash", whole), 422, "invalid_input", "name")
    refused(c.post("/v1/assets", content=whole), 422, "invalid_input", "name")
    refused(c.post("/v1/assets", files={"other": ("a.png", whole)}), 422, "invalid_input", "file")
    refused(
        c.post(
            "/v1/assets",
            content=b"--xx\r\nnot a part",
            headers={"content-type": "multipart/form-data; boundary=xx"},
        ),
        422,
        "invalid_input",
        "body",
    )
    # Two files in one form are more than one upload takes.
    two = c.post("/v1/assets", files=[("file", ("a.png", whole)), ("file", ("b.png", whole))])
    assert two.status_code == 422

    # Over the server's limit: refused from the declared length, before the body is read.
    big = MAX_ASSET_MB * 1024 * 1024 + 64 * 1024
    refused(_upload(c, "big.png", b"\0" * big), 413, "payload_too_large", "body")
    url = httpx.URL(str(c.base_url))
    with socket.create_connection((url.host, url.port), timeout=30) as raw:
        raw.sendall(
            b"POST /v1/assets?name=huge HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: {c.headers['authorization']}\r\n".encode()
            + b"Content-Length: 1073741824\r\n\r\n"
        )
        head = raw.recv(65536).decode("latin-1")
    assert head.startswith("HTTP/1.1 413"), head
    # A plan's max_file_bytes (100 bytes on `nofile`) is lower still.
    small = client_for(server, user_on_plan(env, "small@example.com", "nofile"))
    refused(_upload(small, "logo.png", whole), 413, "payload_too_large", "file")
    small.close()

    # A name in use is a conflict; replace=true puts new bytes under the same id.
    first = _upload(c, "logo", png(RED)).json()
    refused(_upload(c, "logo", png(TEAL)), 409, "conflict", "name")
    again = _upload(c, "logo", png(TEAL), replace="true")
    assert again.status_code == 201
    assert again.json()["id"] == first["id"] and again.json()["sha256"] != first["sha256"]
    assert c.get(f"/v1/assets/{first['id']}/content").content == png(TEAL)
    assert len(c.get("/v1/assets").json()["items"]) == 1
    # The same Idempotency-Key answers the asset it made.
    keyed = {"Idempotency-Key": "upload-1"}
    one = c.post("/v1/assets", params={"name": "k"}, content=png(RED), headers=keyed)
    two_ = c.post("/v1/assets", params={"name": "k2"}, content=png(RED), headers=keyed)
    assert (one.status_code, two_.status_code) == (201, 200)
    assert one.json() == two_.json()
    c.close()


def test_storage_counts_assets_and_a_full_plan_refuses(
    served: tuple[Process, dict[str, str]],
) -> None:
    server, env = served
    c = client_for(server, create_key(env, "storage@example.com"))
    assert c.get("/v1/usage").json()["storage_bytes"]["used"] == 0
    sizes = [_upload(c, f"s{i}", png(RED, 32 + i)).json()["size_bytes"] for i in range(2)]
    assert c.get("/v1/usage").json()["storage_bytes"]["used"] == sum(sizes)
    full = client_for(server, user_on_plan(env, "full@example.com", "nostore"))
    answer = _upload(full, "logo", png(RED))
    assert answer.status_code == 429 and answer.json()["code"] == "quota_exceeded"
    assert full.get("/v1/assets").json()["items"] == []
    full.close()
    c.close()


def test_another_users_asset_is_out_of_reach(served: tuple[Process, dict[str, str]]) -> None:
    server, env = served
    owner = client_for(server, create_key(env, "owner-a@example.com"))
    other = client_for(server, create_key(env, "other-a@example.com"))
    mine = _upload(owner, "secret", png(RED)).json()
    for path in (f"/v1/assets/{mine['id']}", f"/v1/assets/{mine['id']}/content"):
        assert other.get(path).status_code == 404
    assert other.delete(f"/v1/assets/{mine['id']}").status_code == 404
    assert other.get("/v1/assets").json()["items"] == []
    # In a document: refused like any address, in the same words as an asset that no one
    # has, and its pixels are not in the PDF.
    job = _job(other, _image_page("asset:secret") + _image_page(f"asset:{mine['id']}")
               + _image_page("asset:nobody-has-this"))  # fmt: skip
    messages = [w["message"] for w in job["warnings"]]  # type: ignore[attr-defined]
    assert all(w["code"] == "resource_refused" for w in job["warnings"])  # type: ignore[attr-defined]
    for reference in ("asset:secret", f"asset:{mine['id']}", "asset:nobody-has-this"):
        [said] = [m for m in messages if reference in m]
        assert said == messages[0].replace("asset:secret", reference)
    assert not has_color(_pdf(other, job), RED)
    assert owner.get(f"/v1/assets/{mine['id']}").status_code == 200
    owner.close()
    other.close()


def _pixels_and_fonts(c: httpx.Client) -> None:
    """An image asset by name and by id, in HTML and Markdown, and a font asset by
    `@font-face`: their pixels and face are in the PDF."""
    red = _upload(c, "red.png", png(RED)).json()
    job = _job(c, _image_page("asset:red.png"))
    assert job["warnings"] == []
    assert has_color(_pdf(c, job), RED)
    by_id = _job(c, _image_page(f"asset:{red['id']}").replace("400px", "390px"))
    assert has_color(_pdf(c, by_id), RED)
    _upload(c, "violet", png(VIOLET, 200))
    markdown = _job(c, "# Logo\n\n![logo](asset:violet)\n", "markdown")
    assert markdown["warnings"] == [] and has_color(_pdf(c, markdown), VIOLET)
    svg = (
        "<svg xmlns='http://www.w3.org/2000/svg' width='100' height='100'>"
        f"<rect width='100' height='100' fill='rgb{TEAL}'/></svg>"
    )
    _upload(c, "teal.svg", svg.encode())
    assert has_color(_pdf(c, _job(c, _image_page("asset:teal.svg"))), TEAL)

    _upload(c, "brand", font("PpAssetFace"))
    with_font = _job(c, _font_page("asset:brand"))
    assert with_font["warnings"] == []
    # Chromium names the embedded face by its own (PostScript) name, WeasyPrint by the
    # family `@font-face` gave it: either is only there when the asset was loaded.
    named = {"PpAssetFace", "Brand"}
    assert pdf_fonts(_pdf(c, with_font)) & named
    without = _job(c, _font_page("asset:no-such-font"))
    assert not pdf_fonts(_pdf(c, without)) & named
    assert "asset:no-such-font" in without["warnings"][0]["message"]  # type: ignore[index]


def test_an_assets_pixels_and_face_are_in_the_pdf_chromium(
    served: tuple[Process, dict[str, str]],
) -> None:
    server, env = served
    c = client_for(server, create_key(env, "pixels@example.com"))
    _pixels_and_fonts(c)
    c.close()


def test_an_assets_pixels_and_face_are_in_the_pdf_weasyprint(
    weasy: tuple[Process, dict[str, str]],
) -> None:
    server, env = weasy
    c = client_for(server, create_key(env, "pixels-w@example.com"))
    _pixels_and_fonts(c)
    c.close()


def test_new_bytes_make_a_new_render(served: tuple[Process, dict[str, str]]) -> None:
    """The render cache's key holds each asset's SHA-256: replacing an asset's bytes makes
    the same document render again, with the new pixels."""
    server, env = served
    c = client_for(server, create_key(env, "cache@example.com"))
    _upload(c, "mark", png(RED))
    document = _image_page("asset:mark")
    first = _pdf(c, _job(c, document))
    assert has_color(first, RED)
    assert _pdf(c, _job(c, document)) == first  # unchanged: the stored render again
    _upload(c, "mark", png(TEAL), replace="true")
    second = _pdf(c, _job(c, document))
    assert has_color(second, TEAL) and not has_color(second, RED)
    c.close()


def test_deleting_the_account_removes_assets_and_their_bytes(
    served: tuple[Process, dict[str, str]],
) -> None:
    server, env = served
    files = Path(env["PDFPROMPT_DATA_DIR"]) / "files"

    def stored() -> set[Path]:
        return {p for p in (files / "assets").rglob("*") if p.is_file()}

    before = stored()
    c = client_for(server, create_key(env, "leaving@example.com"))
    ids = [_upload(c, f"a{i}", png(RED, 20 + i)).json()["id"] for i in range(3)]
    _upload(c, "a0", png(TEAL), replace="true")  # the replaced bytes went at once
    theirs = stored() - before
    assert len(theirs) == 3
    assert has_color(_pdf(c, _job(c, _image_page("asset:a0"))), TEAL)
    cli(env, "users", "delete", "leaving@example.com", "--yes")
    # The key may still be trusted from the server's memory for a moment: never the asset.
    assert c.get(f"/v1/assets/{ids[0]}").status_code in (401, 404)
    assert not any(p.exists() for p in theirs)
    c.close()


def _hostile_svg_round(c: httpx.Client, listener: _Listener) -> None:
    """Every hostile SVG refused or stored inert, then drawn in one document: the
    listener the payloads point to hears nothing."""
    used = []
    for name, svg in hostile_svgs(listener.url).items():
        answer = _upload(c, f"{name}.svg", svg.encode())
        if answer.status_code == 422:
            assert name in ("xxe", "laughs") and answer.json()["field"] == "file"
            continue
        assert answer.status_code == 201, (name, answer.text)
        stored = c.get(f"/v1/assets/{answer.json()['id']}/content").content.decode()
        assert "127.0.0.1" not in stored and "script" not in stored.lower(), (name, stored)
        used.append(name)
    assert len(used) == len(hostile_svgs(listener.url)) - 2
    # Each drawn as an image, an object, a frame and a CSS background of one document.
    document = "".join(
        f"<img src='asset:{n}.svg'><object data='asset:{n}.svg'></object>"
        f"<iframe src='asset:{n}.svg'></iframe><div style=\"background:url('asset:{n}.svg')\">"
        "</div>"
        for n in used
    )
    _job(c, document)
    # The same payloads inline in a page, uncleaned: the sandbox alone keeps them in.
    _job(c, "".join(svg for svg in hostile_svgs(listener.url).values() if "<!" not in svg))
    httpx.get(listener.url + "probe", timeout=10)  # the listener does hear what reaches it
    assert listener.hits == ["/probe"]


def test_hostile_svg_is_inert_in_storage_and_in_a_render(
    served: tuple[Process, dict[str, str]], listener: _Listener
) -> None:
    server, env = served
    c = client_for(server, create_key(env, "hostile-svg@example.com"))
    _hostile_svg_round(c, listener)
    c.close()


def test_hostile_svg_is_inert_in_a_weasyprint_render(
    weasy: tuple[Process, dict[str, str]], listener: _Listener
) -> None:
    server, env = weasy
    c = client_for(server, create_key(env, "hostile-svg-w@example.com"))
    _hostile_svg_round(c, listener)
    c.close()


def test_a_replacement_counts_once_in_the_plans_storage(
    weasy: tuple[Process, dict[str, str]],
) -> None:
    """On a plan of 6,000 bytes, a 3,600-byte asset may be replaced by another (the old
    bytes make room), and a second asset beside it is refused."""
    server, env = weasy
    c = client_for(server, user_on_plan(env, "room@example.com", "room"))
    first = _upload(c, "photo", noise_png(40, 30))
    assert first.status_code == 201, first.text
    again = _upload(c, "photo", noise_png(40, 30), replace="true")
    assert again.status_code == 201, again.text
    used = c.get("/v1/usage").json()["storage_bytes"]
    assert used == {"used": again.json()["size_bytes"], "limit": ROOM_BYTES}
    beside = _upload(c, "other", noise_png(40, 30))
    assert beside.status_code == 429 and beside.json()["code"] == "quota_exceeded"
    assert [a["name"] for a in c.get("/v1/assets").json()["items"]] == ["photo"]
    c.close()
