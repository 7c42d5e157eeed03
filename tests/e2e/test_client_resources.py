"""The Python client's assets, templates and batches against the real routes of
`pdfprompt serve` on each database: what the client sends is what the routes take, and what
they answer is what the client reads (sync, and async for some)."""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader

from pdfprompt.client import AsyncClient, Batch, Client, Conflict, InvalidInput, NotFound
from tests.e2e.test_template_batches import CSV, INVOICE_BODY, INVOICE_SCHEMA, row
from tests.e2e.test_templates import with_llm  # noqa: F401  (the fixture, with the fake LLM)
from tests.support.assets import has_color, png
from tests.support.llm import control
from tests.support.processes import Process, create_key
from tests.support.proxy import CutAnswer, Forward, Proxy, Seen, proxy
from tests.support.render import pdf_text

pytestmark = pytest.mark.one_database("postgresql")

Served = tuple[Process, dict[str, str]]
RED = (220, 30, 30)


@pytest.fixture
def key(service: Served) -> str:
    return create_key(service[1], f"resources-{uuid.uuid4().hex[:12]}@example.com")


@pytest.fixture
def client(service: Served, key: str) -> Iterator[Client]:
    with Client(service[0].base_url, key) as c:
        yield c


def _page_with(reference: str) -> str:
    return (
        "<style>@page { margin: 0 } body { margin: 0 }</style>"
        f'<img src="{reference}" style="width: 100%; height: 100vh">'
    )


def test_assets_upload_use_list_get_delete(client: Client, tmp_path: Path) -> None:
    path = tmp_path / "logo.png"
    path.write_bytes(png(RED))
    from_path = client.upload_asset(path)
    assert from_path.id.startswith("ast_") and from_path.name == "logo.png"
    assert from_path.kind == "image" and from_path.content_type == "image/png"
    assert from_path.size_bytes == path.stat().st_size and len(from_path.sha256) == 64
    assert from_path.created_at is not None
    from_bytes = client.upload_asset(png((20, 20, 200)), "blue.png")
    assert from_bytes.name == "blue.png"
    with pytest.raises(Conflict):
        client.upload_asset(png(RED), "blue.png")
    replaced = client.upload_asset(png(RED), "blue.png", replace=True)
    assert replaced.id == from_bytes.id and replaced.sha256 == from_path.sha256
    assert from_bytes.updated_at is not None and replaced.updated_at is not None
    assert (
        replaced.updated_at >= from_bytes.updated_at
        and replaced.created_at == from_bytes.created_at
    )
    with pytest.raises(ValueError):
        client.upload_asset(b"bytes without a name")

    job = client.wait(client.submit_html(_page_with("asset:logo.png")), timeout=90)
    assert job.status == "succeeded", job.error
    assert [w for w in job.warnings if w.code == "resource_refused"] == []
    assert has_color(client.pdf_bytes(job), RED)

    assert [a.id for a in client.list_assets().items] == [from_bytes.id, from_path.id]
    assert [a.name for a in client.iter_assets(page_size=1)] == ["blue.png", "logo.png"]
    assert client.get_asset(from_path.id).sha256 == from_path.sha256
    assert client.asset_bytes(from_path) == path.read_bytes()
    client.delete_asset(from_path)
    with pytest.raises(NotFound):
        client.get_asset(from_path.id)
    assert [a.id for a in client.list_assets().items] == [from_bytes.id]


def test_templates_from_create_to_delete(client: Client) -> None:
    made = client.create_template(
        "letter", INVOICE_BODY, schema=INVOICE_SCHEMA, sample_data=row(3), options={"format": "A5"}
    )
    assert made.id.startswith("tpl_") and made.version == 1 and made.engine == "html"
    assert made.schema == INVOICE_SCHEMA and made.sample_data == row(3)
    assert made.options.get("format") == "A5"
    assert made.created_at is not None and made.updated_at is not None
    changed = INVOICE_BODY.replace("<h1", "<h1 class='v2'")
    second = client.update_template(made, "letter", changed, schema=INVOICE_SCHEMA)
    assert second.id == made.id and second.version == 2 and second.body == changed
    assert second.updated_at is not None and second.updated_at >= made.updated_at
    assert client.get_template(made.id).version == 2
    first = client.get_template(made, version=1)
    assert first.body == INVOICE_BODY and (first.version, first.latest_version) == (1, 2)
    assert first.version_created_at == made.version_created_at is not None
    listed = client.list_templates().items
    assert [(t.id, t.version) for t in listed] == [(made.id, 2)]
    assert listed[0].body is None and listed[0].schema is None  # lists stay small
    assert [t.name for t in client.iter_templates()] == ["letter"]
    assert [v.version for v in client.template_versions(made)] == [2, 1]

    preview = client.preview_template(made, row(5))
    assert preview.startswith(b"%PDF")
    assert "Customer 5" in pdf_text(preview)
    with pytest.raises(InvalidInput) as bad:
        client.submit_template("letter", {**row(1), "qty": "x"})
    assert bad.value.field == "data/qty" and bad.value.errors

    job = client.submit_template("letter", row(4), version=1)
    assert job.template is not None and (job.template.id, job.template.version) == (made.id, 1)
    done = client.wait(job, timeout=90)
    assert done.status == "succeeded"
    assert "Customer 4" in pdf_text(client.pdf_bytes(done))

    client.delete_template(made)
    with pytest.raises(NotFound):
        client.get_template(made.id)
    assert client.list_templates().items == []


def test_a_batch_of_items_and_one_from_a_csv(service: Served, key: str, tmp_path: Path) -> None:
    with proxy(service[0].base_url, lambda s, c: Forward()) as p, Client(p.url, key) as client:
        _items_and_csv(client, p, tmp_path)


