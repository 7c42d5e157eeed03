"""Finishing options over HTTP, through `pdfprompt serve` on SQLite and PostgreSQL, each result
checked by tools that did not make it (qpdf, pdftotext, Ghostscript, pypdfium2's pixels,
pikepdf's view of the objects): watermarks under the content and stamps over it with the
plan's watermark on top, attachments, PDF/A-2b and -3b, PDF/UA, AES-256 encryption with the
passwords never shown; and every bad value refused with a 422 naming its field."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pikepdf
import pytest
from PIL import Image

from pdfprompt.pdf import WATERMARK_TEXT, figures, headings, pdfa_problems, pdfua_problems
from tests.support.accounts import client_for, plans_toml, user_on_plan
from tests.support.finishing import (
    colors_in,
    ghostscript_reads,
    near,
    opened,
    page_text,
    qpdf_check,
    requires_password,
    tool,
)
from tests.support.jobs import wait_final
from tests.support.processes import Process, serving

pytestmark = pytest.mark.one_database("postgresql")

PLANS = plans_toml(
    marked={"max_concurrent_jobs": 8, "watermark": True},
    plain={"max_concurrent_jobs": 8},
)
RED = (220, 20, 20)
BLACK = (0, 0, 0)
WHITE = (255, 255, 255)
# A page whose top half is black (drawn, with backgrounds printed) and bottom half white.
HALF_BLACK = (
    "<!doctype html><html lang='en'><head><title>Half black</title><style>"
    "@page { size: A4; margin: 0 } body { margin: 0 }"
    ".black { height: 148.5mm; background: #000 }</style></head>"
    "<body><div class='black'></div><p>bottom half</p>"
    "<p style='break-before: page'>second page</p></body></html>"
)
ACCESSIBLE = (
    "<!doctype html><html lang='de'><head><title>Jahresbericht</title></head><body>"
    "<h1>Bericht</h1><p>Einleitung.</p><img src='asset:logo' alt='Das Firmenlogo'>"
    "<h2>Zahlen</h2><p>Mehr.</p><h3>Details</h3><p><a href='https://example.com/'>Quelle</a></p>"
    "</body></html>"
)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Process, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp(f"finishing-{request.param}")
    plans = tmp / "plans.toml"
    plans.write_text(PLANS)
    with serving(request, tmp, request.param, PDFPROMPT_PLANS_FILE=str(plans)) as running:
        yield running


def _client(
    served: tuple[Process, dict[str, str]], email: str, plan: str = "plain"
) -> httpx.Client:
    server, env = served
    return client_for(server, user_on_plan(env, email, plan))


def _red_png(size: int = 40) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), RED).save(out, "PNG")
    return out.getvalue()


def _upload(c: httpx.Client, name: str, data: bytes) -> dict[str, Any]:
    made = c.post("/v1/assets", params={"name": name}, content=data)
    assert made.status_code == 201, made.text
    return dict(made.json())


def _finished(
    c: httpx.Client, jobs: dict[str, dict[str, Any]]
) -> dict[str, tuple[dict[str, Any], bytes]]:
    """Submit every job at once; each one's final state and PDF."""
    ids = {}
    for name, body in jobs.items():
        created = c.post("/v1/jobs", json=body)
        assert created.status_code == 202, (name, created.text)
        ids[name] = created.json()["id"]
    done = {}
    for name, job_id in ids.items():
        job, _ = wait_final(c, job_id, timeout_s=120)
        assert job["status"] == "succeeded", (name, job)
        pdf = c.get(f"/v1/jobs/{job_id}/pdf")
        assert pdf.status_code == 200
        done[name] = (job, pdf.content)
    return done


def _html(document: str, **options: Any) -> dict[str, Any]:
    return {"type": "html", "input": document, "options": options}


