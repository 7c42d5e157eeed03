"""A hostile client against real `pdfprompt` processes, on SQLite and PostgreSQL: bodies
that would exhaust memory, keys that try to give more than they have, rate limits dodged
with more keys or forged addresses, input that used to answer 500, share links probed
without being used, and secrets in logs, files and metrics."""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
import pytest

from tests.support.accounts import HOOK, Start, client_for, fresh_rate_window, user_on_plan
from tests.support.jobs import wait_final
from tests.support.processes import Process, cli, create_key

pytestmark = pytest.mark.one_database("postgresql")

MB = 1024 * 1024
# Every route that reads a body, with a body it takes ({ids} filled in by the test).
BODY_ROUTES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/v1/jobs", {"type": "html", "input": "<p>x</p>"}),
    ("POST", "/v1/jobs/{job}/revise", {"instructions": "shorter"}),
    ("POST", "/v1/keys", {"name": "k"}),
    ("POST", "/v1/webhooks", {"url": HOOK, "events": ["quota.warning"]}),
    ("PATCH", "/v1/webhooks/{webhook}", {"description": "d"}),
    ("POST", "/v1/files/{file}/shares", {"expires_in_s": 600}),
]


@pytest.fixture(scope="module")
def served(deployment: tuple[Start, dict[str, str]]) -> tuple[Process, dict[str, str]]:
    """One `pdfprompt serve` for the module, with a metrics token and a key limit."""
    start, env = deployment
    server = start(
        "serve",
        PDFPROMPT_METRICS_TOKEN="metrics-secret",
        PDFPROMPT_MAX_KEYS_PER_USER="5",
    )
    return server, env


@pytest.fixture(scope="module")
def owned(served: tuple[Process, dict[str, str]]) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    """A client and the ids of a job, its file, a webhook of the same user."""
    server, env = served
    c = client_for(server, create_key(env, "owner@example.com"))
    job, _ = wait_final(
        c, c.post("/v1/jobs", json={"type": "html", "input": "<p>o</p>"}).json()["id"]
    )
    assert job["status"] == "succeeded"
    hook = c.post("/v1/webhooks", json={"url": HOOK, "events": ["quota.warning"]}).json()
    yield c, {"job": job["id"], "file": job["file"]["id"], "webhook": hook["id"]}
    c.close()


def _raw(server: Process, head: str, body: bytes = b"", *, timeout_s: float = 20) -> bytes:
    """Send a request's head and the start of its body on a socket; the server's answer (its
    head and what came of the body), read until it closes or goes quiet."""
    address = urlsplit(server.base_url)
    with socket.create_connection((address.hostname, address.port), timeout=timeout_s) as s:
        s.sendall(head.encode() + b"\r\n" + body)
        answer = b""
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                answer += chunk
    return answer


def _status(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer[9:12])


def _head(method: str, path: str, length: int, extra: str = "") -> str:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n{extra}"
    )


def test_a_body_without_a_key_is_refused_before_it_is_read(
    served: tuple[Process, dict[str, str]], owned: tuple[httpx.Client, dict[str, str]]
) -> None:
    """A client that declares 3 MB (under the largest body any route takes, so nothing is
    refused for its length alone) and sends 64 KB of it gets its 401 at once: the server did
    not wait for the rest. (Over that length, the answer is a 413 before anything is read.)"""
    server, _ = served
    _, ids = owned
    for method, path, _body in BODY_ROUTES:
        answer = _raw(server, _head(method, path.format(**ids), 3 * MB), b"{" * 65536)
        assert _status(answer) == 401, (method, path, answer[:300])
        assert b"application/problem+json" in answer


def test_every_body_route_refuses_a_body_over_its_limit(
    served: tuple[Process, dict[str, str]], owned: tuple[httpx.Client, dict[str, str]]
) -> None:
    """Over the limit is 413 naming the body: a declared length before anything is sent, a
    streamed (chunked) one as soon as it passes."""
    server, _ = served
    c, ids = owned
    auth = f"Authorization: {c.headers['authorization']}\r\n"
    for method, path, _body in BODY_ROUTES:
        target = path.format(**ids)
        declared = _raw(server, _head(method, target, 50 * MB, auth))
        assert _status(declared) == 413, (method, path, declared[:300])
        assert b'"field":"body"' in declared

        def endless() -> Iterator[bytes]:
            for _ in range(64):  # 64 MB, far over every route's limit
                yield b" " * MB

        streamed = c.request(method, target, content=endless())
        assert streamed.status_code == 413, (method, path, streamed.text)
        assert streamed.json()["code"] == "payload_too_large"


