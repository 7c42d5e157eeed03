"""The Python client (`pdfprompt.client`) against `pdfprompt serve` on each database, over
real HTTP: submit, wait, download, sync and async; and through a loopback proxy that breaks
things on purpose: an event stream cut (the wait polls), an answer lost after the server acted
(the retry carries the same Idempotency-Key: one job), 429 and 503 answers (the retry waits
as Retry-After says), answers that are not problems."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from pdfprompt.client import (
    ApiError,
    AsyncClient,
    Client,
    InvalidInput,
    NetworkError,
    NotFound,
    ProtocolError,
    QuotaExceeded,
    RateLimited,
    Unauthorized,
    Unavailable,
)
from tests.support.processes import Process, create_key
from tests.support.proxy import Answer, CutAnswer, DropAnswer, Forward, Proxy, Seen, proxy
from tests.support.render import pdf_text

pytestmark = pytest.mark.one_database("postgresql")

Served = tuple[Process, dict[str, str]]
PROBLEM = {"Content-Type": "application/problem+json"}


def _problem(code: str, status: int, detail: str = "try later") -> bytes:
    return json.dumps(
        {
            "type": f"/problems/{code}",
            "title": code,
            "status": status,
            "detail": detail,
            "code": code,
        }
    ).encode()


@pytest.fixture
def key(service: Served, request: pytest.FixtureRequest) -> str:
    return create_key(service[1], f"client-{uuid.uuid4().hex[:12]}@example.com")


@pytest.fixture
def client(service: Served, key: str) -> Iterator[Client]:
    with Client(service[0].base_url, key) as c:
        yield c


class Recorder:
    """The client's sleep, recorded in the proxy's log (so its order against the requests
    the proxy saw is known) and not slept: what the test checks is what the client waited
    for and when, not the clock."""

    def __init__(self, log: Proxy) -> None:
        self.proxy = log
        self.slept: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.proxy.note("sleep", f"{seconds:g}")


def test_submit_wait_download_markdown(client: Client, tmp_path: Path) -> None:
    job = client.submit_markdown("# Client hello\n\nFrom the *sync* client.", {"title": "Hi"})
    assert job.status == "queued" and job.type == "markdown"
    done = client.wait(job, timeout=60)
    assert done.status == "succeeded" and done.id == job.id
    assert done.file is not None and done.file.pages == 1
    out = tmp_path / "hello.pdf"
    written = client.download(done, out)
    assert written == done.file.size_bytes == out.stat().st_size
    text = pdf_text(out.read_bytes())
    assert "Client hello" in text and "sync" in text
    assert [p.name for p in tmp_path.iterdir()] == ["hello.pdf"]  # no temporary file left
    assert client.pdf_bytes(done.id) == out.read_bytes()
    info = client.get_file(done.file)
    assert info.pages == 1 and info.content_type == "application/pdf"
    as_file = io.BytesIO()
    client.download(info, as_file)
    assert as_file.getvalue() == out.read_bytes()
    assert [j.id for j in client.list_jobs().items] == [job.id]
    assert client.usage().pdfs_used == 1


def test_pages_are_followed_to_the_end(client: Client) -> None:
    made = [client.submit_html(f"<p>page {i}</p>").id for i in range(5)]
    first = client.list_jobs(limit=2)
    assert len(first.items) == 2 and first.next_cursor is not None
    assert [j.id for j in client.iter_jobs(page_size=2)] == made[::-1]
    for job_id in made:
        client.wait(job_id, timeout=60)


async def test_async_submit_wait_download_html(service: Served, key: str) -> None:
    async with AsyncClient(service[0].base_url, key) as client:
        job = await client.submit_html("<h1>Async hello</h1><p>from asyncio</p>")
        seen: list[str] = []
        done = await client.wait(job, timeout=60, on_change=lambda j: seen.append(j.status))
        assert done.status == "succeeded" and seen[-1] == "succeeded"
        out = io.BytesIO()
        size = await client.download(done, out)
        assert done.file is not None and size == done.file.size_bytes
        assert "Async hello" in pdf_text(out.getvalue())
        assert [j.id async for j in client.iter_jobs()] == [job.id]
        with pytest.raises(NotFound):
            await client.get_job(str(uuid.uuid4()))


def test_wait_polls_when_the_event_stream_is_cut(service: Served, key: str) -> None:
    """The events answer starts (200, its head) and the connection closes: the wait goes on
    by polling the job until it is finished."""

    def rule(seen: Seen, _: int) -> Forward | CutAnswer:
        return CutAnswer(0) if seen.target.endswith("/events") else Forward()

    with proxy(service[0].base_url, rule) as p, Client(p.url, key) as client:
        job = client.submit_markdown("# Cut stream\n\nstill printed")
        done = client.wait(job, timeout=60)
        assert done.status == "succeeded"
        assert len(p.requests("GET", f"/v1/jobs/{job.id}/events")) == 1
        assert ("cut", "answer cut") in p.log
        polls = p.requests("GET", f"/v1/jobs/{job.id}")
        assert len([s for s in polls if s.target == f"/v1/jobs/{job.id}"]) >= 1
        assert "Cut stream" in pdf_text(client.pdf_bytes(done))


def test_wait_follows_the_event_stream(service: Served, key: str) -> None:
    with proxy(service[0].base_url, lambda s, c: Forward()) as p, Client(p.url, key) as client:
        job = client.submit_markdown("# Streamed")
        assert client.wait(job, timeout=60).status == "succeeded"
        assert len(p.requests("GET", f"/v1/jobs/{job.id}/events")) == 1
        assert not [s for s in p.seen if s.target == f"/v1/jobs/{job.id}"]  # no poll


async def test_async_wait_polls_when_the_event_stream_is_cut(service: Served, key: str) -> None:
    def rule(seen: Seen, _: int) -> Forward | CutAnswer:
        # The head and a few bytes of the first event: cut inside it.
        return CutAnswer(12) if seen.target.endswith("/events") else Forward()

    with proxy(service[0].base_url, rule) as p:
        async with AsyncClient(p.url, key) as client:
            job = await client.submit_html("<p>async, cut</p>")
            done = await client.wait(job, timeout=60)
            assert done.status == "succeeded"
            assert ("cut", "answer cut") in p.log
            assert [s for s in p.seen if s.target == f"/v1/jobs/{job.id}"]
            assert "async, cut" in pdf_text(await client.pdf_bytes(done))


def test_a_lost_answer_is_retried_with_the_same_idempotency_key(service: Served, key: str) -> None:
    """The server made the job but its answer never arrived: the client sends the call again
    with the same key and gets that job back; there is one job, not two."""

    def rule(seen: Seen, count: int) -> Forward | DropAnswer:
        return DropAnswer() if seen.method == "POST" and count == 0 else Forward()

    with proxy(service[0].base_url, rule) as p, Client(p.url, key) as client:
        client._sleep = Recorder(p)  # type: ignore[assignment]
        job = client.submit_markdown("# Once\n\nonly")
        posts = p.requests("POST", "/v1/jobs")
        assert len(posts) == 2
        keys = {s.headers["idempotency-key"] for s in posts}
        assert len(keys) == 1 and uuid.UUID(keys.pop())
        assert [w for w, _ in p.log] == ["request", "dropped", "sleep", "request"]
    with Client(service[0].base_url, key) as direct:
        assert [j.id for j in direct.list_jobs().items] == [job.id]
        assert direct.wait(job, timeout=60).status == "succeeded"
        # Each logical call has its own key: a second submit is a second job.
        other = direct.submit_markdown("# Once\n\nonly")
        assert other.id != job.id


def test_a_call_the_server_does_not_deduplicate_is_not_sent_twice(
    service: Served, key: str, client: Client
) -> None:
    """A share is not deduplicated by key: after a lost answer the client says so rather than
    making a second link."""
    done = client.wait(client.submit_markdown("# Share me"), timeout=60)
    assert done.file is not None

    def rule(seen: Seen, _: int) -> Forward | DropAnswer:
        return DropAnswer() if seen.method == "POST" else Forward()

    with proxy(service[0].base_url, rule) as p, Client(p.url, key) as through:
        with pytest.raises(NetworkError, match="lost the connection"):
            through.create_share(done.file)
        assert len(p.requests("POST", "/v1/files/")) == 1


def test_429_waits_as_retry_after_says_then_succeeds(service: Served, key: str) -> None:
    def rule(seen: Seen, count: int) -> Answer | Forward:
        if seen.method == "POST" and count == 0:
            return Answer(429, _problem("rate_limited", 429), {**PROBLEM, "Retry-After": "2"})
        return Forward()

    with proxy(service[0].base_url, rule) as p, Client(p.url, key) as client:
        client._sleep = Recorder(p)  # type: ignore[assignment]
        job = client.submit_html("<p>after the limit</p>")
        assert job.status == "queued"
        assert p.log == [
            ("request", "POST /v1/jobs"),
            ("sleep", "2"),
            ("request", "POST /v1/jobs"),
        ]
        posts = p.requests("POST", "/v1/jobs")
        assert posts[0].headers["idempotency-key"] == posts[1].headers["idempotency-key"]


@pytest.mark.parametrize(
    ("retry_after", "lowest", "highest"),
    [("3600", 60, 60), ("date", 0, 30), ("soon", 0, 0.5)],
)
def test_retry_after_as_a_date_capped_or_unreadable(
    service: Served, key: str, retry_after: str, lowest: float, highest: float
) -> None:
    """An HTTP date is read as the seconds until it; a wait longer than the cap (60 s) is
    cut to it; an unreadable one falls back to the backoff (first try: at most 0.5 s)."""
    if retry_after == "date":
        retry_after = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)

    def rule(seen: Seen, count: int) -> Answer | Forward:
        if count == 0:
            return Answer(
                429, _problem("rate_limited", 429), {**PROBLEM, "Retry-After": retry_after}
            )
        return Forward()

    with proxy(service[0].base_url, rule) as p, Client(p.url, key) as client:
        recorder = Recorder(p)
        client._sleep = recorder  # type: ignore[assignment]
        client.usage()
        assert len(recorder.slept) == 1 and lowest <= recorder.slept[0] <= highest


def test_retries_are_bounded_and_503_is_retried(service: Served, key: str) -> None:
    def always(seen: Seen, _: int) -> Answer:
        return Answer(503, _problem("unavailable", 503), PROBLEM)

    with proxy(service[0].base_url, always) as p, Client(p.url, key, retries=2) as client:
        recorder = Recorder(p)
        client._sleep = recorder  # type: ignore[assignment]
        with pytest.raises(Unavailable) as raised:
            client.get_job(str(uuid.uuid4()))
        assert raised.value.status == 503 and raised.value.code == "unavailable"
        assert len(p.seen) == 3 and len(recorder.slept) == 2

    def twice(seen: Seen, count: int) -> Answer | Forward:
        return Answer(503, _problem("unavailable", 503), PROBLEM) if count < 2 else Forward()

    with proxy(service[0].base_url, twice) as p, Client(p.url, key) as client:
        client._sleep = Recorder(p)  # type: ignore[assignment]
        assert client.usage().pdfs_used == 0
        assert len(p.seen) == 3


@pytest.mark.parametrize(
    ("answer", "raised", "code"),
    [
        (
            Answer(429, _problem("quota_exceeded", 429, "used up"), PROBLEM),
            QuotaExceeded,
            "quota_exceeded",
        ),
        (Answer(429, _problem("rate_limited", 429), PROBLEM), RateLimited, "rate_limited"),
        (
            Answer(
                502,
                b"<html><body><h1>502 Bad Gateway</h1> nginx</body></html>",
                {"Content-Type": "text/html"},
            ),
            ApiError,
            "http_502",
        ),
        (Answer(503, b"{not json", PROBLEM), Unavailable, "unavailable"),
    ],
)
def test_answers_that_are_not_retried_or_not_problems(
    service: Served, key: str, answer: Answer, raised: type[ApiError], code: str
) -> None:
    def rule(seen: Seen, _: int) -> Answer:
        return answer

    with proxy(service[0].base_url, rule) as p, Client(p.url, key, retries=0) as client:
        with pytest.raises(raised) as error:
            client.usage()
        assert type(error.value) is raised
        assert error.value.status == answer.status and error.value.code == code
        assert error.value.detail and "\n" not in error.value.detail
        assert len(p.seen) == 1
    if code == "quota_exceeded":  # not retried even with retries left
        with proxy(service[0].base_url, rule) as p, Client(p.url, key) as client:
            with pytest.raises(QuotaExceeded):
                client.usage()
            assert len(p.seen) == 1
    if code == "http_502":
        assert "502 Bad Gateway nginx" in error.value.detail


def test_a_server_that_is_not_pdfprompt(service: Served, key: str) -> None:
    """A success that is not JSON (the URL names some web page): a ProtocolError saying so."""

    def rule(seen: Seen, _: int) -> Answer:
        return Answer(200, b"<html><h1>Welcome to nginx</h1></html>", {"Content-Type": "text/html"})

    with (
        proxy(service[0].base_url, rule) as p,
        Client(p.url, key) as client,
        pytest.raises(ProtocolError, match=r"not JSON.*Welcome to nginx"),
    ):
        client.usage()


def test_problems_become_exceptions_with_code_and_field(service: Served, key: str) -> None:
    """Other 4xx are raised at once, never retried: seen once by the server."""
    with proxy(service[0].base_url, lambda s, c: Forward()) as p, Client(p.url, key) as client:
        with pytest.raises(InvalidInput) as bad:
            client.submit_markdown("# x", {"scale": 5})
        assert bad.value.status == 422 and bad.value.field == "options.scale"
        assert bad.value.code == "invalid_input" and "scale" in bad.value.detail
        with pytest.raises(InvalidInput) as unknown:
            client.submit("fax", "# x")
        assert unknown.value.field == "type"
        with pytest.raises(NotFound) as missing:
            client.get_job(str(uuid.uuid4()))
        assert missing.value.status == 404 and missing.value.code == "not_found"
        assert len(p.seen) == 3
    with Client(service[0].base_url, "pp_not_a_key") as stranger:
        with pytest.raises(Unauthorized) as refused:
            stranger.usage()
        assert refused.value.status == 401 and refused.value.code == "unauthorized"


def test_a_server_that_is_not_there(tmp_path: Path) -> None:
    from tests.support.databases import free_port

    with Client(f"http://127.0.0.1:{free_port()}", "pp_x", retries=1) as client:
        client._sleep = lambda s: None  # type: ignore[assignment]
        with pytest.raises(NetworkError, match=r"cannot connect to http://127\.0\.0\.1:"):
            client.usage()
    with pytest.raises(ValueError, match="not a server URL"):
        Client("ftp://example.com", "pp_x")
    with pytest.raises(ValueError, match="not a server URL"):
        Client("127.0.0.1:8000", "pp_x")


def test_a_stream_of_keep_alives_does_not_outlast_the_deadline() -> None:
    """A server whose event stream only ever says `keep-alive` (each well within the read
    timeout): the wait still ends when its time is up."""
    import socket
    import threading

    from pdfprompt.client import WaitTimeout

    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
            )
            while not stop.is_set():
                try:
                    conn.sendall(b": keep-alive\n\n")
                except OSError:
                    return
                stop.wait(0.05)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with (
            Client(f"http://127.0.0.1:{server.getsockname()[1]}", "pp_x") as client,
            pytest.raises(WaitTimeout, match=r"not finished within 0\.5 s"),
        ):
            client.wait(str(uuid.uuid4()), timeout=0.5)
    finally:
        stop.set()
        server.close()
        thread.join(5)
