"""`pdfprompt submit` as a user runs it against `pdfprompt serve`: the PDF written, from a
file and from standard input; every failure one line on stderr with its own exit code, never
a traceback; `pdfprompt batch` filling a template from a CSV file (a ZIP, or one merged PDF),
and a bad row named in one line."""

from __future__ import annotations

import uuid
import zipfile
from pathlib import Path

import httpx
import pytest
from pypdf import PdfReader

from tests.e2e.test_template_batches import CSV, INVOICE_BODY, INVOICE_SCHEMA
from tests.support.databases import free_port
from tests.support.processes import Process, cli, create_key
from tests.support.render import pdf_text

pytestmark = pytest.mark.one_database("postgresql")

Served = tuple[Process, dict[str, str]]


@pytest.fixture
def key(service: Served) -> str:
    return create_key(service[1], f"cli-{uuid.uuid4().hex[:12]}@example.com")


def _client_env(env: dict[str, str], **extra: str) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in ("PDFPROMPT_SERVER", "PDFPROMPT_KEY")} | extra


def _job_id(out: str) -> str:
    return str(uuid.UUID(out.strip().splitlines()[0]))


def test_submit_a_file_writes_its_pdf(service: Served, key: str, tmp_path: Path) -> None:
    server, env = service
    doc = tmp_path / "note.md"
    doc.write_text("# Submitted from a shell\n\nwith **pdfprompt submit**\n")
    options = tmp_path / "options.json"
    options.write_text('{"format": "Letter", "title": "From a file"}')
    done = cli(
        _client_env(env),
        "submit",
        str(doc),
        "--server",
        server.base_url,
        "--key",
        key,
        "--options",
        f"@{options}",
    )
    _job_id(done.stdout)
    pdf = tmp_path / "note.pdf"  # INPUT.pdf by default
    assert "Submitted from a shell" in pdf_text(pdf.read_bytes())
    assert f"wrote {pdf}" in done.stderr


def test_submit_stdin_with_the_environment(service: Served, key: str, tmp_path: Path) -> None:
    server, env = service
    out = tmp_path / "from-stdin.pdf"
    done = cli(
        _client_env(env, PDFPROMPT_SERVER=server.base_url, PDFPROMPT_KEY=key),
        "submit",
        "-",
        "--type",
        "html",
        "-o",
        str(out),
        stdin="<h1>Piped in</h1><p>through standard input</p>",
    )
    job_id = _job_id(done.stdout)
    assert "Piped in" in pdf_text(out.read_bytes())
    queued = cli(
        _client_env(env, PDFPROMPT_SERVER=server.base_url, PDFPROMPT_KEY=key),
        "submit",
        "-",
        "--no-wait",
        stdin="# later",
    )
    assert _job_id(queued.stdout) != job_id
    assert not list(tmp_path.glob(f"{_job_id(queued.stdout)}*"))


def test_submit_writes_the_pdf_to_stdout(service: Served, key: str, tmp_path: Path) -> None:
    import subprocess

    from tests.support.processes import PDFPROMPT

    server, env = service
    done = subprocess.run(
        [PDFPROMPT, "submit", "-", "-o", "-", "--server", server.base_url, "--key", key],
        input=b"# To stdout",
        capture_output=True,
        env=_client_env(env),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(b"%PDF-") and "To stdout" in pdf_text(done.stdout)
    _job_id(done.stderr.decode())


@pytest.mark.parametrize(
    ("case", "code", "said"),
    [
        ("closed port", 4, "cannot connect to http://127.0.0.1:"),
        ("not a url", 2, "not a server URL"),
        ("bad key", 3, "the server refused the key"),
        ("no key", 2, "no API key"),
        ("bad options", 2, "--options: not JSON"),
        ("bad option value", 2, "field options.scale"),
        ("missing file", 2, "cannot read"),
    ],
)
def test_failures_are_one_clear_line(
    service: Served, key: str, tmp_path: Path, case: str, code: int, said: str
) -> None:
    server, env = service
    doc = tmp_path / "doc.md"
    doc.write_text("# failing")
    args = {"server": server.base_url, "key": key, "options": "{}", "input": str(doc)}
    if case == "closed port":
        args["server"] = f"http://127.0.0.1:{free_port()}"
    elif case == "not a url":
        args["server"] = "localhost:8000"
    elif case == "bad key":
        args["key"] = "pp_wrong"
    elif case == "no key":
        args["key"] = ""
    elif case == "bad options":
        args["options"] = "{format: A4"
    elif case == "bad option value":
        args["options"] = '{"scale": 7}'
    elif case == "missing file":
        args["input"] = str(tmp_path / "absent.md")
    done = cli(
        _client_env(env),
        "submit",
        args["input"],
        "--server",
        args["server"],
        "--key",
        args["key"],
        "--options",
        args["options"],
        check=False,
    )
    assert done.returncode == code, done.stderr
    assert said in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "doc.pdf").exists()