def test_watermarks_lie_under_the_content_stamps_over_it_and_the_plans_mark_on_top(
    served: tuple[Process, dict[str, str]], tmp_path: Path
) -> None:
    with _client(served, "marks@example.com", "marked") as c:
        _upload(c, "red", _red_png())
        image = {"image": "asset:red", "width": "60mm", "opacity": 1, "angle": 0}
        done = _finished(
            c,
            {
                # A red square at the top (under the black half) and at the bottom (on white).
                "under": _html(
                    HALF_BLACK,
                    print_background=True,
                    watermark={**image, "position": "top"},
                    stamp={
                        "text": "APPROVED",
                        "position": "bottom-left",
                        "pages": "1",
                        "opacity": 1,
                        "angle": 0,
                    },
                ),
                "over": _html(
                    HALF_BLACK, print_background=True, stamp={**image, "position": "top"}
                ),
                "white": _html(
                    HALF_BLACK, print_background=True, watermark={**image, "position": "bottom"}
                ),
                "faint": _html(
                    HALF_BLACK,
                    print_background=True,
                    watermark={
                        "text": "DRAFT",
                        "font_size": 150,
                        "color": "#ff0000",
                        "opacity": 0.2,
                        "angle": 0,
                        "position": "bottom",
                    },
                ),
            },
        )
    top, bottom = (0.2, 0.0, 0.8, 0.45), (0.2, 0.55, 0.8, 1.0)
    under, over, white, faint = (done[k][1] for k in ("under", "over", "white", "faint"))
    # Under the content: the black half hides the watermark; over it, the stamp shows.
    assert not near(colors_in(under, top), RED, 40)
    assert near(colors_in(over, top), RED)
    assert near(colors_in(white, bottom), RED)
    # Opacity 0.2 of red on white is a light pink, never red itself.
    faint_colors = colors_in(faint, bottom)
    assert near(faint_colors, (255, 204, 204), 14) and not near(faint_colors, (255, 0, 0), 60)
    # The stamp's text, on the pages asked only; the plan's watermark on every page, last.
    assert "APPROVED" in page_text(under, tmp_path, 1)
    assert "APPROVED" not in page_text(under, tmp_path, 2)
    drawn_last = WATERMARK_TEXT.encode("cp1252").hex()
    for job, pdf in done.values():
        qpdf_check(pdf, tmp_path)
        assert job["options"]["print_background"] is True
        with opened(pdf) as document:
            assert len(document.pages) == 2
            for n, page in enumerate(document.pages, 1):
                assert WATERMARK_TEXT in page_text(pdf, tmp_path, n)
                streams = page.obj.Contents
                last = streams[len(streams) - 1] if isinstance(streams, pikepdf.Array) else streams
                assert drawn_last in last.read_bytes().decode("latin-1").lower()


def test_attachments_and_pdfa_3b_and_2b(
    served: tuple[Process, dict[str, str]], tmp_path: Path
) -> None:
    data_json = b'{"rows": [{"region": "north", "total": 12}]}'
    data_csv = b"region,total\nnorth,12\nsouth,9\n"
    with _client(served, "archive@example.com") as c:
        assert _upload(c, "data.json", data_json)["kind"] == "data"
        assert _upload(c, "data.csv", data_csv)["content_type"] == "text/csv"
        document = "<html lang='en'><title>Archived</title><h1>Archived</h1><p><a href='https://example.com/'>x</a></p></html>"
        done = _finished(
            c,
            {
                "3b": _html(
                    document,
                    pdfa="3b",
                    watermark={"text": "ARCHIVE COPY"},
                    attachments=[
                        {"asset": "data.json", "description": "The report's data"},
                        {"asset": "asset:data.csv", "name": "totals.csv", "relationship": "Source"},
                    ],
                ),
                "2b": _html(document, pdfa="2b", stamp={"text": "Filed"}),
                "attached": _html(document, attachments=[{"asset": "data.json"}]),
            },
        )
    for level in ("3b", "2b"):
        pdf = done[level][1]
        qpdf_check(pdf, tmp_path)
        ghostscript_reads(pdf, tmp_path)
        with opened(pdf) as document:
            assert pdfa_problems(document, level) == []
            assert len(document.trailer.ID) == 2
            xmp = document.Root.Metadata.read_bytes().decode()
            assert f"<pdfaid:part>{level[0]}</pdfaid:part>" in xmp
            assert document.Root.OutputIntents[0].S == "/GTS_PDFA1"
    with opened(done["3b"][1]) as document:
        files = dict(document.attachments.items())
        assert sorted(files) == ["data.json", "totals.csv"]
        assert files["data.json"].get_file().read_bytes() == data_json
        assert files["totals.csv"].get_file().read_bytes() == data_csv
        assert files["totals.csv"].obj.AFRelationship == "/Source"
        assert files["data.json"].obj.Desc == "The report's data"
        assert len(document.Root.AF) == 2
    listed = tool(["qpdf", "--list-attachments", "{}"], tmp_path, done["attached"][1]).stdout
    assert "data.json" in listed
    # The same checks find what is wrong with a file that is not PDF/A.
    with opened(done["attached"][1]) as plain:
        assert pdfa_problems(plain, "2b") != []


