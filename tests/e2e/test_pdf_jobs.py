"""The PDF job types through `pdfprompt serve` on SQLite and PostgreSQL: PDFs uploaded as
assets (checked in a child process: malformed, encrypted, bombs and huge page trees refused
with a 422 on `file`), merged with a job's own PDF (an outline entry per input, page labels
kept, every page's text there), split into a ZIP archive, read and written again; inputs
that are not the caller's PDFs refused at submission naming the field; and hostile bytes
that reach a job failing it at once with a code, the worker going on."""

from __future__ import annotations

import io
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pikepdf
import pytest

from tests.support.accounts import Start, client_for, plans_toml, user_on_plan
from tests.support.jobs import read_sse, wait_final
from tests.support.pdfs import (
    MB,
    bomb_pdf,
    encrypted_pdf,
    looping_pdf,
    malformed_pdf,
    many_pages_pdf,
    text_pdf,
)
from tests.support.processes import Process, cli, create_key, serving
from tests.support.receiver import Receiver

pytestmark = pytest.mark.one_database("sqlite")

MAX_INPUTS = 4
MAX_PAGES = 300
SETTINGS = {
    "PDFPROMPT_PDF_MAX_INPUTS": str(MAX_INPUTS),
    "PDFPROMPT_PDF_MAX_PAGES": str(MAX_PAGES),
    "PDFPROMPT_MAX_ASSET_MB": "16",
    "PDFPROMPT_WEBHOOK_ALLOW_PRIVATE": "true",
    "PDFPROMPT_WEBHOOK_POLL_MS": "100",
    "PDFPROMPT_RETRY_BASE_S": "0.2",
}
PLANS = plans_toml(plain={"max_concurrent_jobs": 8}, marked={"watermark": True})


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Process, dict[str, str], Path]]:
    tmp = tmp_path_factory.mktemp(f"pdf-jobs-{request.param}")
    plans = tmp / "plans.toml"
    plans.write_text(PLANS)
    with serving(request, tmp, request.param, PDFPROMPT_PLANS_FILE=str(plans), **SETTINGS) as (
        server,
        env,
    ):
        yield server, env, tmp


def _client(
    served: tuple[Process, dict[str, str], Path], email: str, plan: str = "plain"
) -> httpx.Client:
    server, env, _ = served
    return client_for(server, user_on_plan(env, email, plan))


def _upload(c: httpx.Client, name: str, data: bytes) -> dict[str, Any]:
    made = c.post("/v1/assets", params={"name": name}, content=data)
    assert made.status_code == 201, made.text
    return dict(made.json())


def _job(c: httpx.Client, body: dict[str, Any], timeout_s: float = 180) -> dict[str, Any]:
    created = c.post("/v1/jobs", json=body)
    assert created.status_code == 202, created.text
    job, _ = wait_final(c, created.json()["id"], timeout_s=timeout_s)
    return job


def _outline(pdf: pikepdf.Pdf) -> list[tuple[str, int]]:
    pages = {page.objgen: n for n, page in enumerate(pdf.pages)}
    with pdf.open_outline() as outline:
        found = []
        for item in outline.root:
            destination = item.destination
            target = destination[0] if isinstance(destination, pikepdf.Array) else None
            found.append((item.title, pages.get(target.objgen, -1) if target is not None else -1))
        return found


def _text(pdf: bytes) -> list[str]:
    """Each page's text, as poppler's pdftotext reads it."""
    out = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    return [" ".join(page.split()) for page in out.split("\f")[:-1]]


