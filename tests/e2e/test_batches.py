"""Batches end to end over HTTP, on both databases: many jobs submitted at once, followed to
the end (counts, events, the `batch.completed` webhook), cancelled, and downloaded as a ZIP
and as one merged PDF; and what a hostile or careless client may send."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from pdfprompt.db import batches, create_engine, jobs
from pdfprompt.settings import Settings
from tests.support.accounts import plans_toml
from tests.support.jobs import read_sse
from tests.support.processes import Process, cli, new_account, serving
from tests.support.receiver import Receiver
from tests.support.waiting import wait_until

MAX_ITEMS = 60
MAX_BYTES = 1024 * 1024
# Small to send, slow to render: 300 pages.
LONG_DOC = "<style>p { break-after: page }</style>" + "<p>Lorem ipsum dolor sit amet.</p>" * 300

Served = tuple[Process, dict[str, str]]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """`pdfprompt serve` with small batch limits, a plan with a small quota, and webhooks
    allowed to loopback receivers."""
    tmp = tmp_path_factory.mktemp(f"batches-{request.param}")
    plans = tmp / "plans.toml"
    plans.write_text(plans_toml(small={"pdfs_per_month": 20}, wide={"pdfs_per_month": 1000}))
    with serving(
        request,
        tmp,
        request.param,
        PDFPROMPT_PLANS_FILE=str(plans),
        PDFPROMPT_DEFAULT_PLAN="wide",
        PDFPROMPT_MAX_BATCH_ITEMS=str(MAX_ITEMS),
        PDFPROMPT_MAX_BATCH_BYTES=str(MAX_BYTES),
        PDFPROMPT_WEBHOOK_ALLOW_PRIVATE="true",
        PDFPROMPT_WEBHOOK_POLL_MS="100",
    ) as running:
        yield running


def _client(served: Served, email: str, plan: str = "wide") -> httpx.Client:
    server, env = served
    _, key = new_account(env, email, plan=plan)
    return httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
    )


def _wait_batch(c: httpx.Client, batch_id: str, timeout_s: float = 180) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def ended() -> bool:
        found.update(c.get(f"/v1/batches/{batch_id}").json())
        return found["status"] in ("completed", "canceled")

    wait_until(ended, timeout_s, f"batch {batch_id} ended")
    return found


def _job_count(c: httpx.Client) -> int:
    return len(c.get("/v1/jobs", params={"limit": 200}).json()["items"])


def _reserved(c: httpx.Client) -> tuple[int, int]:
    pdfs = c.get("/v1/usage").json()["pdfs"]
    return pdfs["used"], pdfs["reserved"]


def test_a_batch_of_markdown_jobs_completes_with_its_archive_and_merged_pdf(
    served: Served,
) -> None:
    with _client(served, "fifty@example.com") as c:
        rows = [
            {
                "type": "markdown",
                "input": f"# Invoice {n}\n\n" + ("Line.\n\n" * (n % 3)),
                "options": {"title": f"Invoice {n}"},
            }
            for n in range(50)
        ]
        made = c.post("/v1/batches", json={"jobs": rows, "filename": "{title}.pdf"})
        assert made.status_code == 202, made.text
        batch = made.json()
        assert batch["id"].startswith("bat_") and batch["total"] == 50
        assert made.headers["location"] == f"/v1/batches/{batch['id']}"
        events = read_sse(c, f"/v1/batches/{batch['id']}/events", timeout_s=240)
        assert events and all(name == "batch" for name, _ in events)
        finals = [data["counts"]["succeeded"] for _, data in events]
        assert finals == sorted(finals)  # counts only go up
        assert events[-1][1]["status"] == "completed"
        done = _wait_batch(c, batch["id"])
        assert done["counts"] == {
            "queued": 0,
            "running": 0,
            "succeeded": 50,
            "failed": 0,
            "canceled": 0,
        }
        assert done["progress"] == 1 and done["finished_at"] is not None
        listed = c.get("/v1/batches").json()["items"]
        assert [b["id"] for b in listed] == [batch["id"]]
        jobs = c.get(f"/v1/batches/{batch['id']}/jobs", params={"limit": 20}).json()
        assert [j["batch"]["row"] for j in jobs["items"]] == list(range(20))
        assert jobs["next_cursor"] == "19"
        rest = c.get(
            f"/v1/batches/{batch['id']}/jobs", params={"limit": 200, "cursor": "19"}
        ).json()
        assert [j["batch"]["row"] for j in rest["items"]] == list(range(20, 50))
        pages = sum(j["file"]["pages"] for j in jobs["items"] + rest["items"])

        archive = c.get(f"/v1/batches/{batch['id']}/archive")
        assert archive.status_code == 200 and archive.headers["content-type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(archive.content)) as zipped:
            names = zipped.namelist()
            assert names == [f"Invoice {n}.pdf" for n in range(50)]
            for info in zipped.infolist():
                assert info.compress_type == zipfile.ZIP_STORED
                assert zipped.read(info).startswith(b"%PDF-")
        merged = c.get(f"/v1/batches/{batch['id']}/archive", params={"merge": "true"})
        assert merged.status_code == 200 and merged.content.startswith(b"%PDF-")
        reader = PdfReader(io.BytesIO(merged.content))
        assert len(reader.pages) == pages
        titles = [item.title for item in reader.outline]  # type: ignore[union-attr]
        assert titles == [f"Invoice {n}" for n in range(50)]
        assert _reserved(c) == (50, 0)


def test_one_bad_row_refuses_the_whole_batch_listing_every_bad_row(served: Served) -> None:
    with _client(served, "badrow@example.com") as c:
        before = _job_count(c)
        rows: list[Any] = [{"type": "markdown", "input": f"# {n}"} for n in range(10)]
        rows[3] = {"type": "markdown", "input": "   "}
        rows[7] = {"type": "pdf", "input": "x"}  # a PDF job is submitted on its own
        rows[8] = "not a job"
        rows[9] = {"type": "html", "input": "<p>x</p>", "options": {"scale": 9}, "extra": 1}
        answer = c.post("/v1/batches", json={"jobs": rows})
        assert answer.status_code == 422, answer.text
        problem = answer.json()
        assert problem["code"] == "invalid_input"
        assert {e["row"] for e in problem["errors"]} == {3, 7, 8, 9}
        fields = {e["field"] for e in problem["errors"]}
        assert {"jobs/7/type", "jobs/8", "jobs/9/options/scale", "jobs/9/extra"} <= fields
        assert problem["field"] == problem["errors"][0]["field"]
        assert problem["errors_total"] == len(problem["errors"])
        assert _job_count(c) == before
        assert c.get("/v1/batches").json()["items"] == []
        assert _reserved(c) == (0, 0)


def test_a_batch_over_the_months_quota_is_refused_whole(served: Served) -> None:
    with _client(served, "quota@example.com", plan="small") as c:
        first = c.post("/v1/jobs", json={"type": "markdown", "input": "# one"})
        assert first.status_code == 202
        rows = [{"type": "markdown", "input": f"# {n}"} for n in range(20)]  # 1 + 20 > 20
        answer = c.post("/v1/batches", json={"jobs": rows})
        assert answer.status_code == 429, answer.text
        assert answer.json()["code"] == "quota_exceeded" and "retry-after" in answer.headers
        assert _job_count(c) == 1
        used, reserved = _reserved(c)
        assert used + reserved == 1
        # Its neighbour, what is left exactly, is queued.
        fits = c.post("/v1/batches", json={"jobs": rows[:19]})
        assert fits.status_code == 202, fits.text
        used, reserved = _reserved(c)
        assert used + reserved == 20


def test_cancelling_a_running_batch_cancels_what_has_not_ended_and_releases_quota(
    served: Served,
) -> None:
    with _client(served, "cancel@example.com") as c:
        rows = [{"type": "html", "input": LONG_DOC} for _ in range(30)]
        batch = c.post("/v1/batches", json={"jobs": rows}, headers={"Idempotency-Key": "c1"})
        assert batch.status_code == 202
        batch_id = batch.json()["id"]
        again = c.post("/v1/batches", json={"jobs": rows}, headers={"Idempotency-Key": "c1"})
        assert again.status_code == 200 and again.json()["id"] == batch_id
        wait_until(
            lambda: c.get(f"/v1/batches/{batch_id}").json()["counts"]["running"] > 0,
            60,
            "a job of the batch running",
        )
        canceled = c.post(f"/v1/batches/{batch_id}/cancel")
        assert canceled.status_code == 200
        shown = canceled.json()
        assert shown["status"] == "canceled"
        assert shown["counts"]["queued"] == 0 and shown["counts"]["running"] == 0
        assert shown["counts"]["canceled"] > 0
        assert shown["counts"]["canceled"] + shown["counts"]["succeeded"] == 30
        assert _reserved(c) == (shown["counts"]["succeeded"], 0)
        # Again: the same.
        assert c.post(f"/v1/batches/{batch_id}/cancel").json()["counts"] == shown["counts"]
        canceled_jobs = c.get(
            f"/v1/batches/{batch_id}/jobs", params={"status": "canceled", "limit": 200}
        ).json()["items"]
        assert len(canceled_jobs) == shown["counts"]["canceled"]
        assert read_sse(c, f"/v1/batches/{batch_id}/events")[-1][1]["status"] == "canceled"


def test_batch_completed_is_delivered_once(served: Served) -> None:
    with _client(served, "hook@example.com") as c, Receiver() as receiver:
        hook = c.post("/v1/webhooks", json={"url": receiver.url, "events": ["batch.completed"]})
        assert hook.status_code == 201, hook.text
        rows = [{"type": "markdown", "input": f"# {n}"} for n in range(3)]
        batch_id = c.post("/v1/batches", json={"jobs": rows}).json()["id"]
        hits = receiver.wait_for(1, timeout_s=90)
        event = hits[0].event
        assert event["type"] == "batch.completed"
        assert event["data"]["batch"]["id"] == batch_id
        assert event["data"]["batch"]["status"] == "completed"
        assert event["data"]["batch"]["counts"]["succeeded"] == 3
        deliveries_path = f"/v1/webhooks/{hook.json()['id']}/deliveries"
        wait_until(
            lambda: all(d["status"] == "succeeded" for d in c.get(deliveries_path).json()["items"]),
            30,
            "the delivery recorded as succeeded",
        )
        deliveries = c.get(deliveries_path).json()["items"]
        assert [(d["event"], d["subject"]) for d in deliveries] == [("batch.completed", batch_id)]
        assert len(receiver.hits) == 1


def test_another_users_batch_is_not_found_anywhere(served: Served) -> None:
    with _client(served, "owner@example.com") as owner, _client(served, "peer@example.com") as peer:
        batch_id = owner.post(
            "/v1/batches", json={"jobs": [{"type": "markdown", "input": "# mine"}]}
        ).json()["id"]
        for method, path in (
            ("GET", f"/v1/batches/{batch_id}"),
            ("GET", f"/v1/batches/{batch_id}/jobs"),
            ("GET", f"/v1/batches/{batch_id}/events"),
            ("POST", f"/v1/batches/{batch_id}/cancel"),
            ("GET", f"/v1/batches/{batch_id}/archive"),
            ("GET", f"/v1/batches/{batch_id}/archive?merge=true"),
            ("GET", "/v1/batches/bat_nope"),
            ("GET", "/v1/batches/..%2F..%2Fetc"),
        ):
            answer = peer.request(method, path)
            assert answer.status_code == 404, (method, path, answer.text)
            assert answer.json()["code"] == "not_found"
        assert peer.get("/v1/batches").json()["items"] == []
        assert owner.get(f"/v1/batches/{batch_id}").status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"jobs": [{"type": "markdown", "input": "# x"}] * (MAX_ITEMS + 1)}, 422, "jobs"),
        ({"jobs": [{"type": "markdown", "input": "# x"}] * 10_001}, 422, "jobs"),
        ({"jobs": []}, 422, "jobs"),
        ({"jobs": "markdown"}, 422, "jobs"),
        ({"jobs": {"0": {"type": "markdown"}}}, 422, "jobs"),
        ({"jobs": [{"type": "markdown", "input": "# x"}], "template": "t"}, 422, "body"),
        ({"template": "t"}, 422, "body"),
        ({"template": "invoice", "items": [{"n": 1}]}, 422, "template"),
        ({"template": "invoice", "items": []}, 422, "items"),
        ({"jobs": [{"type": "markdown", "input": "# x"}], "filename": 5}, 422, "filename"),
        ({"jobs": [{"type": "markdown", "input": "# x"}], "filename": "x" * 201}, 422, "filename"),
        ({"jobs": [{"type": "markdown", "input": "# x"}], "filename": "a\u0001b"}, 422, "filename"),
        ([{"type": "markdown", "input": "# x"}], 422, "body"),
    ],
)
def test_hostile_batches_are_refused_naming_the_field(
    served: Served, body: Any, status: int, field: str
) -> None:
    with _client(served, f"hostile-{abs(hash(json.dumps(body)))}@example.com") as c:
        answer = c.post("/v1/batches", json=body)
        assert answer.status_code == status, answer.text
        assert answer.json()["field"] == field
        assert _job_count(c) == 0


def test_a_body_over_the_batch_limit_is_refused_before_it_is_parsed(served: Served) -> None:
    with _client(served, "huge@example.com") as c:
        row = {"type": "markdown", "input": "x" * 1000}
        over = json.dumps({"jobs": [row] * (MAX_BYTES // 1000 + 10)})
        answer = c.post("/v1/batches", content=over, headers={"Content-Type": "application/json"})
        assert answer.status_code == 413 and answer.json()["field"] == "body"

        def chunks() -> Iterator[bytes]:  # no declared length: refused as it passes the cap
            data = over.encode()
            for start in range(0, len(data), 65536):
                yield data[start : start + 65536]

        streamed = c.post(
            "/v1/batches", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
        # Its neighbour: just under the cap is read and parsed (here, too many rows).
        under = json.dumps({"jobs": [row] * (MAX_BYTES // 1100)})
        assert len(under) < MAX_BYTES
        parsed = c.post("/v1/batches", content=under, headers={"Content-Type": "application/json"})
        assert parsed.status_code == 422 and parsed.json()["field"] == "jobs"
        assert _job_count(c) == 0


def test_archive_names_are_safe_and_unique(served: Served) -> None:
    with _client(served, "names@example.com") as c:
        titles = ["../../etc/passwd", "same", "same", "..", "a\\b:c", "x" * 190]
        rows = [
            {"type": "markdown", "input": f"# {n}", "options": {"title": t}}
            for n, t in enumerate(titles)
        ]
        made = c.post(
            "/v1/batches", json={"jobs": rows, "filename": "../{__class__}{title}{row.x}.pdf"}
        )
        assert made.status_code == 202, made.text
        batch_id = made.json()["id"]
        assert _wait_batch(c, batch_id)["counts"]["succeeded"] == len(titles)
        with zipfile.ZipFile(io.BytesIO(c.get(f"/v1/batches/{batch_id}/archive").content)) as z:
            names = z.namelist()
        assert len(names) == len(set(names)) == len(titles)
        for name in names:
            assert "/" not in name and "\\" not in name and ".." not in name
            assert name.endswith(".pdf") and not name.startswith(".")
            assert len(name) <= 130
        assert names[1] == "same.pdf" and names[2] == "same-2.pdf"
        assert names[3] == "3.pdf"


def test_a_csv_upload_names_its_template_then_is_parsed_by_its_schema(
    served: Served, tmp_path: Path
) -> None:
    """An upload's template is resolved first (its schema converts the CSV's cells), then
    the file is parsed; tests/e2e/test_template_batches.py follows good uploads to their
    PDFs."""
    with _client(served, "upload@example.com") as c:
        csv_text = "number,customer.name\r\n1,Ann\r\n2,Bob\r\n"
        answer = c.post(
            "/v1/batches",
            files={"file": ("rows.csv", csv_text.encode(), "text/csv")},
            data={"template": "invoice", "filename": "invoice-{number}.pdf"},
        )
        assert answer.status_code == 422 and answer.json()["field"] == "template"
        schema = {
            "type": "object",
            "properties": {
                "number": {"type": "integer"},
                "customer": {"type": "object", "properties": {"name": {"type": "string"}}},
            },
        }
        made = c.post(
            "/v1/templates",
            json={"name": "invoice", "body": "<p>{{ number }} {{ customer.name }}</p>",
                  "schema": schema},
        )  # fmt: skip
        assert made.status_code == 201, made.text
        broken = c.post(
            "/v1/batches",
            files={"file": ("rows.csv", b"number,customer.name\r\n1,2,3\r\n", "text/csv")},
            data={"template": "invoice"},
        )
        assert broken.status_code == 422, broken.text
        assert broken.json()["errors"][0]["row"] == 0
        not_a_number = c.post(
            "/v1/batches",
            files={"file": ("rows.csv", b"number,customer.name\r\n1,Ann\r\nx,Bob\r\n")},
            data={"template": "invoice"},
        )
        assert not_a_number.status_code == 422, not_a_number.text
        assert [e["field"] for e in not_a_number.json()["errors"]] == ["items/1/number"]
        jsonl = c.post(
            "/v1/batches",
            files={"file": ("rows.jsonl", b'{"a": 1}\n[1]\n', "application/x-ndjson")},
            data={"template": "invoice"},
        )
        assert jsonl.status_code == 422 and jsonl.json()["errors"][0]["field"] == "items/1"
        no_file = c.post("/v1/batches", data={"template": "invoice"}, files={"x": ("a", b"b")})
        assert no_file.status_code == 422 and no_file.json()["field"] == "file"
        assert _job_count(c) == 0
        fine = c.post(
            "/v1/batches",
            files={"file": ("rows.csv", csv_text.encode(), "text/csv")},
            data={"template": "invoice", "filename": "invoice-{number}.pdf"},
        )
        assert fine.status_code == 202, fine.text
        assert fine.json()["template"] == {"id": made.json()["id"], "version": 1}


def test_deleting_a_person_deletes_their_batches(served: Served) -> None:
    env = served[1]
    with _client(served, "leaving-batches@example.com") as c:
        batch_id = c.post(
            "/v1/batches", json={"jobs": [{"type": "markdown", "input": "# bye"}]}
        ).json()["id"]
        _wait_batch(c, batch_id)
    cli(env, "users", "delete", "leaving-batches@example.com", "--yes")

    async def left() -> tuple[int, int]:
        engine = create_engine(Settings(database_url=env["DATABASE_URL"]))
        try:
            async with engine.connect() as conn:
                found = await conn.execute(
                    select(func.count()).select_from(batches).where(batches.c.id == batch_id)
                )
                rows = await conn.execute(
                    select(func.count()).select_from(jobs).where(jobs.c.batch_id == batch_id)
                )
                return int(found.scalar_one()), int(rows.scalar_one())
        finally:
            await engine.dispose()

    assert asyncio.run(left()) == (0, 0)
