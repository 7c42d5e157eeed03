"""Template batches end to end over HTTP on both databases (`pdfprompt serve`): rows of data
(JSON, CSV and JSON Lines uploads) checked against the template's schema, named in the
archive from their fields, merged, printed with each row's own data; and what is refused."""

from __future__ import annotations

import io
import uuid
import zipfile
from typing import Any

import httpx
from pypdf import PdfReader

from tests.support.jobs import read_sse
from tests.support.processes import Process, create_key
from tests.support.render import pdf_text
from tests.support.waiting import wait_until

Served = tuple[Process, dict[str, str]]

# Two pages per document: the merged PDF's page count is rows times 2.
INVOICE_BODY = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Invoice {{ number }}</title></head>
<body>
<h1 style="break-after: page">Invoice {{ number }}</h1>
<p>Customer {{ customer.name }} of {{ customer.city }}</p>
<p>Amount {{ "%.2f"|format(amount) }} for {{ qty }} units</p>
<p>{{ "Paid" if paid else "Unpaid" }}</p>
</body></html>"""

INVOICE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["number", "customer", "amount", "qty", "paid"],
    "properties": {
        "number": {"type": "string", "maxLength": 40},
        "amount": {"type": "number", "minimum": 0},
        "qty": {"type": "integer", "minimum": 1},
        "paid": {"type": "boolean"},
        "customer": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string"}, "city": {"type": "string"}},
        },
    },
}

PAGES_PER_DOCUMENT = 2


def row(n: int) -> dict[str, Any]:
    return {
        "number": f"2026-{n:04d}",
        "customer": {"name": f"Customer {n}", "city": f"Town{n}"},
        "amount": 10.5 * (n + 1),
        "qty": n + 1,
        "paid": n % 2 == 0,
    }


def client_for(served: Served, email: str) -> httpx.Client:
    server, env = served
    name, _, domain = email.partition("@")
    key = create_key(env, f"{name}-{uuid.uuid4().hex[:8]}@{domain}")
    return httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=120
    )


def make_template(c: httpx.Client, name: str = "invoice", body: str = INVOICE_BODY) -> str:
    made = c.post(
        "/v1/templates",
        json={"name": name, "engine": "html", "body": body, "schema": INVOICE_SCHEMA},
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def wait_batch(c: httpx.Client, batch_id: str, timeout_s: float = 240) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def ended() -> bool:
        found.update(c.get(f"/v1/batches/{batch_id}").json())
        return found["status"] in ("completed", "canceled")

    wait_until(ended, timeout_s, f"batch {batch_id} ended")
    return found


def _zip(c: httpx.Client, batch_id: str) -> zipfile.ZipFile:
    archive = c.get(f"/v1/batches/{batch_id}/archive")
    assert archive.status_code == 200, archive.text
    return zipfile.ZipFile(io.BytesIO(archive.content))


def _job_count(c: httpx.Client) -> int:
    return len(c.get("/v1/jobs", params={"limit": 200}).json()["items"])


def test_a_template_batch_of_invoices(service: Served) -> None:
    rows = 30
    with client_for(service, "tplbatch@example.com") as c:
        template_id = make_template(c)
        made = c.post(
            "/v1/batches",
            json={
                "template": "invoice",
                "items": [row(n) for n in range(rows)],
                "filename": "invoice-{number}-{customer.name}.pdf",
            },
        )
        assert made.status_code == 202, made.text
        batch = made.json()
        assert batch["template"] == {"id": template_id, "version": 1}
        assert batch["total"] == rows
        events = read_sse(c, f"/v1/batches/{batch['id']}/events", timeout_s=300)
        assert events[-1][1]["status"] == "completed"
        done = wait_batch(c, batch["id"])
        assert done["counts"]["succeeded"] == rows and done["status"] == "completed"
        assert done["template"] == {"id": template_id, "version": 1}

        with _zip(c, batch["id"]) as zipped:
            names = zipped.namelist()
            assert names == [f"invoice-2026-{n:04d}-Customer {n}.pdf" for n in range(rows)]
            seventh = pdf_text(zipped.read(names[7]))
        flat = " ".join(seventh.split())
        assert "Invoice 2026-0007" in flat and "Customer Customer 7 of Town7" in flat
        assert "Amount 84.00 for 8 units" in flat and "Unpaid" in flat
        assert "Customer 6" not in flat and "Customer 8" not in flat

        merged = c.get(f"/v1/batches/{batch['id']}/archive", params={"merge": "true"})
        assert merged.status_code == 200 and merged.content.startswith(b"%PDF-")
        assert len(PdfReader(io.BytesIO(merged.content)).pages) == rows * PAGES_PER_DOCUMENT

        jobs = c.get(f"/v1/batches/{batch['id']}/jobs", params={"limit": 200}).json()["items"]
        assert [j["batch"]["row"] for j in jobs] == list(range(rows))
        assert {j["type"] for j in jobs} == {"template"}
        assert all(j["template"] == {"id": template_id, "version": 1} for j in jobs)


def test_bad_items_list_every_bad_row_and_queue_nothing(service: Served) -> None:
    with client_for(service, "tplbad@example.com") as c:
        make_template(c)
        items: list[Any] = [row(n) for n in range(12)]
        items[2] = {**row(2), "amount": "lots"}
        items[5] = {**row(5), "qty": 0, "customer": {}}
        items[9] = "not an object"
        items[11] = {k: v for k, v in row(11).items() if k != "paid"}
        answer = c.post("/v1/batches", json={"template": "invoice", "items": items})
        assert answer.status_code == 422, answer.text
        problem = answer.json()
        assert problem["code"] == "invalid_input"
        assert {e["row"] for e in problem["errors"]} == {2, 5, 9, 11}
        fields = {e["field"] for e in problem["errors"]}
        # A missing required property is the object's error (as a template job's data).
        assert {"items/2/amount", "items/5/qty", "items/5/customer", "items/9"} <= fields
        assert "items/11" in fields
        assert all(e["field"].startswith(f"items/{e['row']}") for e in problem["errors"])
        assert problem["errors_total"] == len(problem["errors"])
        assert problem["field"] == problem["errors"][0]["field"]
        assert _job_count(c) == 0 and c.get("/v1/batches").json()["items"] == []
        # Its neighbour: the same rows made good are queued.
        items[2], items[5], items[9], items[11] = row(2), row(5), row(9), row(11)
        good = c.post("/v1/batches", json={"template": "invoice", "items": items})
        assert good.status_code == 202, good.text


CSV = (
    "number,customer.name,customer.city,amount,qty,paid\n"
    "A-1,Anna,Oslo,12.5,3,true\n"
    "A-2,Bo,Bergen,7,1,false\n"
    'A-3,"Café, Nord",Tromsø,0.25,10,TRUE\n'
)


def test_csv_and_jsonl_uploads_are_converted_by_the_schema(service: Served) -> None:
    with client_for(service, "tplcsv@example.com") as c:
        template_id = make_template(c)
        made = c.post(
            "/v1/batches",
            data={"template": template_id, "filename": "{number}.pdf"},
            files={"file": ("rows.csv", CSV.encode(), "text/csv")},
        )
        assert made.status_code == 202, made.text
        done = wait_batch(c, made.json()["id"])
        assert done["counts"]["succeeded"] == 3
        with _zip(c, done["id"]) as zipped:
            assert zipped.namelist() == ["A-1.pdf", "A-2.pdf", "A-3.pdf"]
            third = " ".join(pdf_text(zipped.read("A-3.pdf")).split())
        assert "Café, Nord of Tromsø" in third and "Amount 0.25 for 10 units" in third
        assert "Paid" in third and "Unpaid" not in third

        jsonl = b'{"number": "J-1", "customer": {"name": "Jo"}, "amount": 1, "qty": 1, ' \
            b'"paid": false}\n\n{"number": "J-2", "customer": {"name": "Kim"}, "amount": 2, ' \
            b'"qty": 2, "paid": true}\n'  # fmt: skip
        made = c.post(
            "/v1/batches",
            data={"template": "invoice"},
            files={"file": ("rows.jsonl", jsonl, "application/x-ndjson")},
        )
        assert made.status_code == 202, made.text
        assert wait_batch(c, made.json()["id"])["counts"]["succeeded"] == 2


def test_a_csv_cell_that_cannot_convert_is_its_rows_error(service: Served) -> None:
    with client_for(service, "tplcsvbad@example.com") as c:
        make_template(c)
        bad = CSV + "A-4,Dag,Bodø,cheap,2,true\nA-5,Eli,Molde,3,two,maybe\n"
        answer = c.post(
            "/v1/batches",
            data={"template": "invoice"},
            files={"file": ("rows.csv", bad.encode(), "text/csv")},
        )
        assert answer.status_code == 422, answer.text
        problem = answer.json()
        assert {e["row"] for e in problem["errors"]} == {3, 4}
        fields = {e["field"] for e in problem["errors"]}
        assert {"items/3/amount", "items/4/qty", "items/4/paid"} <= fields
        assert problem["errors_total"] == len(problem["errors"])
        assert _job_count(c) == 0


def test_an_older_version_another_users_name_and_a_template_job_row(service: Served) -> None:
    with (
        client_for(service, "tplver@example.com") as c,
        client_for(service, "tplother@example.com") as other,
    ):
        template_id = make_template(c)
        changed = INVOICE_BODY.replace("Invoice {{ number }}</h1>", "Bill {{ number }}</h1>")
        updated = c.put(
            f"/v1/templates/{template_id}",
            json={"name": "invoice", "engine": "html", "body": changed, "schema": INVOICE_SCHEMA},
        )
        assert updated.status_code == 200 and updated.json()["version"] == 2
        made = c.post("/v1/batches", json={"template": "invoice@1", "items": [row(1)]})
        assert made.status_code == 202, made.text
        assert made.json()["template"] == {"id": template_id, "version": 1}
        done = wait_batch(c, made.json()["id"])
        with _zip(c, done["id"]) as zipped:
            text = pdf_text(zipped.read(zipped.namelist()[0]))
        assert "Invoice 2026-0001" in text and "Bill" not in text
        latest = c.post("/v1/batches", json={"template": "invoice", "items": [row(1)]})
        assert latest.json()["template"] == {"id": template_id, "version": 2}
        by_id = c.post("/v1/batches", json={"template": f"{template_id}@1", "items": [row(1)]})
        assert by_id.json()["template"] == {"id": template_id, "version": 1}
        missing = c.post("/v1/batches", json={"template": "invoice@3", "items": [row(1)]})
        assert missing.status_code == 422 and missing.json()["field"] == "template"

        for ref in ("invoice", template_id, f"{template_id}@1"):
            refused = other.post("/v1/batches", json={"template": ref, "items": [row(1)]})
            assert refused.status_code == 422, (ref, refused.text)
            assert refused.json()["field"] == "template"
        upload = other.post(
            "/v1/batches",
            data={"template": "invoice"},
            files={"file": ("rows.csv", CSV.encode(), "text/csv")},
        )
        assert upload.status_code == 422 and upload.json()["field"] == "template"

        jobs = [
            {"type": "html", "input": "<p>fine</p>"},
            {"type": "template", "template": "invoice", "data": row(1)},
        ]
        answer = c.post("/v1/batches", json={"jobs": jobs})
        assert answer.status_code == 422, answer.text
        assert [e["field"] for e in answer.json()["errors"]] == ["jobs/1/type"]
