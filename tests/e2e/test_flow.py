"""A user's whole path on the embedded default and on PostgreSQL: key, submit, poll, download."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

from tests.support.jobs import SLOW_MARKDOWN, wait_final
from tests.support.processes import Process, create_key
from tests.support.render import pdf_text
from tests.support.waiting import wait_until


@pytest.mark.parametrize(
    ("job_type", "document", "generator"),
    [
        ("markdown", "# Hello\n\nWorld\n\n| a | b |\n|---|---|\n| 1 | 2 |", "markdown"),
        ("html", "<h1>Hello</h1><p>World</p>", "html"),
        ("prompt", "Hello\n\nWorld: write me a short note", "markdown-fallback"),
    ],
)
def test_submit_poll_download(
    service: tuple[Process, dict[str, str]], job_type: str, document: str, generator: str
) -> None:
    server, env = service
    key = create_key(env, f"me-{job_type}@example.com")
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}) as c:
        created = c.post("/v1/jobs", json={"type": job_type, "input": document})
        assert created.status_code == 202, created.text
        assert created.json()["status"] == "queued"
        assert created.headers["location"] == f"/v1/jobs/{created.json()['id']}"

        job, seen = wait_final(c, created.json()["id"])
        assert job["status"] == "succeeded", job
        order = ["queued", "running", "succeeded"]
        assert [s for s in order if s in seen] == seen  # never goes backwards
        assert job["generator"] == generator
        assert job["attempts"] == 1 and job["error"] is None
        assert job["file"]["pages"] == 1 and job["file"]["size_bytes"] > 1000

        pdf = c.get(f"/v1/jobs/{job['id']}/pdf")
        assert pdf.status_code == 200
        assert pdf.headers["content-type"] == "application/pdf"
        assert int(pdf.headers["content-length"]) == job["file"]["size_bytes"]
        assert "attachment" in pdf.headers["content-disposition"]
        assert pdf.content.startswith(b"%PDF-")
        text = pdf_text(pdf.content)
        assert "Hello" in text and "World" in text

        same = c.get(job["file"]["url"].replace(server.base_url, ""))
        assert same.content == pdf.content
        file_meta = c.get(f"/v1/files/{job['file']['id']}").json()
        assert file_meta["pages"] == 1
        assert c.get(f"/v1/files/{job['file']['id']}/content").content == pdf.content

        listed = c.get("/v1/jobs").json()
        assert [j["id"] for j in listed["items"]] == [job["id"]]
        assert listed["next_cursor"] is None


def test_options_reach_the_pdf(service: tuple[Process, dict[str, str]]) -> None:
    server, env = service
    key = create_key(env, "opts@example.com")
    options = {
        "format": "Letter",
        "landscape": True,
        "margin": {"top": "10mm"},
        "title": "Quarterly report",
        "author": "Ada",
        "footer_html": "<span>page {{page}} of {{pages}}</span>",
        "filename": "report.pdf",
        "outline": True,
    }
    long_doc = "\n\n".join(f"## Section {i}\n\n" + "text " * 200 for i in range(12))
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}) as c:
        created = c.post(
            "/v1/jobs", json={"type": "markdown", "input": long_doc, "options": options}
        )
        assert created.status_code == 202, created.text
        job, _ = wait_final(c, created.json()["id"])
        assert job["status"] == "succeeded", job
        assert job["warnings"] == []  # it asked for nothing from outside
        pdf = c.get(f"/v1/jobs/{job['id']}/pdf")
    assert 'filename="report.pdf"' in pdf.headers["content-disposition"]
    reader = PdfReader(io.BytesIO(pdf.content))
    assert len(reader.pages) == job["file"]["pages"] > 1
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (792, 612)  # Letter, landscape
    assert reader.metadata is not None
    assert reader.metadata.title == "Quarterly report"
    assert reader.metadata.author == "Ada"
    total = len(reader.pages)
    assert f"page 2 of {total}" in reader.pages[1].extract_text()
    # A bookmark for each Markdown heading, in a tagged PDF.
    assert [str(e.title) for e in reader.outline] == [f"Section {i}" for i in range(12)]
    assert "/StructTreeRoot" in reader.trailer["/Root"]


def test_idempotency_key_returns_the_first_job(service: tuple[Process, dict[str, str]]) -> None:
    server, env = service
    key = create_key(env, "idem@example.com")
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}) as c:
        body = {"type": "markdown", "input": "# once"}
        first = c.post("/v1/jobs", json=body, headers={"Idempotency-Key": "order-42"})
        again = c.post("/v1/jobs", json=body, headers={"Idempotency-Key": "order-42"})
        assert (first.status_code, again.status_code) == (202, 200)
        assert first.json()["id"] == again.json()["id"]
        assert len(c.get("/v1/jobs").json()["items"]) == 1


def _jobs_canceled(server: Process) -> float:
    """Running jobs whose worker stopped them because they were cancelled (/metrics)."""
    for line in httpx.get(f"{server.base_url}/metrics").text.splitlines():
        if line.startswith("pdfprompt_jobs_canceled_total "):
            return float(line.split()[1])
    raise AssertionError("no pdfprompt_jobs_canceled_total in /metrics")


def test_cancel_and_delete(service: tuple[Process, dict[str, str]]) -> None:
    server, env = service
    key = create_key(env, "cancel@example.com")
    stored = Path(env["PDFPROMPT_DATA_DIR"]) / "files"

    def objects_of(job_id: str) -> list[Path]:
        """The stored objects of a job: each attempt's keys begin with the job's id, in its
        user's folder (other tests' jobs in the module's service may still be finishing)."""
        return sorted(p for p in stored.rglob(f"{job_id}-*") if p.is_file())

    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}) as c:
        # A running job: cancelled, its worker stops it, and it leaves nothing behind.
        stopped = _jobs_canceled(server)
        live = c.post("/v1/jobs", json={"type": "markdown", "input": SLOW_MARKDOWN}).json()
        wait_until(
            lambda: c.get(f"/v1/jobs/{live['id']}").json()["status"] == "running",
            30,
            "the job running",
        )
        canceled = c.post(f"/v1/jobs/{live['id']}/cancel")
        assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
        # "Within about a second", with a bound of three.
        wait_until(lambda: _jobs_canceled(server) == stopped + 1, 3, "its worker stopped it")
        ended = c.get(f"/v1/jobs/{live['id']}").json()
        assert ended["status"] == "canceled" and ended["file"] is None
        assert objects_of(live["id"]) == []
        usage = c.get("/v1/usage").json()
        assert (usage["pdfs"]["used"], usage["pdfs"]["reserved"]) == (0, 0)
        assert usage["storage_bytes"]["used"] == 0
        again = c.post(f"/v1/jobs/{live['id']}/cancel")
        assert again.status_code == 409 and again.json()["code"] == "conflict"

        # A job that succeeded: too late to cancel; deleting it removes its file.
        job = c.post("/v1/jobs", json={"type": "markdown", "input": "# x"}).json()
        done, _ = wait_final(c, job["id"])
        assert done["status"] == "succeeded", done
        late = c.post(f"/v1/jobs/{job['id']}/cancel")
        assert late.status_code == 409 and late.json()["code"] == "conflict"
        # The PDF alone: its thumbnail is drawn when the history first shows it.
        [pdf] = objects_of(job["id"])
        assert pdf.suffix == ".pdf"
        used = c.get("/v1/usage").json()["storage_bytes"]["used"]
        assert used == done["file"]["size_bytes"]
        assert c.delete(f"/v1/jobs/{job['id']}").status_code == 204
        assert c.get(f"/v1/jobs/{job['id']}").status_code == 404
        assert c.get(f"/v1/files/{done['file']['id']}").status_code == 404
        assert c.get("/v1/usage").json()["storage_bytes"]["used"] == 0
        # Nothing of this user's is left: neither job's, nor any other object of theirs.
        folder = pdf.parent
        assert objects_of(job["id"]) == []
        assert not folder.exists() or not any(folder.iterdir())