def test_pdfua_has_a_shown_title_its_language_alt_texts_and_headings_in_order(
    served: tuple[Process, dict[str, str]], tmp_path: Path
) -> None:
    with _client(served, "access@example.com", "marked") as c:
        _upload(c, "logo", _red_png())
        done = _finished(
            c,
            {
                "ua": _html(ACCESSIBLE, pdfua=True),
                "ua-a": _html(ACCESSIBLE, pdfua=True, pdfa="2b", title="Bericht 2024"),
                "no-alt": _html(ACCESSIBLE.replace(" alt='Das Firmenlogo'", ""), pdfua=True),
            },
        )
    for name in ("ua", "ua-a"):
        job, pdf = done[name]
        assert job["options"]["tagged"] is True  # PDF/UA is made from a tagged render
        assert job["warnings"] == []
        qpdf_check(pdf, tmp_path)
        with opened(pdf) as document:
            assert pdfua_problems(document) == []
            assert document.Root.Lang == "de"
            assert document.Root.ViewerPreferences.DisplayDocTitle is True
            assert figures(document) == ["Das Firmenlogo"]
            assert headings(document) == [1, 2, 3]
            assert "<pdfuaid:part>1</pdfuaid:part>" in document.Root.Metadata.read_bytes().decode()
    with opened(done["ua"][1]) as document:
        assert str(document.docinfo.Title) == "Jahresbericht"
    with opened(done["ua-a"][1]) as document:
        assert str(document.docinfo.Title) == "Bericht 2024"
        assert pdfa_problems(document, "2b") == []
    job, pdf = done["no-alt"]
    assert [w["code"] for w in job["warnings"]] == ["pdfua_incomplete"]
    assert "alternative text" in job["warnings"][0]["message"]


def test_encryption_needs_the_password_and_the_passwords_are_never_shown(
    served: tuple[Process, dict[str, str]], tmp_path: Path
) -> None:
    user, owner = "open sesame ü", "the owner's secret"
    with _client(served, "secret@example.com") as c:
        done = _finished(
            c,
            {
                "locked": _html(
                    "<title>Locked</title><p>Confidential figures</p>",
                    encrypt={
                        "user_password": user,
                        "owner_password": owner,
                        "permissions": {"print": False, "copy": False},
                    },
                ),
                "restricted": _html(
                    "<p>Anyone may read</p>", encrypt={"permissions": {"modify": False}}
                ),
            },
        )
        job_id = done["locked"][0]["id"]
        shown = [c.get(f"/v1/jobs/{job_id}").text, c.get("/v1/jobs").text]
        # A template keeps its options' password for its jobs, and never shows it either.
        saved = c.post(
            "/v1/templates",
            json={
                "name": "locked-letter",
                "body": "<p>Dear {{ who }}</p>",
                "options": {"encrypt": {"user_password": user}},
            },
        )
        assert saved.status_code == 201, saved.text
        shown += [saved.text, c.get(f"/v1/templates/{saved.json()['id']}").text]
        from_template = c.post(
            "/v1/jobs",
            json={"type": "template", "template": "locked-letter", "data": {"who": "Ada"}},
        )
        assert from_template.status_code == 202, from_template.text
        filled, _ = wait_final(c, from_template.json()["id"], timeout_s=120)
        assert filled["status"] == "succeeded", filled
        shown.append(from_template.text)
        letter = c.get(f"/v1/jobs/{filled['id']}/pdf").content
    pdf = done["locked"][1]
    assert requires_password(pdf, tmp_path) == 0
    qpdf_check(pdf, tmp_path, password=user)
    with pytest.raises(pikepdf.PasswordError):
        opened(pdf)
    with pytest.raises(pikepdf.PasswordError):
        opened(pdf, password="wrong")
    with opened(pdf, password=user) as document:
        assert document.encryption.R == 6 and document.encryption.P < 0
        assert document.allow.print_highres is False and document.allow.extract is False
        assert document.allow.modify_other is True
        assert not document.owner_password_matched
    with opened(pdf, password=owner) as document:
        assert document.owner_password_matched
    shown_encryption = tool(
        ["qpdf", "--show-encryption", f"--password={user}", "{}"], tmp_path, pdf
    )
    assert "AESv3" in shown_encryption.stdout, shown_encryption.stdout
    assert "Confidential figures" in page_text(pdf, tmp_path, 1, password=user)
    assert requires_password(letter, tmp_path) == 0
    assert "Dear Ada" in page_text(letter, tmp_path, 1, password=user)
    # Encrypted with no user password: it opens without one, with its restrictions.
    restricted = done["restricted"][1]
    assert requires_password(restricted, tmp_path) == 3
    with opened(restricted) as document:
        assert document.is_encrypted and document.allow.modify_other is False
    # The passwords are kept for the worker but never shown.
    for text in shown:
        assert user not in text and owner not in text
        assert "********" in text
    assert done["locked"][0]["options"]["encrypt"]["user_password"] == "********"


