"""Signed PDFs through `pdfprompt serve` on SQLite and PostgreSQL, as a user gets them: the
operator's certificate with a timestamp from the time-stamping authority (certomancer's,
over real HTTP on loopback), a certificate the user uploaded, each verified with pyHanko's
validator and poppler's pdfsig; uploads people get wrong or send to harm; what a server
without a certificate or authority refuses; and a server that will not start on a bad
certificate."""

from __future__ import annotations

import asyncio
import io
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pikepdf
import pytest
from pyhanko.sign.validation.status import SignatureCoverageLevel
from sqlalchemy import func, select

from pdfprompt.db import certificates, create_engine
from pdfprompt.settings import Settings
from tests.support.accounts import client_for
from tests.support.jobs import wait_final
from tests.support.pdfs import text_pdf
from tests.support.pki import TestPki, running_pki
from tests.support.processes import PDFPROMPT, Process, cli, create_key, service_env, serving
from tests.support.signatures import dark_pixels, page_image, pdfsig, validated

pytestmark = pytest.mark.one_database("sqlite")

DOCUMENT = "# Contract\n\nSigned below.\n"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestPki]:
    with running_pki(tmp_path_factory.mktemp("pki")) as made:
        yield made


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, pki: TestPki
) -> Iterator[tuple[Process, dict[str, str]]]:
    """`pdfprompt serve` signing with Alice's certificate, timestamps from the test TSA."""
    tmp = tmp_path_factory.mktemp(f"sign-{request.param}")
    with serving(
        request,
        tmp,
        request.param,
        PDFPROMPT_SIGNING_CERT=str(pki.pkcs12_file("alice")),
        PDFPROMPT_SIGNING_CERT_PASSWORD="secret",
        PDFPROMPT_TSA_URL=pki.tsa_url,
        PDFPROMPT_MAX_CERTIFICATE_BYTES="16384",
    ) as running:
        yield running


def _client(served: tuple[Process, dict[str, str]], email: str) -> httpx.Client:
    server, env = served
    return client_for(server, create_key(env, email))


def _upload(c: httpx.Client, data: bytes, password: str | None = "secret") -> httpx.Response:
    form = {"password": password} if password is not None else {}
    return c.post("/v1/certificates", files={"file": ("key.p12", data)}, data=form)


def _signed(c: httpx.Client, sign: dict[str, Any]) -> bytes:
    created = c.post(
        "/v1/jobs", json={"type": "markdown", "input": DOCUMENT, "options": {"sign": sign}}
    )
    assert created.status_code == 202, created.text
    job, _ = wait_final(c, created.json()["id"], timeout_s=120)
    assert job["status"] == "succeeded", job
    assert job["options"]["sign"] == sign
    return c.get(f"/v1/jobs/{job['id']}/pdf").content