def _items_and_csv(client: Client, p: Proxy, tmp_path: Path) -> None:
    template = client.create_template("invoice", INVOICE_BODY, schema=INVOICE_SCHEMA)
    batch = client.create_batch(
        template=template, items=[row(n) for n in range(6)], filename="inv-{number}.pdf"
    )
    assert batch.id.startswith("bat_") and batch.total == 6
    assert batch.status in ("queued", "running")  # a worker may have taken a row already
    assert batch.template is not None and batch.template.id == template.id
    assert batch.filename == "inv-{number}.pdf"
    seen: list[Batch] = []
    done = client.wait_batch(batch, timeout=180, on_change=seen.append)
    assert done.status == "completed" and done.counts.succeeded == 6 and done.done == 6
    assert done.progress == 1 and done.finished_at is not None
    assert seen and seen[-1].status == "completed" and {b.id for b in seen} == {batch.id}
    # Followed on the event stream (each event's data a batch object), never polled.
    assert len(p.requests("GET", f"/v1/batches/{batch.id}/events")) == 1
    assert not [s for s in p.seen if s.target == f"/v1/batches/{batch.id}"]

    out = tmp_path / "all.zip"
    size = client.download_archive(done, out)
    assert size == out.stat().st_size
    with zipfile.ZipFile(out) as zipped:
        assert zipped.namelist() == [f"inv-2026-{n:04d}.pdf" for n in range(6)]
    merged = io.BytesIO()
    client.download_archive(done, merged, merge=True)
    assert len(PdfReader(merged).pages) == 6 * 2
    rows = [j.batch.row for j in client.iter_batch_jobs(done, page_size=4) if j.batch]
    assert rows == list(range(6))
    assert [b.id for b in client.list_batches().items] == [batch.id]

    data = tmp_path / "rows.csv"
    data.write_text(CSV)
    from_csv = client.create_batch(template="invoice", file=data, filename="{number}.pdf")
    ended = client.wait_batch(from_csv.id, timeout=180)
    assert ended.counts.succeeded == 3
    archive = io.BytesIO()
    client.download_archive(ended, archive)
    with zipfile.ZipFile(archive) as zipped:
        assert zipped.namelist() == ["A-1.pdf", "A-2.pdf", "A-3.pdf"]

    data.write_text(CSV + "A-4,Dag,Bodø,cheap,2,true\n")
    with pytest.raises(InvalidInput) as bad:
        client.create_batch(template="invoice", file=data)
    assert bad.value.field == "items/3/amount"
    assert [e.get("row") for e in bad.value.errors] == [3] and bad.value.errors_total == 1
    with pytest.raises(InvalidInput) as bad_items:
        client.create_batch(template="invoice", items=[row(0), {"number": 1}])
    assert bad_items.value.errors_total == len(bad_items.value.errors) >= 1
    assert all(e["field"].startswith("items/1") for e in bad_items.value.errors)


def test_wait_batch_polls_when_the_event_stream_is_cut(service: Served, key: str) -> None:
    def rule(seen: Seen, _: int) -> Forward | CutAnswer:
        return CutAnswer(0) if seen.target.endswith("/events") else Forward()

    with proxy(service[0].base_url, rule) as p, Client(p.url, key) as client:
        client.create_template("invoice", INVOICE_BODY, schema=INVOICE_SCHEMA)
        batch = client.create_batch(template="invoice", items=[row(1), row(2)])
        done = client.wait_batch(batch, timeout=120)
        assert done.status == "completed" and done.counts.succeeded == 2
        assert ("cut", "answer cut") in p.log
        assert [s for s in p.seen if s.target == f"/v1/batches/{batch.id}"]


async def test_async_templates_and_batches(service: Served, key: str) -> None:
    async with AsyncClient(service[0].base_url, key) as client:
        asset = await client.upload_asset(png(RED), "red.png")
        assert asset.kind == "image"
        template = await client.create_template(
            "card",
            '<h1>{{ number }}</h1><img src="asset:red.png" style="width: 50mm">',
            schema={"type": "object", "properties": {"number": {"type": "string"}}},
            sample_data={"number": "sample"},
        )
        assert (await client.preview_template(template)).startswith(b"%PDF")
        batch = await client.create_batch(
            template=template.name, items=[{"number": f"N{n}"} for n in range(3)]
        )
        done = await client.wait_batch(batch, timeout=120)
        assert done.counts.succeeded == 3
        archive = io.BytesIO()
        await client.download_archive(done, archive)
        with zipfile.ZipFile(archive) as zipped:
            pdfs = [zipped.read(n) for n in zipped.namelist()]
        assert len(pdfs) == 3 and all(has_color(pdf, RED) for pdf in pdfs)
        assert "N1" in pdf_text(pdfs[1])
        jobs = [j async for j in client.iter_batch_jobs(done)]
        assert all(not j.warnings for j in jobs)
        await client.delete_asset(asset)
        assert (await client.list_assets()).items == []


def test_a_template_generated_from_a_prompt(
    with_llm: tuple[Process, dict[str, str], str],  # noqa: F811
) -> None:
    server, env, fake_url = with_llm
    control(fake_url, reset=True, behaviours={"model:fake-large": "text"})
    key = create_key(env, f"client-generate-{uuid.uuid4().hex[:8]}@example.com")
    with Client(server.base_url, key) as client:
        job = client.generate_template("a certificate of attendance")
        assert job.type == "template_generate" and job.template is None
        done = client.wait(job, timeout=120)
        assert done.status == "succeeded", done.error
        assert done.template is not None and done.template.version == 1
        template = client.get_template(done.template.id)
        assert template.name == "a certificate of attendance" and template.body
        assert "Sample Customer" in pdf_text(client.pdf_bytes(done))
