"""`pdfprompt submit`, `pdfprompt batch` and the PDF jobs (`merge`, `split`, `finish`): the
Python client (`pdfprompt.client`) from a shell, against a running server
(`--server`/`PDFPROMPT_SERVER`, `--key`/`PDFPROMPT_KEY`).
They read no settings and open nothing of a server's own; the client and `rich` load only
when one of them runs.

Exit codes (docs/client.md): 0 done; 1 the job (or a job of the batch) failed or was
canceled; 2 bad usage or input (a missing file, bad options, `invalid_input`, `not_found`);
3 the key was refused (`unauthorized`, `forbidden`); 4 the server could not be reached or
failed (a connection error, 5xx, `unavailable` after the retries); 5 `quota_exceeded` or
`rate_limited` after the retries; 6 `--timeout` passed before the work finished."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pdfprompt.cli.common import SubParsers

if TYPE_CHECKING:
    from pdfprompt.client import Batch, Client, Job

OK, FAILED, USAGE, REFUSED, UNREACHABLE, LIMITED, TIMED_OUT = range(7)
# Read on the client's machine by `submit` and `batch` (docs/client.md), not a server's settings.
SERVER_VARIABLE, KEY_VARIABLE = "PDFPROMPT_SERVER", "PDFPROMPT_KEY"
CLIENT_VARIABLES = (SERVER_VARIABLE, KEY_VARIABLE)
TYPES_BY_SUFFIX = {".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html"}


class UsageError(Exception):
    """A mistake in the command line or its files (exit 2)."""


def register(sub: SubParsers[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("submit", help="send a document to a pdfprompt server and fetch its PDF")
    s.add_argument("input", help="a .md, .html or text file, or - for standard input")
    s.add_argument(
        "--type",
        choices=["markdown", "html", "prompt"],
        help="default: html for .html/.htm, else markdown (a prompt only when asked for)",
    )
    _options(s)
    s.add_argument(
        "-o", "--output", help="the PDF (default: INPUT.pdf, or JOB_ID.pdf from stdin; - stdout)"
    )
    s.add_argument("--no-wait", action="store_true", help="print the job id and return")
    connection(s)
    s.set_defaults(remote=_submit)

    b = sub.add_parser("batch", help="fill a template with each row of a CSV or JSONL file")
    b.add_argument("template", help="the template's id or name (NAME@VERSION for a version)")
    b.add_argument("data", help="a .csv file with a header row, or .jsonl (one object a line)")
    _options(b)
    b.add_argument("--filename", help='names in the archive, e.g. "invoice-{number}.pdf"')
    b.add_argument("-o", "--output", help="the archive (default: BATCH_ID.zip, .pdf with --merge)")
    b.add_argument("--merge", action="store_true", help="one PDF of every row instead of a ZIP")
    b.add_argument("--no-wait", action="store_true", help="print the batch id and return")
    connection(b)
    b.set_defaults(remote=_batch)

    pdf_help = "a local .pdf file (uploaded), or an asset's id or name, a job's or a file's id"
    m = sub.add_parser("merge", help="merge PDFs into one on a pdfprompt server")
    m.add_argument("inputs", nargs="+", metavar="PDF", help=pdf_help)
    sp = sub.add_parser("split", help="split a PDF into one PDF per range, in a ZIP archive")
    sp.add_argument("input", metavar="PDF", help=pdf_help)
    sp.add_argument("ranges", help="the pages of each part, e.g. 1-3,4-")
    f = sub.add_parser("finish", help="apply options (information, finishing) to a PDF")
    f.add_argument("input", metavar="PDF", help=pdf_help)
    for p in (m, sp, f):
        p.add_argument("--options", help="options: JSON text, or @FILE.json")
        p.add_argument("-o", "--output", help="where to write the result (- for stdout)")
        p.add_argument("--no-wait", action="store_true", help="print the job id and return")
        connection(p)
        p.set_defaults(remote=_pdf_job, command=p.prog.split()[-1])


def _options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--options", help="render options: JSON text, or @FILE.json")


def connection(p: argparse.ArgumentParser, *, timeout: bool = True) -> None:
    """The options naming the server and the key (and `--timeout` for the work)."""
    p.add_argument("--server", help="the server's URL (default: $PDFPROMPT_SERVER)")
    p.add_argument("--key", help="an API key (default: $PDFPROMPT_KEY)")
    if timeout:
        p.add_argument("--timeout", type=float, help="seconds to wait for the work at most")


def run(args: argparse.Namespace) -> int:
    """Run `submit` or `batch`; the exit code. Every failure is one line on stderr."""
    from pdfprompt.client import ClientError

    try:
        code: int = args.remote(args)
        return code
    except UsageError as exc:
        return _fail(USAGE, str(exc))
    except ClientError as exc:
        return _fail(*_explain(exc))
    except KeyboardInterrupt:
        return _fail(130, "interrupted")


def _fail(code: int, message: str) -> int:
    print(f"pdfprompt: {message}", file=sys.stderr)
    return code


def _explain(exc: Exception) -> tuple[int, str]:
    from pdfprompt.client import (
        ApiError,
        NetworkError,
        QuotaExceeded,
        RateLimited,
        Unauthorized,
        WaitTimeout,
    )

    if isinstance(exc, NetworkError):
        return UNREACHABLE, str(exc)
    if isinstance(exc, WaitTimeout):
        return TIMED_OUT, str(exc)
    if not isinstance(exc, ApiError):
        return UNREACHABLE, str(exc)
    said = f"{exc.detail} ({exc.status} {exc.code}"
    said += f", field {exc.field})" if exc.field else ")"
    if isinstance(exc, Unauthorized):
        return REFUSED, f"the server refused the key: {said}"
    if isinstance(exc, QuotaExceeded | RateLimited):
        return LIMITED, said
    if exc.status >= 500:
        return UNREACHABLE, f"the server failed: {said}"
    return USAGE, said


def server_and_key(args: argparse.Namespace) -> tuple[str, str]:
    """`--server` and `--key`, or the environment's; UsageError when either is missing."""
    server = args.server or os.environ.get(SERVER_VARIABLE, "")
    key = args.key or os.environ.get(KEY_VARIABLE, "")
    if not server:
        raise UsageError("no server: give --server URL or set PDFPROMPT_SERVER")
    if not key:
        raise UsageError("no API key: give --key KEY or set PDFPROMPT_KEY")
    return server, key