def _refused(response: httpx.Response, status: int, field: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == field, response.json()
    detail: str = response.json()["detail"]
    return detail


def test_jobs_are_signed_with_the_operators_and_the_users_certificates(
    served: tuple[Process, dict[str, str]], pki: TestPki, tmp_path: Path
) -> None:
    with _client(served, "signer@example.com") as c:
        box = {"page": 1, "x": 300, "y": 40, "width": 250, "height": 70}
        operator = _signed(c, {"box": box, "reason": "Approved", "timestamp": True})
        uploaded = _upload(c, pki.pkcs12("bob"))
        assert uploaded.status_code == 201, uploaded.text
        mine = uploaded.json()
        assert mine["id"].startswith("crt_") and mine["subject"].startswith("CN=Bob User")
        assert mine["not_after"].startswith("2100-01-01")
        assert uploaded.headers["location"] == f"/v1/certificates/{mine['id']}"
        users = _signed(c, {"certificate": mine["id"], "location": "Ghent"})

    for pdf, signer, stamped in ((operator, "Alice Operator", True), (users, "Bob User", False)):
        status = validated(pdf, pki)
        assert status.bottom_line and status.trusted, status.pretty_print_details()
        # Nothing changed the file after it was signed: the signature covers every byte.
        assert status.coverage is SignatureCoverageLevel.ENTIRE_FILE
        assert (status.timestamp_validity is not None) is stamped
        checked = pdfsig(pdf, pki, tmp_path)
        assert checked.valid and checked.trusted and checked.whole_file, checked.output
        assert f"Common Name: {signer}" in checked.output
    # The visible signature is on the page, in its box; the invisible one draws nothing.
    assert dark_pixels(page_image(operator, tmp_path), (300, 40, 250, 70)) > 200
    assert dark_pixels(page_image(users, tmp_path), (300, 40, 250, 70)) == 0


def test_an_encrypted_job_is_signed_last_and_stays_encrypted(
    served: tuple[Process, dict[str, str]], pki: TestPki, tmp_path: Path
) -> None:
    """Encryption, then the signature: the signer opens the file with the owner's password
    (made for the job when none is given) although its user may not change it."""
    options = {
        "encrypt": {"user_password": "reader-pass", "permissions": {"modify": False}},
        "sign": {"box": {"page": 1}, "reason": "Sealed", "timestamp": True},
    }
    with _client(served, "sealed@example.com") as c:
        created = c.post(
            "/v1/jobs", json={"type": "markdown", "input": DOCUMENT, "options": options}
        )
        assert created.status_code == 202, created.text
        job, _ = wait_final(c, created.json()["id"], timeout_s=120)
        assert job["status"] == "succeeded", job
        pdf = c.get(f"/v1/jobs/{job['id']}/pdf").content
    with pytest.raises(pikepdf.PasswordError):
        pikepdf.open(io.BytesIO(pdf))
    status = validated(pdf, pki, password="reader-pass")
    assert status.bottom_line and status.coverage is SignatureCoverageLevel.ENTIRE_FILE
    assert status.timestamp_validity is not None and status.timestamp_validity.trusted
    checked = pdfsig(pdf, pki, tmp_path, password="reader-pass")
    assert checked.valid and checked.trusted and checked.whole_file, checked.output


def test_certificates_are_listed_without_their_keys_and_kept_from_others(
    served: tuple[Process, dict[str, str]], pki: TestPki
) -> None:
    with (
        _client(served, "owner@example.com") as owner,
        _client(served, "other@example.com") as other,
    ):
        made = _upload(owner, pki.pkcs12("bob", "pass phrase"), "pass phrase").json()
        # The same certificate again is a conflict, not a second copy.
        assert _upload(owner, pki.pkcs12("bob", "pass phrase"), "pass phrase").status_code == 409
        listed = owner.get("/v1/certificates").json()
        assert [c["id"] for c in listed["items"]] == [made["id"]]
        assert set(listed["items"][0]) == {
            "id",
            "subject",
            "issuer",
            "serial_number",
            "not_before",
            "not_after",
            "fingerprint_sha256",
            "created_at",
        }
        assert owner.get(f"/v1/certificates/{made['id']}").json() == made
        assert other.get("/v1/certificates").json()["items"] == []
        assert other.get(f"/v1/certificates/{made['id']}").status_code == 404
        assert other.delete(f"/v1/certificates/{made['id']}").status_code == 404
        theirs = other.post(
            "/v1/jobs",
            json={
                "type": "html",
                "input": "<p>x</p>",
                "options": {"sign": {"certificate": made["id"]}},
            },
        )
        assert "no certificate" in _refused(theirs, 422, "options.sign.certificate")
        assert owner.delete(f"/v1/certificates/{made['id']}").status_code == 204
        assert owner.get(f"/v1/certificates/{made['id']}").status_code == 404
        gone = owner.post(
            "/v1/jobs",
            json={
                "type": "html",
                "input": "<p>x</p>",
                "options": {"sign": {"certificate": made["id"]}},
            },
        )
        _refused(gone, 422, "options.sign.certificate")


def test_a_deleted_account_leaves_no_certificate_behind(
    served: tuple[Process, dict[str, str]], pki: TestPki
) -> None:
    env = served[1]
    with _client(served, "leaving@example.com") as c:
        made = _upload(c, pki.pkcs12("bob")).json()
    assert _certificate_rows(env, made["id"]) == 1
    cli(env, "users", "delete", "leaving@example.com", "--yes")
    assert _certificate_rows(env, made["id"]) == 0


def _certificate_rows(env: dict[str, str], certificate_id: str) -> int:
    async def count() -> int:
        engine = create_engine(Settings(database_url=env["DATABASE_URL"]))
        try:
            async with engine.connect() as conn:
                query = select(func.count()).where(certificates.c.id == certificate_id)
                return int((await conn.execute(query)).scalar_one())
        finally:
            await engine.dispose()

    return asyncio.run(count())


def test_bad_and_hostile_uploads_are_refused_naming_the_field(
    served: tuple[Process, dict[str, str]], pki: TestPki
) -> None:
    with _client(served, "hostile@example.com") as c:
        assert _refused(_upload(c, pki.pkcs12("bob"), "wrong"), 422, "password") == (
            "password: wrong password"
        )
        _refused(_upload(c, pki.pkcs12("bob"), None), 422, "password")
        assert "not a PKCS#12" in _refused(_upload(c, b"%PDF-1.7 hello"), 422, "file")
        assert "not a PKCS#12" in _refused(_upload(c, pki.certificate_der("bob")), 422, "file")
        assert "expired" in _refused(_upload(c, pki.pkcs12("old")), 422, "file")
        assert "not valid before" in _refused(_upload(c, pki.pkcs12("later")), 422, "file")
        assert "no private key" in _refused(
            _upload(c, pki.certificate_only_pkcs12("bob")), 422, "file"
        )
        assert "key usage" in _refused(_upload(c, pki.pkcs12("plain")), 422, "file")
        stretched = _upload(c, pki.stretched_pkcs12("bob", 700_000))
        assert "password stretching" in _refused(stretched, 422, "file")
        _refused(_upload(c, b""), 422, "file")
        # Over the limit: refused from its length, before anything is parsed.
        _refused(_upload(c, b"\x30" * 40_000), 413, "body")
        _refused(
            c.post(
                "/v1/certificates",
                content=pki.pkcs12("bob"),
                headers={"content-type": "application/x-pkcs12"},
            ),
            422,
            "body",
        )
        _refused(
            c.post("/v1/certificates", files={"other": ("k.p12", pki.pkcs12("bob"))}),
            422,
            "file",
        )
        # Nothing was kept.
        assert c.get("/v1/certificates").json()["items"] == []
        # Bad sign options are refused before a job is queued.
        for sign, field in (
            ({"certificate": "crt_nope"}, "options.sign.certificate"),
            ({"box": {"page": 0}}, "options.sign.box"),
            ({"box": {"width": -1}}, "options.sign.box.width"),
            ({"reason": "two\nlines"}, "options.sign.reason"),
            ({"timestamp": "yes"}, "options.sign.timestamp"),
            ({"level": "B-LTA"}, "options.sign.level"),
        ):
            body = {"type": "html", "input": "<p>x</p>", "options": {"sign": sign}}
            _refused(c.post("/v1/jobs", json=body), 422, field)
        # In a batch too, before anything is queued.
        unknown = {"certificate": "crt_" + "0" * 8 + "-0000-7000-8000-" + "0" * 12}
        row = {"type": "html", "input": "<p>x</p>", "options": {"sign": unknown}}
        _refused(c.post("/v1/batches", json={"jobs": [row, row]}), 422, "options.sign.certificate")
        assert c.get("/v1/batches").json()["items"] == []
        # A box off the page fails the job for good, naming the option.
        created = c.post(
            "/v1/jobs",
            json={
                "type": "html",
                "input": "<p>x</p>",
                "options": {"sign": {"box": {"page": 5}}},
            },
        )
        job, _ = wait_final(c, created.json()["id"], timeout_s=120)
        assert job["status"] == "failed" and job["attempts"] == 1, job
        assert job["error"]["code"] == "invalid_input" and "page 5" in job["error"]["message"]


def test_a_server_without_a_certificate_or_authority_refuses_what_needs_them(
    request: pytest.FixtureRequest, tmp_path: Path, pki: TestPki
) -> None:
    with serving(request, tmp_path, "sqlite") as (server, env):
        with client_for(server, create_key(env, "plain@example.com")) as c:
            body: dict[str, Any] = {"type": "html", "input": "<p>x</p>"}
            no_cert = c.post("/v1/jobs", json={**body, "options": {"sign": {}}})
            assert "no certificate of its own" in _refused(no_cert, 422, "options.sign")
            mine = _upload(c, pki.pkcs12("bob")).json()
            stamped = {"certificate": mine["id"], "timestamp": True}
            no_tsa = c.post("/v1/jobs", json={**body, "options": {"sign": stamped}})
            _refused(no_tsa, 422, "options.sign.timestamp")
            # A user's own certificate needs neither.
            created = c.post(
                "/v1/jobs", json={**body, "options": {"sign": {"certificate": mine["id"]}}}
            )
            job, _ = wait_final(c, created.json()["id"], timeout_s=120)
            assert job["status"] == "succeeded", job
            pdf = c.get(f"/v1/jobs/{job['id']}/pdf").content
            assert pdfsig(pdf, pki, tmp_path).valid
        # The key was sealed under the secret kept in the data directory.
        secret = Path(env["PDFPROMPT_DATA_DIR"]) / "secret.key"
        assert secret.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("label", "password", "said"),
    [
        ("bob", "not-the-password-42", "PDFPROMPT_SIGNING_CERT_PASSWORD: wrong password"),
        ("old", "secret", "PDFPROMPT_SIGNING_CERT: the signing certificate expired"),
        ("missing", "secret", "PDFPROMPT_SIGNING_CERT: cannot read"),
        ("text", "secret", "PDFPROMPT_SIGNING_CERT: not a PKCS#12 file"),
    ],
)
def test_the_service_does_not_start_with_a_bad_operator_certificate(
    tmp_path: Path, pki: TestPki, label: str, password: str, said: str
) -> None:
    if label == "missing":
        path = tmp_path / "missing.p12"
    elif label == "text":
        path = tmp_path / "text.p12"
        path.write_text("hello")
    else:
        path = pki.pkcs12_file(label)
    env = service_env(
        tmp_path / "data",
        f"sqlite:///{tmp_path / 'db.sqlite3'}",
        PDFPROMPT_SIGNING_CERT=str(path),
        PDFPROMPT_SIGNING_CERT_PASSWORD=password,
    )
    done = subprocess.run(
        [PDFPROMPT, "serve", "--port", "0"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    assert said in done.stdout + done.stderr
    assert password not in done.stdout + done.stderr  # no password echoed


def test_a_pdf_the_user_brings_is_stamped_given_an_attachment_encrypted_and_signed(
    served: tuple[Process, dict[str, str]], pki: TestPki, tmp_path: Path
) -> None:
    """The finishing steps on a `pdf` job, all in one: an uploaded PDF gets a stamp, the data
    it came from as an attachment, AES-256 and, last, the operator's signature, which
    covers the whole file and verifies with both validators."""
    options = {
        "stamp": {"text": "APPROVED", "color": "#006600", "opacity": 1, "angle": 0},
        "attachments": [{"asset": "figures.json", "description": "The figures"}],
        "encrypt": {"user_password": "reader-pass", "permissions": {"copy": False}},
        "sign": {"reason": "Approved"},
    }
    with _client(served, "brings@example.com") as c:
        for name, data in (
            ("brought.pdf", text_pdf(2, "Brought")),
            ("figures.json", b'{"total": 42}'),
        ):
            up = c.post("/v1/assets", params={"name": name}, content=data)
            assert up.status_code == 201, up.text
        created = c.post(
            "/v1/jobs", json={"type": "pdf", "input": "brought.pdf", "options": options}
        )
        assert created.status_code == 202, created.text
        job, _ = wait_final(c, created.json()["id"], timeout_s=120)
        assert job["status"] == "succeeded", job
        assert job["options"]["encrypt"]["user_password"] == "********"
        pdf = c.get(f"/v1/jobs/{job['id']}/pdf").content
    with pytest.raises(pikepdf.PasswordError):
        pikepdf.open(io.BytesIO(pdf))
    with pikepdf.open(io.BytesIO(pdf), password="reader-pass") as opened:
        assert len(opened.pages) == 2
        assert opened.attachments["figures.json"].get_file().read_bytes() == b'{"total": 42}'
        assert not opened.allow.extract
    path = tmp_path / "brought.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-upw", "reader-pass", str(path), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Brought page 1" in text and text.count("APPROVED") == 2
    status = validated(pdf, pki, password="reader-pass")
    assert status.bottom_line and status.coverage is SignatureCoverageLevel.ENTIRE_FILE
    checked = pdfsig(pdf, pki, tmp_path, password="reader-pass")
    assert checked.valid and checked.trusted and checked.whole_file, checked.output