def test_a_deleted_asset_fails_the_job_with_its_field_and_stores_nothing(
    served: tuple[Process, dict[str, str]],
) -> None:
    with _client(served, "deleted@example.com") as c:
        asset = _upload(c, "soon-gone", b'{"a": 1}')
        # Submitted while the asset exists; the worker finds it gone. A slow document gives
        # the deletion time to come first.
        slow = "| a | b |\n|---|---|\n" + "| cell | more |\n" * 3000
        made = c.post(
            "/v1/jobs",
            json={
                "type": "markdown",
                "input": slow,
                "options": {"attachments": [{"asset": "soon-gone"}]},
            },
        )
        assert made.status_code == 202, made.text
        assert c.delete(f"/v1/assets/{asset['id']}").status_code == 204
        job, _ = wait_final(c, made.json()["id"], timeout_s=120)
    assert job["status"] == "failed", job
    assert job["error"]["code"] == "invalid_input"
    assert "options.attachments.0.asset" in job["error"]["message"]
    assert job["file"] is None


BAD_OPTIONS: list[tuple[dict[str, Any], str]] = [
    ({"watermark": "DRAFT"}, "options.watermark"),
    ({"watermark": {}}, "options.watermark"),
    ({"watermark": {"text": "A", "image": "logo"}}, "options.watermark"),
    ({"watermark": {"text": ""}}, "options.watermark.text"),
    ({"watermark": {"text": "x" * 201}}, "options.watermark.text"),
    ({"watermark": {"text": "x" * 100_000}}, "options.watermark.text"),
    ({"watermark": {"text": "☃ snow"}}, "options.watermark.text"),
    ({"watermark": {"text": "bell\u0007"}}, "options.watermark.text"),
    ({"watermark": {"text": "A", "color": "red"}}, "options.watermark.color"),
    ({"watermark": {"text": "A", "color": "#12345"}}, "options.watermark.color"),
    ({"watermark": {"text": "A", "color": "#gggggg"}}, "options.watermark.color"),
    ({"watermark": {"text": "A", "opacity": 1.5}}, "options.watermark.opacity"),
    ({"watermark": {"text": "A", "opacity": "0.5"}}, "options.watermark.opacity"),
    ({"watermark": {"text": "A", "font_size": 0}}, "options.watermark.font_size"),
    ({"watermark": {"text": "A", "font_size": 1e308}}, "options.watermark.font_size"),
    ({"watermark": {"text": "A", "angle": 720}}, "options.watermark.angle"),
    ({"watermark": {"text": "A", "position": "middle"}}, "options.watermark.position"),
    ({"watermark": {"text": "A", "pages": "0-2"}}, "options.watermark.pages"),
    ({"watermark": {"text": "A", "pages": "3-1"}}, "options.watermark.pages"),
    ({"watermark": {"text": "A", "width": "40mm"}}, "options.watermark"),
    ({"stamp": {"image": "logo", "font_size": 12}}, "options.stamp"),
    ({"stamp": {"image": "logo", "width": "wide"}}, "options.stamp.width"),
    ({"stamp": {"image": "../etc/passwd"}}, "options.stamp.image"),
    ({"stamp": {"image": "nobody-has-this"}}, "options.stamp.image"),
    ({"stamp": {"image": "data.json"}}, "options.stamp.image"),
    ({"stamp": {"text": "A", "shadow": True}}, "options.stamp.shadow"),
    ({"attachments": {"asset": "data.json"}}, "options.attachments"),
    ({"attachments": [{"asset": "data.json"}] * 21}, "options.attachments"),
    ({"attachments": [{"asset": "missing.csv"}]}, "options.attachments.0.asset"),
    ({"attachments": [{"asset": "data.json", "name": "a/b.json"}]}, "options.attachments.0.name"),
    (
        {"attachments": [{"asset": "data.json", "relationship": "Friend"}]},
        "options.attachments.0.relationship",
    ),
    (
        {"attachments": [{"asset": "data.json"}, {"asset": "logo", "name": "data.json"}]},
        "options.attachments.1.name",
    ),
    # The same asset by name and by id: one file name twice.
    ({"attachments": [{"asset": "data.json"}, {"asset": "DATA_ID"}]}, "options.attachments.1.name"),
    ({"pdfa": "1b"}, "options.pdfa"),
    ({"pdfa": True}, "options.pdfa"),
    ({"pdfa": "2b", "attachments": [{"asset": "data.json"}]}, "options.pdfa"),
    ({"pdfa": "3b", "encrypt": {"user_password": "x"}}, "options.encrypt"),
    ({"pdfua": "yes"}, "options.pdfua"),
    ({"pdfua": True, "tagged": False}, "options.tagged"),
    ({"encrypt": {"user_password": ""}}, "options.encrypt.user_password"),
    ({"encrypt": {"user_password": "p" * 128}}, "options.encrypt.user_password"),
    ({"encrypt": {"user_password": "ü" * 64}}, "options.encrypt.user_password"),
    ({"encrypt": {"owner_password": "nul\u0000"}}, "options.encrypt.owner_password"),
    ({"encrypt": {"user_password": 1234}}, "options.encrypt.user_password"),
    ({"encrypt": {"owner_password": "********"}}, "options.encrypt.owner_password"),
    ({"encrypt": {"user_password": "same", "owner_password": "same"}}, "options.encrypt"),
    ({"encrypt": {"permissions": {"print": "no"}}}, "options.encrypt.permissions.print"),
    ({"encrypt": {"permissions": {"fly": True}}}, "options.encrypt.permissions.fly"),
    ({"encrypt": {"user_password": "x", "key_length": 40}}, "options.encrypt.key_length"),
]


