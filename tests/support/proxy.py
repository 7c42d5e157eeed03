"""A loopback HTTP/1.1 proxy that misbehaves on purpose, for the client's tests: before each
request reaches the server (or instead of it) a rule picks what happens: forward it, answer it
itself, drop the server's answer after the server acted, or cut the answer short. Real sockets
on 127.0.0.1; one request per connection (it asks the server to close after each)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

MAX_HEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class Seen:
    method: str
    target: str  # path and query
    headers: dict[str, str]  # names in lower case
    body: bytes


@dataclass(frozen=True)
class Forward:
    """Pass the request on and its answer back."""


@dataclass(frozen=True)
class Answer:
    """Answer it here; the server never sees it."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DropAnswer:
    """Pass the request on, read the server's whole answer, then close without sending any
    of it: the server acted, the client never heard."""


@dataclass(frozen=True)
class CutAnswer:
    """Pass the request on and send back the answer's head and `body_bytes` of its body,
    then close: a stream broken mid-way."""

    body_bytes: int = 0


Action = Forward | Answer | DropAnswer | CutAnswer
Rule = Callable[[Seen, int], Action]  # the request, and how many came before it


class Proxy:
    def __init__(self, upstream: str, rule: Rule) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.rule = rule
        self.seen: list[Seen] = []
        # What happened, in order, from the proxy's threads and the test alike.
        self.log: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self._closed = False
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def note(self, what: str, detail: str) -> None:
        with self._lock:
            self.log.append((what, detail))

    def requests(self, method: str, path_start: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.method == method and s.target.startswith(path_start)]

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                seen, raw_head = _read_request(conn)
            except (OSError, ValueError):
                return
            with self._lock:
                count = len(self.seen)
                self.seen.append(seen)
                self.log.append(("request", f"{seen.method} {seen.target}"))
            action = self.rule(seen, count)
            if isinstance(action, Answer):
                conn.sendall(_answer(action))
                return
            with socket.create_connection(self.upstream, timeout=60) as up:
                up.sendall(_closing(raw_head) + seen.body)
                self._relay(up, conn, action)

    def _relay(self, up: socket.socket, conn: socket.socket, action: Action) -> None:
        received = b""
        head_end = -1
        while True:
            chunk = up.recv(65536)
            if not chunk:
                break
            if isinstance(action, DropAnswer):
                continue  # read it all, send none of it
            if isinstance(action, CutAnswer):
                received += chunk
                if head_end < 0:
                    head_end = received.find(b"\r\n\r\n")
                if head_end >= 0 and len(received) >= head_end + 4 + action.body_bytes:
                    conn.sendall(received[: head_end + 4 + action.body_bytes])
                    self.note("cut", "answer cut")
                    return
                continue
            conn.sendall(chunk)
        if isinstance(action, DropAnswer):
            self.note("dropped", "answer dropped")

    def close(self) -> None:
        self._closed = True
        self._server.close()


def _read_request(conn: socket.socket) -> tuple[Seen, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise ValueError("closed before a request")
        data += chunk
        if len(data) > MAX_HEAD_BYTES:
            raise ValueError("head too large")
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            raise ValueError("closed inside the body")
        body += chunk
    return Seen(method, target, headers, body[:length]), head + b"\r\n\r\n"


def _closing(head: bytes) -> bytes:
    """The request's head asking the server to close the connection after answering."""
    lines = [
        line
        for line in head.decode("latin-1").split("\r\n")
        if line and not line.lower().startswith("connection:")
    ]
    return ("\r\n".join([*lines, "Connection: close"]) + "\r\n\r\n").encode("latin-1")


def _answer(answer: Answer) -> bytes:
    reason = {429: "Too Many Requests", 502: "Bad Gateway", 503: "Service Unavailable"}
    head = [f"HTTP/1.1 {answer.status} {reason.get(answer.status, 'Answer')}"]
    headers = {"Content-Length": str(len(answer.body)), "Connection": "close", **answer.headers}
    head += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + answer.body


@contextlib.contextmanager
def proxy(upstream: str, rule: Rule) -> Iterator[Proxy]:
    """A `Proxy` in front of `upstream` for the `with` block."""
    running = Proxy(upstream, rule)
    running._thread.start()
    try:
        yield running
    finally:
        running.close()