def test_render_command_makes_a_pdf_without_a_server(tmp_path: Any) -> None:
    from tests.support.processes import cli, service_env

    notes = tmp_path / "notes.md"
    notes.write_text("# Notes\n\n- one\n- two\n\n```\ncode block\n```\n", "utf-8")
    env = service_env(tmp_path / "data", f"sqlite:///{tmp_path / 'unused.sqlite3'}")
    out = cli(env, "render", str(notes), "-o", str(tmp_path / "notes.pdf")).stdout
    assert "notes.pdf" in out
    text = pdf_text((tmp_path / "notes.pdf").read_bytes())
    assert "Notes" in text and "two" in text and "code block" in text
    assert not (tmp_path / "unused.sqlite3").exists()  # no database needed


def _cache_counts(c: httpx.Client) -> dict[str, float]:
    counts = {}
    for line in c.get("/metrics").text.splitlines():
        if line.startswith("pdfprompt_render_cache_total{"):
            result = line.split('result="')[1].split('"')[0]
            counts[result] = float(line.rsplit(" ", 1)[1])
    return counts


def test_an_identical_render_reuses_the_stored_pdf(
    service: tuple[Process, dict[str, str]],
) -> None:
    server, env = service
    headers = {"Authorization": f"Bearer {create_key(env, 'cache@example.com')}"}
    other = {"Authorization": f"Bearer {create_key(env, 'cache-other@example.com')}"}
    # Its logo is outside the document: not loaded, and the job says so, cached or not.
    logo = "http://127.0.0.1:9/logo.png"
    document = f"<h1>Cached</h1><p>{time.time_ns()}</p><img src='{logo}'>"
    with httpx.Client(base_url=server.base_url, headers=headers) as c:
        before = _cache_counts(c)
        first = c.post("/v1/jobs", json={"type": "html", "input": document}).json()
        first, _ = wait_final(c, first["id"])
        second = c.post(
            "/v1/jobs", json={"type": "html", "input": document, "options": {"filename": "b.pdf"}}
        ).json()
        second, _ = wait_final(c, second["id"])
        after = _cache_counts(c)
        assert (first["status"], second["status"]) == ("succeeded", "succeeded")
        assert after["hit"] - before.get("hit", 0) == 1
        assert after["miss"] - before.get("miss", 0) == 1
        a = c.get(f"/v1/jobs/{first['id']}/pdf").content
        b = c.get(f"/v1/jobs/{second['id']}/pdf")
        assert b.content == a  # the stored bytes, not a new render
        assert [w["code"] for w in first["warnings"]] == ["resource_refused"]
        assert logo in first["warnings"][0]["message"]
        assert second["warnings"] == first["warnings"]
        assert c.get(f"/v1/jobs/{second['id']}").json()["warnings"] == first["warnings"]
        assert "b.pdf" in b.headers["content-disposition"]
        assert second["file"]["id"] != first["file"]["id"]

        # Other options, or another user, render again.
        landscape = c.post(
            "/v1/jobs",
            json={"type": "html", "input": document, "options": {"landscape": True}},
        ).json()
        assert wait_final(c, landscape["id"])[0]["status"] == "succeeded"
        with httpx.Client(base_url=server.base_url, headers=other) as o:
            theirs = o.post("/v1/jobs", json={"type": "html", "input": document}).json()
            assert wait_final(o, theirs["id"])[0]["status"] == "succeeded"
        assert _cache_counts(c)["hit"] == after["hit"]

        # Deleting the first job leaves the second one's copy.
        assert c.delete(f"/v1/jobs/{first['id']}").status_code == 204
        assert c.get(f"/v1/jobs/{second['id']}/pdf").content == a