def test_bad_finishing_options_are_refused_naming_the_field(
    served: tuple[Process, dict[str, str]],
) -> None:
    with _client(served, "hostile@example.com") as c:
        _upload(c, "logo", _red_png())
        data_id = _upload(c, "data.json", b"{}")["id"]
        for options, field in BAD_OPTIONS:
            options = json.loads(json.dumps(options).replace("DATA_ID", data_id))
            answer = c.post(
                "/v1/jobs", json={"type": "html", "input": "<p>x</p>", "options": options}
            )
            assert answer.status_code == 422, (options, answer.text)
            problem = answer.json()
            assert (problem["code"], problem["field"]) == ("invalid_input", field), (
                options,
                problem,
            )
            assert "p" * 100 not in problem["detail"] and "ü" * 20 not in problem["detail"]
        # None of them was queued.
        assert c.get("/v1/jobs").json()["items"] == []
        # Another user's asset is as unknown as one nobody has.
        with _client(served, "other@example.com") as other:
            refused = other.post(
                "/v1/jobs",
                json={
                    "type": "html",
                    "input": "<p>x</p>",
                    "options": {"attachments": [{"asset": "data.json"}]},
                },
            )
        assert (
            refused.status_code == 422 and refused.json()["field"] == "options.attachments.0.asset"
        )