def test_two_uploaded_pdfs_and_a_jobs_pdf_merge_into_one_with_an_outline_and_labels(
    served: tuple[Process, dict[str, str], Path],
) -> None:
    with _client(served, "merge@example.com") as c, Receiver() as hooks:
        hook = c.post("/v1/webhooks", json={"url": hooks.url, "events": ["job.succeeded"]})
        assert hook.status_code == 201, hook.text
        alpha = _upload(
            c,
            "alpha.pdf",
            text_pdf(3, "Alpha", title="Alpha report", labels=[(0, {"S": "/r"}), (2, {"S": "/D"})]),
        )
        assert (alpha["content_type"], alpha["kind"]) == ("application/pdf", "pdf")
        beta = _upload(c, "beta.pdf", text_pdf(2, "Beta"))
        rendered = _job(c, {"type": "html", "input": "<h1>Gamma</h1><p>rendered here</p>"})
        assert rendered["status"] == "succeeded"
        used = c.get("/v1/usage").json()["pdfs"]["used"]
        created = c.post(
            "/v1/jobs",
            json={
                "type": "merge",
                "inputs": [
                    "alpha.pdf",
                    {"asset": beta["id"], "title": "Beta chapter"},
                    rendered["id"],
                ],
                "options": {"title": "All three", "filename": "all.pdf"},
            },
        )
        assert created.status_code == 202, created.text
        events = read_sse(c, f"/v1/jobs/{created.json()['id']}/events")
        job = events[-1][1]
        assert job["status"] == "succeeded", job
        assert job["type"] == "merge" and job["error"] is None
        assert job["inputs"] == [
            {"asset": alpha["id"]},
            {"asset": beta["id"], "title": "Beta chapter"},
            {"file": rendered["file"]["id"], "job": rendered["id"]},
        ]
        assert job["file"]["pages"] == 6 == 3 + 2 + rendered["file"]["pages"]
        download = c.get(f"/v1/jobs/{job['id']}/pdf")
        assert download.headers["content-type"] == "application/pdf"
        assert 'filename="all.pdf"' in download.headers["content-disposition"]
        with pikepdf.open(io.BytesIO(download.content)) as pdf:
            assert len(pdf.pages) == 6
            assert _outline(pdf) == [
                ("Alpha report", 0),  # its own title
                ("Beta chapter", 3),  # the one asked for
                (rendered["file"]["filename"].removesuffix(".pdf"), 5),  # its name
            ]
            # Alpha's labels kept (i, ii, 1); the others numbered where they are.
            assert [page.label for page in pdf.pages] == ["i", "ii", "1", "4", "5", "6"]
            assert str(pdf.docinfo["/Title"]) == "All three"
        text = _text(download.content)
        assert [t.split(" page ")[0] if " page " in t else t for t in text[:5]] == [
            "Alpha",
            "Alpha",
            "Alpha",
            "Beta",
            "Beta",
        ]
        assert "Alpha page 3" in text[2] and "Beta page 2" in text[4]
        assert "Gamma" in text[5] and "rendered here" in text[5]
        assert c.get("/v1/usage").json()["pdfs"]["used"] == used + 1
        hit = next(h for h in hooks.wait_for(2) if h.event["data"]["job"]["id"] == job["id"])
        assert hit.event["type"] == "job.succeeded"
        assert hit.event["data"]["job"]["type"] == "merge"
        assert hit.event["data"]["job"]["inputs"] == job["inputs"]


