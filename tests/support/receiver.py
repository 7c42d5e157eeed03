"""A real HTTP endpoint on a loopback address that records every request it receives (any
method) and answers them from a script: webhooks, and the renderer's sandbox tests, where
it must receive nothing."""

from __future__ import annotations

import json
import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes
    method: str = "POST"
    received_at: float = 0.0  # this machine's time.time() when it arrived

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


# A step of the script: a status code, ("redirect", code, location), or "hang" (no answer
# until `release` is set).
Step = int | tuple[str, int, str] | str


class Receiver:
    def __init__(
        self,
        host: str = "127.0.0.1",
        script: list[Step] | None = None,
        tls: ssl.SSLContext | None = None,
        name: str | None = None,
        answer: bytes = b"ok",
    ) -> None:
        """`tls`: serve HTTPS with this context; `name`: the host name in `url`; `answer`: the
        body of a 2xx answer."""
        self.hits: list[Hit] = []
        self.script: list[Step] = list(script or [])
        self.release = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or "0")
                body = self.rfile.read(length)
                if len(body) < length:
                    # The connection ended within the body (a fault cut it, or the sender gave
                    # up): no request was received, and no answer goes back. The sender retries.
                    self.close_connection = True
                    return
                with receiver.lock:
                    hit = Hit(
                        self.path, dict(self.headers.items()), body, self.command, time.time()
                    )
                    receiver.hits.append(hit)
                    step = receiver.script.pop(0) if receiver.script else 200
                if step == "hang":
                    receiver.release.wait(60)
                    step = 200
                if isinstance(step, tuple):
                    _, code, location = step
                    self.send_response(code)
                    self.send_header("Location", location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                assert isinstance(step, int)
                body = answer if step < 300 else b"receiver says no"
                try:
                    self.send_response(step)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the sender is gone

            do_GET = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_POST

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.base = f"{scheme}://{name or host}:{self.server.server_address[1]}"
        self.url = f"{self.base}/hook"

    def __enter__(self) -> Receiver:
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout_s: float = 30) -> list[Hit]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.hits) >= count:
                    return list(self.hits)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} webhook requests, got {len(self.hits)}")
