"""Hosts for URL jobs' tests, all on loopback: web sites on addresses of their own
(127.0.0.2 serves pages; 127.0.0.3 is the private listener that must receive nothing), and
a DNS server the test controls, which answers the names it is given and no other."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

PAGES_ADDRESS = "127.0.0.2"  # allowed on purpose (PDFPROMPT_URL_ALLOW_ADDRESSES)
PRIVATE_ADDRESS = "127.0.0.3"  # never allowed: every request that reaches it is a failure

# path -> (status, headers, body)
Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Site:
    """An HTTP server on `address` that answers from `pages` (404 for any other path) and
    records every request it receives, whatever the method."""

    address: str
    pages: dict[str, Answer] = field(default_factory=dict)
    hits: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    port: int = 0
    tls: ssl.SSLContext | None = None  # serve HTTPS with this context
    _server: ThreadingHTTPServer | None = None

    def __enter__(self) -> Site:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                site.hits.append((self.command, self.path, dict(self.headers.items())))
                status, headers, body = site.pages.get(
                    self.path, (404, {"Content-Type": "text/plain"}, b"not found")
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_OPTIONS = _any

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer((self.address, 0), Handler)
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str = "/", host: str | None = None) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{host or self.address}:{self.port}{path}"

    def page(self, path: str, html: str, status: int = 200, **headers: str) -> None:
        self.pages[path] = (
            status,
            {"Content-Type": "text/html; charset=utf-8", **headers},
            html.encode(),
        )

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.pages[path] = (status, {"Location": location}, b"")


@dataclass
class Dns:
    """A DNS server on 127.0.0.1 (UDP) answering A and AAAA questions from `names` (a name
    may have a function giving its addresses of a kind, "A" or "AAAA", asked at each
    question: a rebinding server);
    every other name is NXDOMAIN. `asked` lists the names it was asked."""

    names: dict[str, list[str] | Callable[[str], list[str]]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)
    port: int = 0
    _sock: socket.socket | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Dns:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._sock is not None
        self._sock.close()

    @property
    def server(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            try:
                query = dns.message.from_wire(data)
            except Exception:
                continue
            answer = dns.message.make_response(query)
            question = query.question[0]
            name = question.name.to_text().rstrip(".").lower()
            self.asked.append(name)
            found = self.names.get(name)
            if found is None:
                answer.set_rcode(dns.rcode.NXDOMAIN)
            else:
                kind = "A" if question.rdtype == dns.rdatatype.A else "AAAA"
                addresses = found(kind) if callable(found) else found
                matching = [a for a in addresses if (":" in a) == (kind == "AAAA")]
                if matching:
                    answer.answer.append(
                        dns.rrset.from_text_list(question.name, 0, "IN", kind, matching)
                    )
            self._sock.sendto(answer.to_wire(), peer)
