"""`pdfprompt serve` keeping its PDFs in an S3-compatible store (moto's server on 127.0.0.1)
by configuration alone."""

from __future__ import annotations

import uuid
from pathlib import Path

import boto3
import httpx

from tests.support.databases import make_bucket
from tests.support.jobs import check_ranges, wait_final
from tests.support.processes import Process, create_key, new_account, service_env, start_server
from tests.support.render import pdf_text
from tests.support.web import PASSWORD, client, sign_in


def _serve_on_s3(
    s3_endpoint: str, tmp_path: Path, **extra: str
) -> tuple[Process, dict[str, str], str]:
    """`pdfprompt serve` keeping its PDFs under `pdfs/` in a new bucket; the server, its
    environment and the bucket."""
    bucket = f"pdfprompt-{uuid.uuid4().hex[:12]}"
    make_bucket(s3_endpoint, bucket)
    env = service_env(
        tmp_path / "data",
        f"sqlite:///{tmp_path / 'pdfprompt.sqlite3'}",
        PDFPROMPT_STORAGE_URL=f"s3://{bucket}/pdfs",
        PDFPROMPT_S3_ENDPOINT_URL=s3_endpoint,
        **extra,
    )
    return start_server("serve", env, tmp_path / "serve.log"), env, bucket


def test_serve_on_s3_stores_serves_and_deletes_pdfs(s3_endpoint: str, tmp_path: Path) -> None:
    server, env, bucket = _serve_on_s3(s3_endpoint, tmp_path)
    try:
        _, key = new_account(env, "s3@example.com", password=PASSWORD)
        with httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as c:
            job, _ = wait_final(
                c,
                c.post("/v1/jobs", json={"type": "html", "input": "<p>kept in S3</p>"}).json()[
                    "id"
                ],
            )
            assert job["status"] == "succeeded"
            pdf = c.get(f"/v1/jobs/{job['id']}/pdf")
            assert pdf.status_code == 200 and "kept in S3" in pdf_text(pdf.content)
            check_ranges(c, f"/v1/jobs/{job['id']}/pdf", pdf.content)
            s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
            listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
            # The PDF alone: its thumbnail is drawn when the history first shows it.
            [stored] = listed
            assert stored["Key"].endswith(".pdf")
            assert stored["Key"].startswith("pdfs/") and stored["Size"] == len(pdf.content)
            # Drawn on the first look and stored in the bucket beside the PDF.
            with client(server) as browser:
                assert sign_in(browser, "s3@example.com").status_code == 303
                thumb = browser.get(f"/documents/{job['id']}/thumbnail")
            assert thumb.status_code == 200 and thumb.content.startswith(b"\x89PNG")
            png = stored["Key"].removesuffix(".pdf") + ".png"
            assert s3.get_object(Bucket=bucket, Key=png)["Body"].read() == thumb.content
            assert c.delete(f"/v1/jobs/{job['id']}").status_code == 204
            assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    finally:
        server.stop()


def test_downloads_may_redirect_to_a_short_lived_presigned_url(
    s3_endpoint: str, tmp_path: Path
) -> None:
    server, env, bucket = _serve_on_s3(s3_endpoint, tmp_path, PDFPROMPT_S3_PRESIGN_S="60")
    try:
        key = create_key(env, "presign@example.com")
        with httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as c:
            body = {"type": "html", "input": "<p>signed</p>", "options": {"filename": "Q3 été"}}
            job, _ = wait_final(c, c.post("/v1/jobs", json=body).json()["id"])
            assert job["status"] == "succeeded"
            file_id = job["file"]["id"]
            for path in (f"/v1/jobs/{job['id']}/pdf", f"/v1/files/{file_id}/content"):
                moved = c.get(path)
                assert moved.status_code == 302, path
                assert moved.headers["Cache-Control"] == "no-store"
                location = moved.headers["Location"]
                assert location.startswith(f"{s3_endpoint}/{bucket}/pdfs/")
                assert "X-Amz-Expires=60" in location
                direct = httpx.get(location, timeout=30)  # no API key: the URL is the grant
                assert direct.status_code == 200 and "signed" in pdf_text(direct.content)
                assert direct.headers["Content-Type"] == "application/pdf"
                assert "Q3" in direct.headers["Content-Disposition"]
                assert direct.headers["Content-Disposition"].startswith("attachment;")
                part = httpx.get(location, headers={"Range": "bytes=0-9"}, timeout=30)
                assert part.status_code == 206 and part.content == direct.content[:10]
            # A share link is counted per download, so it is never handed off to S3.
            share = c.post(f"/v1/files/{file_id}/shares", json={"max_downloads": 1}).json()
            public = httpx.get(share["url"], timeout=30)
            assert public.status_code == 200 and public.content == direct.content
            assert httpx.get(share["url"], timeout=30).status_code == 410
    finally:
        server.stop()