def test_unauthenticated_uploads_cost_the_server_almost_no_memory(
    served: tuple[Process, dict[str, str]],
) -> None:
    """Eight 100 MB bodies at once, without a key, to the routes that read bodies: the
    server process stays under 300 MB (it was at ~800 MB when bodies were read first)."""
    server, _ = served
    assert server.proc is not None
    process = psutil.Process(server.proc.pid)
    peak = process.memory_info().rss
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            done.wait(0.01)

    def upload(n: int) -> int:
        """Half declare their length (refused for it, 413), half stream it chunked (refused
        for the missing key, 401): neither is read."""
        method, path, _ = BODY_ROUTES[n % 3 + 2]  # routes with no id in the path

        def body() -> Iterator[bytes]:
            for _ in range(100):
                yield b"x" * MB

        declared = {"Content-Length": str(100 * MB)} if n % 2 == 0 else {}
        with httpx.Client(base_url=server.base_url, timeout=60) as anon:
            try:
                return anon.request(method, path, content=body(), headers=declared).status_code
            except httpx.TransportError:  # the server answered and closed mid-upload
                return 413 if declared else 401

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        threads: list[int] = []
        workers = [threading.Thread(target=lambda n=n: threads.append(upload(n))) for n in range(8)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    finally:
        done.set()
        sampler.join()
    assert sorted(threads) == [401] * 4 + [413] * 4
    print(f"server RSS peak during 8 unauthenticated 100 MB uploads: {peak / MB:.0f} MB")
    assert peak < 300 * MB


def test_a_key_gives_no_more_than_it_has(served: tuple[Process, dict[str, str]]) -> None:
    server, env = served
    with client_for(server, create_key(env, "keys@example.com")) as c:
        account_only = c.post("/v1/keys", json={"scopes": ["account"]}).json()
        short = c.post("/v1/keys", json={"expires_in_s": 600}).json()
        assert "expires_at" in short, short
    with client_for(server, account_only["key"]) as narrow:
        escalated = narrow.post("/v1/keys", json={"scopes": ["account", "jobs:write"]})
        assert escalated.status_code == 403 and escalated.json()["field"] == "scopes"
        same = narrow.post("/v1/keys", json={}).json()  # no scopes named: the caller's own
        assert same["scopes"] == ["account"]
    with client_for(server, short["key"]) as brief:
        later = brief.post("/v1/keys", json={"expires_in_s": 3600})
        assert later.status_code == 422 and later.json()["field"] == "expires_in_s"
        child = brief.post("/v1/keys", json={"name": "child"}).json()
        assert child["expires_at"] == short["expires_at"]  # no expiry named: the caller's
        # The user now has five live keys, the most this server allows.
        refused = brief.post("/v1/keys", json={"expires_in_s": 120})
        assert refused.status_code == 409 and refused.json()["code"] == "conflict"
        assert brief.delete(f"/v1/keys/{child['id']}").status_code == 204
        assert brief.post("/v1/keys", json={"expires_in_s": 120}).status_code == 201


def test_the_rate_limit_counts_the_user_not_the_key(
    deployment: tuple[Start, dict[str, str]],
) -> None:
    start, env = deployment
    api = start("api")
    first = user_on_plan(env, "many-keys@example.com", "slow")  # 5 requests a minute
    others = [
        cli(env, "keys", "create", "many-keys@example.com").stdout.strip().splitlines()[-1]
        for _ in range(3)
    ]
    fresh_rate_window()
    clients = [client_for(api, key) for key in (first, *others)]
    try:
        codes = [clients[n % 4].get("/v1/jobs").status_code for n in range(8)]
    finally:
        for c in clients:
            c.close()
    assert codes == [200] * 5 + [429] * 3


@pytest.mark.parametrize("trusted", [False, True], ids=["no proxy", "trusted proxy"])
def test_forwarded_addresses_count_only_from_trusted_proxies(
    deployment: tuple[Start, dict[str, str]], trusted: bool
) -> None:
    start, _ = deployment
    extra = {"PDFPROMPT_TRUSTED_PROXIES": "127.0.0.1/32"} if trusted else {}
    api = start("api", PDFPROMPT_SHARE_RATE_LIMIT_PER_MINUTE="5", **extra)
    fresh_rate_window()
    with httpx.Client(base_url=api.base_url) as anyone:
        codes = [
            anyone.get(f"/s/{'x' * 32}", headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code
            for n in range(8)
        ]
    # A client that names a new address each time is still one client, unless a proxy the
    # operator trusts says so.
    assert codes == ([404] * 8 if trusted else [404] * 5 + [429] * 3)


NUL = "a\u0000b"


def _nested(depth: int) -> bytes:
    return b'{"type": "html", "input": "x", "options": ' + b"[" * depth + b"]" * depth + b"}"


def test_hostile_values_answer_4xx_naming_the_field_and_keep_the_connection(
    served: tuple[Process, dict[str, str]], owned: tuple[httpx.Client, dict[str, str]]
) -> None:
    """What used to answer 500 (mostly on PostgreSQL, which cannot keep a NUL): each is a
    4xx problem with its field, and the connection stays open for the next request."""
    c, ids = owned
    job = ids["job"]
    json_cases: list[tuple[str, str, Any, int, str]] = [
        ("POST", "/v1/jobs", {"type": "html", "input": NUL}, 422, "input"),
        (
            "POST",
            "/v1/jobs",
            {"type": "html", "input": "x", "options": {"title": NUL}},
            422,
            "options.title",
        ),
        ("POST", "/v1/jobs", {"type": "html", "input": "x", "options": {NUL: 1}}, 422, "options"),
        ("POST", f"/v1/jobs/{job}/revise", {"instructions": NUL}, 422, "instructions"),
        ("POST", "/v1/keys", {"name": NUL}, 422, "name"),
        ("POST", "/v1/webhooks", {"url": "https://a.example.com/" + NUL}, 422, "url"),
        (
            "POST",
            "/v1/webhooks",
            {"url": "https://a.example.com/", "description": NUL},
            422,
            "description",
        ),
        ("PATCH", f"/v1/webhooks/{ids['webhook']}", {"description": NUL}, 422, "description"),
    ]
    raw_cases: list[tuple[str, str, bytes, int, str]] = [
        ("POST", "/v1/jobs", b'{"type": "html", "input": "a\\ud800b"}', 422, "input"),
        ("POST", "/v1/jobs", _nested(100_000), 400, "body"),
        ("POST", "/v1/jobs", _nested(40), 400, "body"),
        (
            "POST",
            "/v1/jobs",
            b'{"type": "html", "input": "x", "options": {"scale": 1' + b"0" * 5000 + b"}}",
            400,
            "body",
        ),
        (
            "POST",
            "/v1/jobs",
            b'{"type": "html", "input": "x", "options": {"scale": NaN}}',
            400,
            "body",
        ),
        ("POST", "/v1/keys", b'{"expires_in_s": 1' + b"0" * 5000 + b"}", 400, "body"),
        ("POST", "/v1/keys", b"[" * 50_000, 400, "body"),
    ]
    query_cases: list[tuple[str, int, str | None]] = [
        ("/v1/jobs?cursor=a%00b", 422, "query.cursor"),
        ("/v1/jobs?status=%00", 422, None),
        ("/v1/usage/history?cursor=%C2%B2", 422, "query.cursor"),  # a superscript two
        ("/v1/usage/history?cursor=%D9%A3", 422, "query.cursor"),  # Arabic-Indic three
        ("/v1/usage/history?cursor=" + "9" * 40, 422, "query.cursor"),
        ("/v1/usage/history?period=%00", 422, None),
        (f"/v1/webhooks/{ids['webhook']}/deliveries?cursor=" + "9" * 400, 422, "query.cursor"),
        (f"/v1/webhooks/{ids['webhook']}/deliveries?cursor=%C2%B2", 422, "query.cursor"),
    ]
    path_cases = [
        ("GET", "/v1/jobs/a%00b"),
        ("GET", "/v1/jobs/a%00b/pdf"),
        ("POST", "/v1/jobs/a%00b/cancel"),
        ("DELETE", "/v1/jobs/a%00b"),
        ("GET", "/v1/files/a%00b"),
        ("DELETE", "/v1/keys/a%00b"),
        ("DELETE", "/v1/shares/a%00b"),
        ("GET", "/v1/webhooks/a%00b"),
        ("GET", "/v1/webhooks/a%00b/deliveries"),
        ("POST", f"/v1/webhooks/{ids['webhook']}/deliveries/%C2%B2/retry"),
        ("POST", f"/v1/webhooks/{ids['webhook']}/deliveries/{'9' * 400}/retry"),
        ("GET", "/s/a%00b"),
    ]
    answers: list[tuple[Any, httpx.Response, int, str | None]] = []
    for method, path, body, status, field in json_cases:
        answers.append((path, c.request(method, path, json=body), status, field))
    for method, path, raw, status, field in raw_cases:
        sent = c.request(method, path, content=raw, headers={"Content-Type": "application/json"})
        answers.append((path, sent, status, field))
    for path, status, query_field in query_cases:
        answers.append((path, c.get(path), status, query_field))
    for method, path in path_cases:
        answers.append((path, c.request(method, path), 404, None))
    for case, answer, status, field in answers:
        assert answer.status_code == status, (case, answer.status_code, answer.text[:300])
        assert answer.headers["content-type"] == "application/problem+json", case
        if field is not None:
            assert answer.json().get("field") == field, (case, answer.text[:300])
        assert answer.headers.get("connection") != "close", case
    # Ranges with thousands of digits are no range: the whole file.
    pdf = c.get(f"/v1/jobs/{job}/pdf")
    for wanted in (f"bytes=0-{'9' * 5000}", f"bytes={'9' * 5000}-", f"bytes=-{'1' * 5000}"):
        whole = c.get(f"/v1/jobs/{job}/pdf", headers={"Range": wanted})
        assert whole.status_code == 200 and whole.content == pdf.content, wanted


def test_only_answers_that_send_the_document_use_a_download(
    owned: tuple[httpx.Client, dict[str, str]],
) -> None:
    c, ids = owned
    share = c.post(f"/v1/files/{ids['file']}/shares", json={"max_downloads": 1}).json()
    url = share["url"]
    with httpx.Client() as anyone:
        etag = c.get(f"/v1/files/{ids['file']}/content").headers["etag"]
        assert anyone.get(url, headers={"If-None-Match": etag}).status_code == 304
        assert anyone.get(url, headers={"Range": "bytes=999999999-"}).status_code == 416
        assert anyone.get(url, headers={"Range": "bytes=0-0"}).status_code == 206  # a probe
        [listed] = [
            s
            for s in c.get(f"/v1/files/{ids['file']}/shares").json()["items"]
            if s["id"] == share["id"]
        ]
        assert listed["downloads"] == 0
        assert anyone.get(url).status_code == 200
        assert anyone.get(url).status_code == 410


def test_a_missing_stored_file_is_named_nowhere_in_an_anonymous_answer(
    served: tuple[Process, dict[str, str]],
) -> None:
    server, env = served
    with client_for(server, create_key(env, "vanish@example.com")) as c:
        job, _ = wait_final(
            c, c.post("/v1/jobs", json={"type": "html", "input": "<p>v</p>"}).json()["id"]
        )
        share = c.post(f"/v1/files/{job['file']['id']}/shares", json={}).json()
        stored = list(Path(env["PDFPROMPT_DATA_DIR"], "files").rglob(f"{job['id']}-*.pdf"))
        assert stored, "the PDF is stored under the data directory"
        owner_dir = stored[0].parent.name
        for path in stored:
            path.unlink()
        answer = httpx.get(share["url"])
        assert answer.status_code in (404, 410) and answer.json()["code"] in ("not_found", "gone")
        assert owner_dir not in answer.text and ".pdf" not in answer.text
        own = c.get(f"/v1/jobs/{job['id']}/pdf")
        assert own.status_code == 404 and owner_dir not in own.text


def test_secrets_stay_out_of_logs_files_and_metrics(
    served: tuple[Process, dict[str, str]], owned: tuple[httpx.Client, dict[str, str]]
) -> None:
    server, env = served
    c, ids = owned
    share = c.post(f"/v1/files/{ids['file']}/shares", json={}).json()
    token = share["url"].rsplit("/", 1)[1]
    assert httpx.get(share["url"]).status_code == 200
    assert httpx.get(f"{server.base_url}/s/{token}?token=abc&x=1").status_code in (200, 410)
    deadline = time.monotonic() + 10
    while "GET /s/" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = server.log()
    assert "GET /s/[redacted]" in log
    assert token not in log and "token=abc" not in log
    # Owner-only files: the database (and its WAL) and every stored PDF.
    data = Path(env["PDFPROMPT_DATA_DIR"])
    files = [p for p in data.rglob("*") if p.is_file()]
    if env["DATABASE_URL"].startswith("sqlite"):
        database = Path(env["DATABASE_URL"].removeprefix("sqlite:///"))
        files += [p for p in database.parent.glob(database.name + "*") if p.is_file()]
    assert any(p.suffix == ".pdf" for p in files)
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, (path, oct(path.stat().st_mode))
    assert stat.S_IMODE((data / "files").stat().st_mode) & 0o077 == 0
    # /metrics asks for its token when one is set.
    assert httpx.get(f"{server.base_url}/metrics").status_code == 401
    wrong = httpx.get(f"{server.base_url}/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = httpx.get(
        f"{server.base_url}/metrics", headers={"Authorization": "Bearer metrics-secret"}
    )
    assert right.status_code == 200 and "pdfprompt_jobs" in right.text
    assert httpx.get(f"{server.base_url}/docs").status_code == 200
    assert os.environ.get("PDFPROMPT_METRICS_TOKEN") is None  # only the server was given it