def _client(args: argparse.Namespace) -> Client:
    from pdfprompt.client import Client

    server, key = server_and_key(args)
    try:
        return Client(server, key)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _read_options(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        if text.startswith("@"):
            text = Path(text[1:]).read_text("utf-8")
        value = json.loads(text)
    except OSError as exc:
        raise UsageError(f"--options: cannot read {exc.filename}: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(f"--options: not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UsageError("--options: must be a JSON object")
    return value


def _read_input(name: str) -> str:
    if name == "-":
        return sys.stdin.read()
    try:
        return Path(name).read_text("utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{name} is not UTF-8 text") from None


def guess_type(name: str) -> str:
    """html for .html/.htm, markdown otherwise (as `pdfprompt render` guesses): a prompt,
    which a model writes, only when `--type prompt` asks for one."""
    return TYPES_BY_SUFFIX.get(Path(name).suffix.lower(), "markdown") if name != "-" else "markdown"


def _submit(args: argparse.Namespace) -> int:
    text = _read_input(args.input)
    options = _read_options(args.options)
    job_type = args.type or guess_type(args.input)
    with _client(args) as client:
        job = client.submit(job_type, text, options)
        return _follow(client, job, args, lambda j: _default_output(args.input, j.id, ".pdf"))


def _follow(
    client: Client, job: Job, args: argparse.Namespace, default: Callable[[Job], str]
) -> int:
    """Print the job's id, wait for it unless `--no-wait`, and write its file to
    `--output` (`-`: standard output) or `default(job)`."""
    to_stdout = args.output == "-"
    print(job.id, file=sys.stderr if to_stdout else sys.stdout, flush=True)
    if args.no_wait:
        return OK
    job = client.wait(job, timeout=args.timeout)
    if job.status != "succeeded":
        why = f": {job.error.code}: {job.error.message}" if job.error else ""
        return _fail(FAILED, f"job {job.id} {job.status}{why}")
    for warning in job.warnings:
        print(f"pdfprompt: warning: {warning.code}: {warning.message}", file=sys.stderr)
    if to_stdout:
        client.download(job, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return OK
    out = Path(args.output or default(job))
    size = client.download(job, out)
    pages = job.file.pages if job.file else 0
    print(f"wrote {out} ({pages} pages, {size} bytes)", file=sys.stderr)
    return OK


def _pdf_ref(client: Client, given: str) -> str:
    """A PDF for a PDF job: a local file is uploaded as an asset named after its bytes
    (the same file, the same asset), anything else is sent as it is (an asset's id or
    name, a job's or a file's id)."""
    path = Path(given)
    if not path.is_file():
        return given
    data = path.read_bytes()
    name = f"upload-{hashlib.sha256(data).hexdigest()[:16]}.pdf"
    return client.upload_asset(data, name, replace=True).id


def _pdf_job(args: argparse.Namespace) -> int:
    options = _read_options(args.options)
    with _client(args) as client:
        if args.command == "merge":
            refs = [_pdf_ref(client, i) for i in args.inputs]
            job = client.submit_merge(refs, options)
            return _follow(client, job, args, lambda j: f"{j.id}.pdf")
        ref = _pdf_ref(client, args.input)
        if args.command == "split":
            job = client.submit_split(ref, args.ranges, options)
            return _follow(client, job, args, lambda j: _default_output(args.input, j.id, ".zip"))
        job = client.submit_pdf(ref, options)
        return _follow(
            client, job, args, lambda j: _default_output(args.input, j.id, "") + "-finished.pdf"
        )


def _default_output(source: str, fallback: str, suffix: str) -> str:
    return f"{fallback}{suffix}" if source == "-" else str(Path(source).with_suffix(suffix))


def _batch(args: argparse.Namespace) -> int:
    data = Path(args.data)
    if not data.is_file():
        raise UsageError(f"cannot read {args.data}: no such file")
    options = _read_options(args.options)
    from pdfprompt.client import InvalidInput

    with _client(args) as client:
        try:
            batch = client.create_batch(
                template=args.template, file=data, options=options, filename=args.filename
            )
        except InvalidInput as exc:
            bad = bad_row(exc, data.name)
            if bad is None:
                raise
            return _fail(USAGE, bad)
        print(batch.id, flush=True)
        if args.no_wait:
            return OK
        batch = _follow_batch(client, batch, args.timeout)
        out = Path(args.output or f"{batch.id}{'.pdf' if args.merge else '.zip'}")
        if batch.counts.succeeded:
            size = client.download_archive(batch, out, merge=args.merge)
            print(f"wrote {out} ({batch.counts.succeeded} PDFs, {size} bytes)", file=sys.stderr)
        if batch.counts.succeeded != batch.total:
            counts = batch.counts
            return _fail(
                FAILED,
                f"batch {batch.id} {batch.status}: {counts.succeeded} of {batch.total} "
                f"succeeded, {counts.failed} failed, {counts.canceled} canceled",
            )
    return OK


def bad_row(exc: Exception, source: str) -> str | None:
    """One line naming the first bad row of a refused batch file (its row counted from 0,
    the header not counted, as the server counts) and its column, and how many more errors
    there are; None for a refusal that names no row."""
    errors = getattr(exc, "errors", [])
    first = errors[0] if errors else None
    if not isinstance(first, dict) or not isinstance(first.get("row"), int):
        return None
    row: int = first["row"]
    field = str(first.get("field") or "")
    column = field.removeprefix(f"items/{row}").strip("/").replace("/", ".")
    where = f"{source}: row {row} (data row {row + 1})"
    where += f", column {column}" if column else ""
    message = str(first.get("message") or "invalid")
    more = int(getattr(exc, "errors_total", len(errors))) - 1
    tail = f"; {more} more error{'s' if more != 1 else ''}" if more > 0 else ""
    return f"{where}: {message}{tail} (422 invalid_input, field {field})"


def _follow_batch(client: Client, batch: Batch, timeout_s: float | None) -> Batch:
    """Wait for the batch with a progress bar on stderr (a terminal's; plain otherwise)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    console = Console(stderr=True)
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(f"batch {batch.id}", total=batch.total, completed=batch.done)

        def show(now: Batch) -> None:
            failed = f" ({now.counts.failed} failed)" if now.counts.failed else ""
            progress.update(
                task, completed=now.done, total=now.total, description=f"{now.status}{failed}"
            )

        return client.wait_batch(batch, timeout=timeout_s, on_change=show)
