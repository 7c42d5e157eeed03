"""The client's decisions, apart from any I/O: when it retries and how long it waits, how it
reads Server-Sent Events and error answers; that its sync and async halves offer the same
calls; and that it stands alone (loads no other room; the worker does not load it)."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from pdfprompt.cli.remote import bad_row, guess_type
from pdfprompt.client import (
    ApiError,
    AsyncClient,
    Client,
    InvalidInput,
    NotFound,
    QuotaExceeded,
    RateLimited,
    Retries,
    Unavailable,
    WaitTimeout,
)
from pdfprompt.client.core import BrokenStream, EventParser, Follow, retry_after_s, writing
from pdfprompt.client.errors import api_error

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("5", 5.0),
        (" 0 ", 0.0),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        (format_datetime(NOW - timedelta(seconds=90), usegmt=True), 0.0),  # already past
        ("-3", None),
        ("1.5", None),  # HTTP gives whole seconds
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_both_forms(header: str | None, seconds: float | None) -> None:
    assert retry_after_s(header, now=NOW) == seconds


def _error(status: int, code: str, retry_after: float | None = None) -> ApiError:
    body = f'{{"code": "{code}", "detail": "x", "status": {status}}}'.encode()
    return api_error(status, "application/problem+json", body, retry_after)


def test_what_is_retried_and_how_long_it_waits() -> None:
    retries = Retries(attempts=3, max_retry_after_s=60)
    assert retries.after_error(0, _error(429, "rate_limited", 2)) == 2
    assert retries.after_error(0, _error(429, "rate_limited", 3600)) == 60
    assert retries.after_error(0, _error(503, "unavailable", 1)) == 1
    assert 0 <= (retries.after_error(1, _error(503, "unavailable")) or -1) <= 1.0
    assert retries.after_error(2, _error(503, "unavailable", 1)) is None  # attempts spent
    for status, code in [
        (429, "quota_exceeded"),
        (422, "invalid_input"),
        (404, "not_found"),
        (409, "conflict"),
        (401, "unauthorized"),
        (500, "internal"),
    ]:
        assert retries.after_error(0, _error(status, code, 1)) is None, code
    assert retries.after_network(0, sent=False, replayable=False) is not None
    assert retries.after_network(0, sent=True, replayable=True) is not None
    assert retries.after_network(0, sent=True, replayable=False) is None
    assert retries.after_network(2, sent=False, replayable=True) is None
    assert Retries(attempts=1).after_error(0, _error(503, "unavailable", 1)) is None


def test_errors_by_code_and_from_bodies_that_are_not_problems() -> None:
    bad = api_error(
        422,
        "application/problem+json",
        b'{"code": "invalid_input", "title": "Invalid input", "detail": "data/items/0/price: '
        b'must be a number", "field": "data/items/0/price", "errors": [{"field": "data/items/'
        b'0/price", "message": "must be a number"}, 3]}',
    )
    assert isinstance(bad, InvalidInput) and bad.field == "data/items/0/price"
    assert bad.errors == [{"field": "data/items/0/price", "message": "must be a number"}]
    assert isinstance(_error(404, "not_found"), NotFound)
    assert isinstance(_error(429, "quota_exceeded"), QuotaExceeded)
    unknown = _error(418, "teapot")
    assert type(unknown) is ApiError and unknown.code == "teapot"
    html = api_error(503, "text/html", b"<html><h1>Down</h1>\n<p>for maintenance</p></html>")
    assert isinstance(html, Unavailable) and html.detail == "Down for maintenance"
    assert isinstance(api_error(429, "application/json", b"[1, 2]"), RateLimited)
    empty = api_error(502, "", b"")
    assert empty.code == "http_502" and "502" in empty.detail
    huge = api_error(500, "text/plain", b"x" * 100_000)
    assert len(huge.detail) <= 300


def test_a_batchs_bad_rows_their_total_and_the_line_the_command_prints() -> None:
    listed = [
        {"row": 3, "field": "items/3/customer/name", "message": "42 is not of type 'string'"},
        {"row": 3, "field": "items/3/qty", "message": "'x' is not integer"},
        {"row": 8, "field": "items/8", "message": "'paid' is a required property"},
    ]
    body = json.dumps({"code": "invalid_input", "field": listed[0]["field"], "detail": "d",
                       "errors": listed, "errors_total": 250}).encode()  # fmt: skip
    refused = api_error(422, "application/problem+json", body)
    assert isinstance(refused, InvalidInput) and refused.errors == listed
    assert refused.errors_total == 250
    assert bad_row(refused, "rows.csv") == (
        "rows.csv: row 3 (data row 4), column customer.name: 42 is not of type 'string'; "
        "249 more errors (422 invalid_input, field items/3/customer/name)"
    )
    whole_row = api_error(422, "application/json", json.dumps({"errors": listed[2:]}).encode())
    assert whole_row.errors_total == 1  # no total given: the listed ones
    assert bad_row(whole_row, "r.jsonl") == (
        "r.jsonl: row 8 (data row 9): 'paid' is a required property (422 invalid_input, "
        "field items/8)"
    )
    for neighbour in (
        api_error(422, "application/json", b'{"field": "template", "detail": "unknown"}'),
        api_error(422, "application/json", b'{"errors": [{"field": "file", "message": "x"}]}'),
        api_error(422, "application/json", b'{"errors": ["text"], "errors_total": true}'),
    ):
        assert bad_row(neighbour, "rows.csv") is None
        assert neighbour.errors_total == len(neighbour.errors)


def test_server_sent_events() -> None:
    parser = EventParser()
    lines = [
        ": keep-alive",
        "",
        "id: 1",
        "event: job",
        'data: {"id": "a",',
        'data: "status": "running"}',
        "",
        "data:no space",
        "",
        "event: deleted",
        "data: {}",
        "",
    ]
    events = [e for e in map(parser.feed, lines) if e is not None]
    assert [(e.event, e.data, e.id) for e in events] == [
        ("job", '{"id": "a",\n"status": "running"}', "1"),
        ("message", "no space", "1"),
        ("deleted", "{}", "1"),
    ]
    big = EventParser()
    with pytest.raises(BrokenStream):
        for _ in range(5000):
            big.feed("data: " + "x" * 1000)


def test_server_sent_events_as_bytes_arrive() -> None:
    """Lines end with CRLF, LF or CR, split anywhere between chunks (a CRLF too); a line
    that never ends is refused once it passes the limit, not held without end."""
    stream = b'event: job\r\ndata: {"id": "a"}\r\n\r\ndata: b\rdata: c\r\r: ok\n\ndata: d\n\n'
    for size in (1, 2, 3, 7, len(stream)):
        parser = EventParser()
        events = []
        for i in range(0, len(stream), size):
            events += parser.feed_bytes(stream[i : i + size])
        assert [(e.event, e.data) for e in events] == [
            ("job", '{"id": "a"}'),
            ("message", "b\nc"),
            ("message", "d"),
        ], size
    endless = EventParser()
    with pytest.raises(BrokenStream, match="longer than the client reads"):
        for _ in range(100):
            endless.feed_bytes(b"data: " + b"x" * 65536)


def test_a_wait_ends_at_its_deadline_and_polls_ever_less_often() -> None:
    now = [100.0]
    follow = Follow("job x", 10, lambda: now[0])
    delays = [follow.next_poll() for _ in range(12)]
    assert delays[0] == 0.25 and delays == sorted(delays) and max(delays) == 5.0
    now[0] = 108.0
    assert follow.next_poll() == 2.0  # never past the deadline
    assert follow.read_timeout() == 2.0
    now[0] = 110.0
    with pytest.raises(WaitTimeout, match="job x not finished within 10 s"):
        follow.remaining()
    assert Follow("job y", None, lambda: 0.0).read_timeout() == 45.0


def test_a_download_to_a_path_is_whole_or_absent(tmp_path: Path) -> None:
    out = tmp_path / "a.pdf"
    with writing(out) as write:
        write(b"%PDF-1.7 ")
        write(b"whole")
    assert out.read_bytes() == b"%PDF-1.7 whole"
    with pytest.raises(RuntimeError), writing(out) as write:
        write(b"half")
        raise RuntimeError("connection lost")
    assert out.read_bytes() == b"%PDF-1.7 whole"  # the earlier file stays
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pdf"]


def test_sync_and_async_offer_the_same_calls() -> None:
    def public(cls: type) -> dict[str, list[str]]:
        return {
            name: list(inspect.signature(member).parameters)
            for name, member in inspect.getmembers(cls, inspect.isfunction)
            if not name.startswith("_") and name not in ("close", "aclose")
        }

    sync, aio = public(Client), public(AsyncClient)
    assert sync == aio
    for name in sync:
        is_iterator = name.startswith("iter_")
        assert inspect.iscoroutinefunction(getattr(AsyncClient, name)) is not is_iterator, name


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a.md", "markdown"),
        ("a.MARKDOWN", "markdown"),
        ("a.html", "html"),
        ("a.HTM", "html"),
        ("a.txt", "markdown"),
        ("notes", "markdown"),
        ("-", "markdown"),
    ],
)
def test_submit_guesses_the_type_from_the_name(name: str, kind: str) -> None:
    assert guess_type(name) == kind


def _loaded(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", "import sys\n" + code], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_the_client_loads_no_other_room_and_the_worker_not_the_client() -> None:
    rooms = _loaded(
        "import pdfprompt.client\n"
        "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('pdfprompt.')}))"
    )
    assert rooms == "['client']"
    assert "pydantic_settings" not in _loaded("import pdfprompt.client\nprint(sorted(sys.modules))")
    worker = _loaded(
        "import pdfprompt.cli.worker, pdfprompt.cli\n"
        "print(sorted(m for m in sys.modules if m.startswith(('pdfprompt.client', 'rich'))))"
    )
    assert worker == "[]"