def test_a_split_is_a_zip_archive_of_one_pdf_per_range(
    served: tuple[Process, dict[str, str], Path],
) -> None:
    with _client(served, "split@example.com") as c:
        source = _upload(
            c,
            "book.pdf",
            text_pdf(7, "Book", labels=[(0, {"S": "/R"}), (2, {"S": "/D", "P": "p-"})]),
        )
        job = _job(c, {"type": "split", "input": "book.pdf", "ranges": "1-2, 3-5,6-"})
        assert job["status"] == "succeeded", job
        assert job["inputs"] == [{"asset": source["id"]}] and job["ranges"] == "1-2,3-5,6-"
        # The pages of all its parts.
        assert job["file"]["pages"] == 7
        file = c.get(f"/v1/files/{job['file']['id']}").json()
        assert file["content_type"] == "application/zip" and file["filename"].endswith(".zip")
        download = c.get(f"/v1/jobs/{job['id']}/pdf")
        assert download.headers["content-type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
            names = archive.namelist()
            parts = [archive.read(n) for n in names]
        assert names == ["book-1-p1-2.pdf", "book-2-p3-5.pdf", "book-3-p6-7.pdf"]
        labels = []
        for part in parts:
            with pikepdf.open(io.BytesIO(part)) as pdf:
                labels.append([page.label for page in pdf.pages])
        assert labels == [["I", "II"], ["p-1", "p-2", "p-3"], ["p-4", "p-5"]]
        assert [[t.removeprefix("Book page ") for t in _text(p)] for p in parts] == [
            ["1", "2"],
            ["3", "4", "5"],
            ["6", "7"],
        ]
        # A range past the last page is known only once the PDF is read: a permanent failure.
        past = _job(c, {"type": "split", "input": source["id"], "ranges": "1-3,5-9"})
        assert past["status"] == "failed" and past["attempts"] == 1
        assert past["error"]["code"] == "page_range_invalid"
        assert "5-9" in past["error"]["message"] and "7 pages" in past["error"]["message"]
        # A split's archive is not a PDF to merge.
        refused = c.post("/v1/jobs", json={"type": "pdf", "input": job["id"]})
        assert refused.status_code == 422 and refused.json()["field"] == "input"
        assert "not a PDF" in refused.json()["detail"]


def test_a_pdf_job_writes_the_pdf_again_with_its_information(
    served: tuple[Process, dict[str, str], Path],
) -> None:
    original = text_pdf(2, "Own", title="Old title")
    with _client(served, "own@example.com") as c:
        _upload(c, "own.pdf", original)
        job = _job(c, {"type": "pdf", "input": "own.pdf", "options": {"title": "New title"}})
        assert job["status"] == "succeeded", job
        assert job["file"]["pages"] == 2
        pdf_bytes = c.get(f"/v1/jobs/{job['id']}/pdf").content
        with pikepdf.open(io.BytesIO(pdf_bytes)) as pdf:
            assert str(pdf.docinfo["/Title"]) == "New title"
        assert _text(pdf_bytes) == _text(original) == ["Own page 1", "Own page 2"]
        # A job's own PDF may be brought again, by its file's id.
        again = _job(c, {"type": "pdf", "input": job["file"]["id"]})
        assert again["status"] == "succeeded" and again["inputs"][0]["file"] == job["file"]["id"]
    # On a plan with a watermark, the made PDF carries it like a rendered one.
    with _client(served, "own-marked@example.com", "marked") as c:
        _upload(c, "own.pdf", original)
        job = _job(c, {"type": "pdf", "input": "own.pdf"})
        assert job["status"] == "succeeded", job
        text = _text(c.get(f"/v1/jobs/{job['id']}/pdf").content)
        assert all("Made with pdfprompt" in page for page in text)


HOSTILE = {
    "malformed": (malformed_pdf, "cannot be read"),
    "encrypted": (encrypted_pdf, "encrypted"),
    "owner-password": (lambda: encrypted_pdf(user_password=""), "encrypted"),
    "bomb": (bomb_pdf, "decodes to more than"),
    "double-bomb": (lambda: bomb_pdf(8192 * MB, twice=True), "memory"),
    "100k-pages": (lambda: many_pages_pdf(100_000), "100000 pages"),
    "lying-count": (lambda: many_pages_pdf(100_000, claimed=1), "100000 pages"),
    "looping-tree": (looping_pdf, "Loop"),
}


def test_hostile_uploads_are_refused_naming_the_file(
    served: tuple[Process, dict[str, str], Path],
) -> None:
    with _client(served, "hostile-upload@example.com") as c:
        for name, (make, words) in HOSTILE.items():
            answer = c.post("/v1/assets", params={"name": f"{name}.pdf"}, content=make())
            assert answer.status_code == 422, (name, answer.text)
            problem = answer.json()
            assert (problem["code"], problem["field"]) == ("invalid_input", "file"), name
            assert words in problem["detail"], (name, problem)
        assert c.get("/v1/assets").json()["items"] == []
        # The service goes on.
        _upload(c, "fine.pdf", text_pdf(1, "Fine"))


def _stored(data_dir: Path, data: bytes) -> Path:
    """The stored file holding exactly `data` (an asset's bytes)."""
    found = [p for p in data_dir.rglob("*") if p.is_file() and p.stat().st_size == len(data)]
    matches = [p for p in found if p.read_bytes() == data]
    assert len(matches) == 1, matches
    return matches[0]


def test_hostile_bytes_that_reach_a_job_fail_it_at_once_with_a_code(
    served: tuple[Process, dict[str, str], Path],
) -> None:
    """Bytes that passed the upload check and changed in storage since (or limits lowered):
    the job reads them within the same limits, fails at its first attempt with a code, its
    quota released; the worker goes on with the next job."""
    _, _, tmp = served
    codes = {
        "malformed": "pdf_malformed",
        "encrypted": "pdf_encrypted",
        "bomb": "pdf_too_complex",
        "double-bomb": "pdf_too_complex",
        "100k-pages": "page_limit_exceeded",
        "looping-tree": "pdf_malformed",
    }
    with _client(served, "hostile-job@example.com") as c:
        jobs = {}
        for name in codes:
            placeholder = text_pdf(1, f"placeholder {name}")
            _upload(c, f"{name}.pdf", placeholder)
            _stored(tmp / "data", placeholder).write_bytes(HOSTILE[name][0]())
            created = c.post("/v1/jobs", json={"type": "pdf", "input": f"{name}.pdf"})
            assert created.status_code == 202, created.text
            jobs[name] = created.json()["id"]
        ended = {name: wait_final(c, job_id, timeout_s=120)[0] for name, job_id in jobs.items()}
        assert {n: (j["status"], j["error"]["code"]) for n, j in ended.items()} == {
            n: ("failed", code) for n, code in codes.items()
        }
        assert all(j["attempts"] == 1 and j["file"] is None for j in ended.values())
        assert all("placeholder" not in j["error"]["message"] for j in ended.values())
        assert "/tmp" not in str([j["error"] for j in ended.values()])
        usage = c.get("/v1/usage").json()["pdfs"]
        assert usage["reserved"] == 0
        _upload(c, "fine.pdf", text_pdf(1, "Fine"))
        fine = _job(c, {"type": "pdf", "input": "fine.pdf"})
        assert fine["status"] == "succeeded"


def test_a_merge_past_the_page_limit_fails_with_its_code(
    served: tuple[Process, dict[str, str], Path],
) -> None:
    with _client(served, "long-merge@example.com") as c:
        half = text_pdf(MAX_PAGES // 2 + 1, "Half")
        _upload(c, "one.pdf", half)
        _upload(c, "two.pdf", half)
        job = _job(c, {"type": "merge", "inputs": ["one.pdf", "two.pdf"]})
        assert (job["status"], job["error"]["code"], job["attempts"]) == (
            "failed",
            "page_limit_exceeded",
            1,
        )


def test_inputs_that_are_not_the_callers_pdfs_are_refused_naming_the_field(
    served: tuple[Process, dict[str, str], Path],
) -> None:
    with _client(served, "other@example.com") as other:
        theirs = _upload(other, "secret.pdf", text_pdf(1, "Theirs"))
        their_job = _job(other, {"type": "pdf", "input": "secret.pdf"})
    with _client(served, "refused@example.com") as c:
        mine = _upload(c, "mine.pdf", text_pdf(2, "Mine"))
        logo = c.post("/v1/assets", params={"name": "logo.png"}, content=_png())
        assert logo.status_code == 201, logo.text
        failed = _job(c, {"type": "split", "input": "mine.pdf", "ranges": "5"})
        assert failed["status"] == "failed"

        def refused(body: dict[str, Any]) -> dict[str, Any]:
            answer = c.post("/v1/jobs", json=body)
            assert answer.status_code == 422, (body, answer.text)
            problem: dict[str, Any] = answer.json()
            assert problem["code"] == "invalid_input"
            return problem

        unknown = refused({"type": "merge", "inputs": ["mine.pdf", "nothing.pdf"]})
        assert unknown["field"] == "inputs.1" and "no PDF 'nothing.pdf'" in unknown["detail"]
        # Another user's asset, job and file: as unknown as a name nobody has.
        for ref in (theirs["id"], their_job["id"], their_job["file"]["id"], "secret.pdf"):
            problem = refused({"type": "merge", "inputs": [ref, "mine.pdf"]})
            assert problem["field"] == "inputs.0" and "you have no PDF" in problem["detail"]
        assert (
            refused({"type": "merge", "inputs": ["mine.pdf", {"job": their_job["id"]}]})["field"]
            == "inputs.1"
        )
        too_many = refused({"type": "merge", "inputs": ["mine.pdf"] * (MAX_INPUTS + 1)})
        assert too_many["field"] == "inputs" and f"2 to {MAX_INPUTS}" in too_many["detail"]
        assert refused({"type": "merge", "inputs": [mine["id"]]})["field"] == "inputs"
        assert refused({"type": "merge", "input": "mine.pdf"})["field"] in ("input", "inputs")
        assert refused({"type": "merge", "inputs": ["logo.png", "mine.pdf"]})["detail"].endswith(
            "not a PDF"
        )
        assert refused({"type": "pdf", "input": failed["id"]})["field"] == "input"
        both = refused({"type": "merge", "inputs": ["mine.pdf", {"asset": "a", "job": "x"}]})
        assert both["field"] == "inputs.1" and "name one of asset, job or file" in both["detail"]
        odd = refused({"type": "merge", "inputs": ["mine.pdf", {"asset": "a", "page": 2}]})
        assert odd["field"] == "inputs.1" and "page: unknown field" in odd["detail"]
        for ranges in ("3-1", "abc", "0", "1,,2", ""):
            assert refused({"type": "split", "input": "mine.pdf", "ranges": ranges})["field"] == (
                "ranges"
            ), ranges
        assert refused({"type": "split", "input": "mine.pdf"})["field"] == "ranges"
        assert refused({"type": "pdf", "input": "mine.pdf", "ranges": "1"})["field"] == "ranges"
        assert refused({"type": "html", "input": "x", "inputs": ["mine.pdf"]})["field"] == "inputs"
        margin = refused({"type": "pdf", "input": "mine.pdf", "options": {"landscape": True}})
        assert margin["field"] == "options.landscape" and "prints nothing" in margin["detail"]
        listed = c.get("/v1/jobs", params={"limit": 200}).json()["items"]
        assert [j["id"] for j in listed] == [failed["id"]]  # nothing else was queued


def _png() -> bytes:
    from tests.support.assets import png

    return png((10, 20, 30))


def test_the_client_and_the_command_merge_split_and_finish(
    served: tuple[Process, dict[str, str], Path], tmp_path: Path
) -> None:
    from pdfprompt.client import Client

    server, env, _ = served
    key = user_on_plan(env, "cli-pdf@example.com", "plain")
    with Client(server.base_url, key) as client:
        first = client.upload_asset(text_pdf(1, "First"), "first.pdf")
        merged = client.wait(
            client.submit_merge([first, {"asset": "first.pdf", "title": "Again"}]), timeout=60
        )
        assert merged.status == "succeeded" and merged.file is not None and merged.file.pages == 2
        parts = client.wait(client.submit_split(merged, "1,2"), timeout=60)
        assert parts.status == "succeeded" and parts.raw["ranges"] == "1,2"
        again = client.wait(client.submit_pdf(merged.file, {"title": "T"}), timeout=60)
        assert again.status == "succeeded"
    a, b = tmp_path / "a.pdf", tmp_path / "b.pdf"
    a.write_bytes(text_pdf(2, "Local A"))
    b.write_bytes(text_pdf(1, "Local B"))
    shell = {k: v for k, v in env.items() if k not in ("PDFPROMPT_SERVER", "PDFPROMPT_KEY")}
    shell |= {"PDFPROMPT_SERVER": server.base_url, "PDFPROMPT_KEY": key}
    out = tmp_path / "both.pdf"
    done = cli(shell, "merge", str(a), str(b), "first.pdf", "-o", str(out))
    assert f"wrote {out} (4 pages" in done.stderr
    assert [t.split(" page ")[0] for t in _text(out.read_bytes())] == [
        "Local A",
        "Local A",
        "Local B",
        "First",
    ]
    cli(shell, "split", str(out), "1-2,3-")
    with zipfile.ZipFile(tmp_path / "both.zip") as archive:
        assert len(archive.namelist()) == 2
    cli(shell, "finish", str(a), "--options", '{"title": "Finished"}')
    with pikepdf.open(tmp_path / "a-finished.pdf") as pdf:
        assert str(pdf.docinfo["/Title"]) == "Finished"
    # a.pdf, b.pdf and both.pdf uploaded: a.pdf, sent twice, is one asset.
    with client_for(server, key) as c:
        names = [asset["name"] for asset in c.get("/v1/assets").json()["items"]]
    assert len([n for n in names if n.startswith("upload-")]) == 3
    failed = cli(shell, "split", str(a), "5", check=False)
    assert failed.returncode == 1 and "page_range_invalid" in failed.stderr


def test_an_input_deleted_while_the_job_waits_fails_it_with_its_code(
    deployment: tuple[Start, dict[str, str]], tmp_path: Path
) -> None:
    """`pdfprompt api` alone queues the job; its asset and the job it names are deleted;
    a worker started then fails it at once with `pdf_input_missing`, its quota released."""
    start, env = deployment
    api = start("api", **SETTINGS)
    worker = Process(["worker"], {**env, **SETTINGS}, tmp_path / "worker.log")
    with client_for(api, create_key(env, "gone@example.com")) as c:
        kept = _upload(c, "kept.pdf", text_pdf(1, "Kept"))
        gone = _upload(c, "gone.pdf", text_pdf(1, "Gone"))
        created = c.post("/v1/jobs", json={"type": "merge", "inputs": ["kept.pdf", "gone.pdf"]})
        assert created.status_code == 202, created.text
        assert c.get("/v1/usage").json()["pdfs"]["reserved"] == 1
        assert c.delete(f"/v1/assets/{gone['id']}").status_code == 204
        worker.start()
        try:
            job, seen = wait_final(c, created.json()["id"], timeout_s=120)
            again = _job(c, {"type": "pdf", "input": kept["id"]})
        finally:
            worker.stop()
        assert seen[0] == "queued" and job["status"] == "failed" and job["attempts"] == 1
        assert job["error"]["code"] == "pdf_input_missing"
        assert job["error"]["message"].startswith("inputs.1 (gone.pdf): deleted")
        assert c.get("/v1/usage").json()["pdfs"]["reserved"] == 0
        assert again["status"] == "succeeded"


def test_a_job_past_its_time_is_retried_once_then_fails_with_its_code(
    deployment: tuple[Start, dict[str, str]],
) -> None:
    """With a time limit no child can meet, the first timeout is taken for a busy machine
    (the job is queued again), the second is final: `pdf_timeout`, two attempts, every
    change seen on the job's event stream."""
    start, env = deployment
    server = start("serve", PDFPROMPT_PDF_TIMEOUT_S="0.05", PDFPROMPT_RETRY_BASE_S="0.1")
    with client_for(server, create_key(env, "timeout@example.com")) as c:
        rendered = _job(c, {"type": "html", "input": "<p>rendered</p>"})
        assert rendered["status"] == "succeeded"
        created = c.post("/v1/jobs", json={"type": "pdf", "input": rendered["id"]})
        assert created.status_code == 202, created.text
        events = [job for name, job in read_sse(c, f"/v1/jobs/{created.json()['id']}/events")]
        job = events[-1]
        assert (job["status"], job["attempts"], job["error"]["code"]) == (
            "failed",
            2,
            "pdf_timeout",
        )
        assert job["error"]["message"].endswith("again; not retrying")
        assert any(e["status"] == "queued" and e["attempts"] == 1 for e in events)
        assert c.get("/v1/usage").json()["pdfs"]["reserved"] == 0