def test_a_wait_that_times_out_and_a_job_canceled_meanwhile(
    service: Served, key: str, tmp_path: Path
) -> None:
    """`--timeout` passed: exit 6. The job canceled while the command waits: exit 1, no PDF."""
    import subprocess

    from pdfprompt.client import Client
    from tests.support.jobs import SLOW_MARKDOWN
    from tests.support.processes import PDFPROMPT

    server, env = service
    slow = tmp_path / "slow.md"
    slow.write_text(SLOW_MARKDOWN)
    base = ["--server", server.base_url, "--key", key]
    with Client(server.base_url, key) as client:
        late = cli(_client_env(env), "submit", str(slow), "--timeout", "0.5", *base, check=False)
        assert late.returncode == 6, late.stderr
        assert "not finished within 0.5 s" in late.stderr and "Traceback" not in late.stderr
        client.cancel(_job_id(late.stdout))

        waiting = subprocess.Popen(
            [PDFPROMPT, "submit", str(slow), *base],
            env=_client_env(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert waiting.stdout is not None and waiting.stderr is not None
        job_id = _job_id(waiting.stdout.readline())
        client.cancel(job_id)
        assert waiting.wait(timeout=60) == 1
        assert f"job {job_id} canceled" in waiting.stderr.read()
        waiting.stdout.close()
        waiting.stderr.close()
    assert not (tmp_path / "slow.pdf").exists()


def test_batch_refuses_a_missing_data_file_or_key(service: Served, tmp_path: Path) -> None:
    """What `pdfprompt batch` refuses before it calls the server (its run against a server
    is tested with the batch routes)."""
    server, env = service
    missing = cli(
        _client_env(env, PDFPROMPT_SERVER=server.base_url, PDFPROMPT_KEY="pp_x"),
        "batch", "invoice", str(tmp_path / "absent.csv"), check=False,
    )  # fmt: skip
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    rows = tmp_path / "rows.csv"
    rows.write_text("number\n1\n")
    no_key = cli(
        _client_env(env, PDFPROMPT_SERVER=server.base_url), "batch", "invoice", str(rows),
        check=False,
    )  # fmt: skip
    assert no_key.returncode == 2 and "no API key" in no_key.stderr
    assert "Traceback" not in missing.stderr + no_key.stderr


def _invoice_template(server: Process, key: str) -> None:
    made = httpx.post(
        f"{server.base_url}/v1/templates",
        headers={"Authorization": f"Bearer {key}"},
        json={"name": "invoice", "engine": "html", "body": INVOICE_BODY, "schema": INVOICE_SCHEMA},
    )
    assert made.status_code == 201, made.text


@pytest.mark.parametrize("merge", [False, True])
def test_batch_fills_a_template_from_a_csv(
    service: Served, key: str, tmp_path: Path, merge: bool
) -> None:
    server, env = service
    _invoice_template(server, key)
    data = tmp_path / "rows.csv"
    data.write_text(CSV)
    out = tmp_path / ("all.pdf" if merge else "all.zip")
    args = ["batch", "invoice", str(data), "--server", server.base_url, "--key", key]
    args += ["--filename", "invoice-{number}.pdf", "-o", str(out)]
    done = cli(_client_env(env), *args, *(["--merge"] if merge else []), check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("bat_")
    assert f"wrote {out} (3 PDFs" in done.stderr and "Traceback" not in done.stderr
    if merge:
        assert len(PdfReader(out).pages) == 3 * 2
        assert "Café, Nord" in pdf_text(out.read_bytes())
    else:
        with zipfile.ZipFile(out) as zipped:
            names = zipped.namelist()
            assert names == ["invoice-A-1.pdf", "invoice-A-2.pdf", "invoice-A-3.pdf"]
            assert all(zipped.read(n).startswith(b"%PDF-") for n in names)


def test_batch_with_a_bad_row_names_the_row_and_field(
    service: Served, key: str, tmp_path: Path
) -> None:
    server, env = service
    _invoice_template(server, key)
    data = tmp_path / "rows.csv"
    data.write_text(CSV + "A-4,Dag,Bodø,cheap,2,true\n")
    out = tmp_path / "none.zip"
    args = ["batch", "invoice", str(data), "--server", server.base_url, "--key", key]
    done = cli(_client_env(env), *args, "-o", str(out), check=False)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("pdfprompt: rows.csv: row 3 (data row 4), column amount: ")
    assert "items/3/amount" in lines[0]
    assert "Traceback" not in done.stderr and done.stdout == "" and not out.exists()
    # Its neighbour: an unknown template is one line naming the template.
    data.write_text(CSV)
    unknown = cli(
        _client_env(env), "batch", "nope", str(data), "--server", server.base_url, "--key", key,
        check=False,
    )  # fmt: skip
    assert unknown.returncode == 2 and "template" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1
