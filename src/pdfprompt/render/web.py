"""Fetching what a URL job's page asks for. pdfprompt makes every request itself: Chromium's
request interception hands each one here, and gets back the answer, a redirect to follow
(which comes back here to be judged again), or a refusal.

A request is judged before anything is sent: its URL as the HTTP client reads it (http or
https, no user name or password, a host the allow-list names), then every address its host
resolves to (`UrlPolicy.address_refused`: special-purpose addresses are refused unless the
operator allows their range); the connection goes to the address that was judged, so a
second DNS answer cannot swap it (no rebinding between the check and the connect). Each
answer is read within a byte and time limit; a page has a budget of requests and bytes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
import unicodedata
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import certifi
import httpx

from pdfprompt.domain import (
    LOOPBACK,
    IpAddress,
    UrlPolicy,
    ipv4_number,
)

# host as looked up -> every address it has; OSError when it has none.
Resolve = Callable[[str], Awaitable[list[IpAddress]]]

MAX_URL_CHARS = 8192
MAX_REDIRECTS = 10
REDIRECTS = (301, 302, 303, 307, 308)
# What of Chromium's request is sent on: what a server may need to answer as it would a
# browser. Everything else (its own Host, connection headers) is pdfprompt's to set.
_FORWARDED = ("accept", "accept-language", "user-agent", "referer", "cookie", "origin")
# What of an answer is not handed back: the connection's own headers, and those describing
# an encoding the client has already undone.
_DROPPED = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-encoding",
        "content-length",
        "proxy-authenticate",
        "proxy-connection",
        "upgrade",
        "trailer",
        "alt-svc",
        "location",
    }
)
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")


class FetchRefusedError(Exception):
    """The request may not be made (the allow-list, an address, the page's budget)."""


class FetchFailedError(Exception):
    """The request was allowed but got no usable answer (no connection, a timeout, too
    large)."""


@dataclass(frozen=True, slots=True)
class Fetched:
    """An answer to hand to the page: its status, headers and body; for a redirect, the
    absolute URL it points to (`location`) and no body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    location: str | None = None


@dataclass(frozen=True, slots=True)
class PageTarget:
    url: httpx.URL
    host: str  # ASCII, lower case: what is looked up and matched against the allow-list
    port: int
    address: IpAddress | None  # the host is an address, in whatever spelling


def page_target(url: str) -> PageTarget:
    """`url` as the client reads it; `FetchRefusedError` saying why it cannot be used."""
    if len(url) > MAX_URL_CHARS:
        raise FetchRefusedError(f"the URL is longer than {MAX_URL_CHARS} characters")
    if any(c.isspace() or unicodedata.category(c) in ("Cc", "Cf") or c == "\\" for c in url):
        raise FetchRefusedError("the URL holds spaces, control characters or backslashes")
    try:
        parsed = httpx.URL(url)
        host = parsed.raw_host.decode("ascii").lower()
        port = parsed.port
    except Exception as exc:  # httpx raises several kinds for a URL it cannot read
        raise FetchRefusedError(f"the URL cannot be read ({exc})") from None
    if parsed.scheme not in ("http", "https"):
        raise FetchRefusedError(f"only http and https are fetched, not {parsed.scheme}:")
    if parsed.userinfo:
        raise FetchRefusedError("a URL with a user name or password is refused")
    if not host:
        raise FetchRefusedError("the URL names no host")
    address: IpAddress | None
    if ":" in host:  # httpx has checked it is an IPv6 address between brackets
        if "%" in host:
            raise FetchRefusedError("IPv6 zone ids (%) are refused")
        address = ipaddress.IPv6Address(host)
    else:
        try:
            address = ipv4_number(host)
        except ValueError:
            raise FetchRefusedError(f"{host} ends in a number but is no IPv4 address") from None
        labels = host.removesuffix(".").split(".")
        if address is None and (
            len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels)
        ):
            raise FetchRefusedError(f"{host[:80]} is no host name")
    port = port or (443 if parsed.scheme == "https" else 80)
    return PageTarget(parsed, host, port, address)


async def system_resolve(host: str) -> list[IpAddress]:
    """The system resolver's addresses for `host`, in its order."""
    found = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found]


def nameserver_resolve(servers: str, timeout_s: float) -> Resolve:
    """A resolver asking the DNS servers listed (`address` or `address:port`, separated by
    commas) for A and AAAA records, and no search domains."""
    import dns.asyncresolver
    import dns.exception
    import dns.nameserver
    import dns.resolver

    resolver = dns.asyncresolver.Resolver(configure=False)
    listed: list[dns.nameserver.Nameserver | str] = []
    for entry in re.split(r"[\s,]+", servers.strip()):
        if not entry:
            continue
        address, port = entry, 53
        bracketed = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?", entry)
        if bracketed:
            address, port = bracketed.group(1), int(bracketed.group(2) or 53)
        elif entry.count(":") == 1:
            address, _, number = entry.partition(":")
            port = int(number)
        ipaddress.ip_address(address)  # ValueError for a name: servers are addresses
        listed.append(dns.nameserver.Do53Nameserver(address, port))
    resolver.nameservers = listed
    resolver.lifetime = timeout_s

    async def resolve(host: str) -> list[IpAddress]:
        found: list[IpAddress] = []
        for kind in ("A", "AAAA"):
            try:
                answer = await resolver.resolve(host, kind, search=False)
            except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
                continue
            except dns.exception.DNSException as exc:
                raise OSError(f"no answer from the DNS servers ({type(exc).__name__})") from None
            found.extend(ipaddress.ip_address(record.address) for record in answer)
        if not found:
            raise OSError("the name has no address")
        return found

    return resolve


class WebFetcher:
    """How URL jobs fetch: the policy, the resolver and the bounds; `page` makes the
    fetcher of one page."""

    def __init__(
        self,
        policy: UrlPolicy,
        *,
        resolve: Resolve = system_resolve,
        timeout_s: float = 10.0,
        max_response_bytes: int = 20 * 1024 * 1024,
        max_page_bytes: int = 100 * 1024 * 1024,
        max_requests: int = 300,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.policy = policy
        self.resolve = resolve
        self.timeout_s = timeout_s
        self.max_response_bytes = max_response_bytes
        self.max_page_bytes = max_page_bytes
        self.max_requests = max_requests
        # One TLS context for every page: making one (loading the trust store) costs more CPU
        # than a small page's requests.
        self.verify = (
            ssl.create_default_context(cafile=certifi.where()) if verify is True else verify
        )

    def page(self, policy: UrlPolicy | None = None) -> PageFetch:
        """The fetcher of one page: its own connections and count of requests, bytes and
        redirects, under `policy` (a plan's) or the fetcher's. Close it with `aclose`."""
        return PageFetch(self, policy or self.policy)


@dataclass
class PageFetch:
    """Every request of one page goes through `fetch`; its connections are its own (no
    connection is shared between two jobs' pages)."""

    fetcher: WebFetcher
    policy: UrlPolicy
    requests: int = 0
    loaded_bytes: int = 0
    hops: dict[str, int] = field(default_factory=dict)  # a redirect's target -> its hop
    _client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                follow_redirects=False,
                timeout=self.fetcher.timeout_s,
                verify=self.fetcher.verify,
                trust_env=False,
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def fetch(self, url: str, method: str, headers: Mapping[str, str]) -> Fetched:
        """The answer to one request of the page; `FetchRefusedError` when it may not be
        made, `FetchFailedError` when it got no usable answer."""
        fetcher = self.fetcher
        self.requests += 1
        if self.requests > fetcher.max_requests:
            raise FetchRefusedError(f"the page made more than {fetcher.max_requests} requests")
        if method not in ("GET", "HEAD"):
            raise FetchRefusedError(f"only GET requests are made for a page, not {method}")
        target = page_target(url)
        shown = str(target.address) if target.address is not None else target.host
        if not self.policy.host_allowed(shown):
            raise FetchRefusedError(
                f"{shown} is not on the allow-list of hosts (PDFPROMPT_URL_ALLOW)"
            )
        hop = self.hops.get(str(target.url), 0)
        try:
            async with asyncio.timeout(fetcher.timeout_s):
                addresses = await self._addresses(target)
                return await self._get(target, method, headers, addresses, hop)
        except TimeoutError:
            raise FetchFailedError(f"no answer within {fetcher.timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            raise FetchFailedError(_short(exc)) from None

    async def _addresses(self, target: PageTarget) -> list[IpAddress]:
        """The addresses to connect to; `FetchRefusedError` if any the host has is refused."""
        if target.address is not None:
            addresses = [target.address]
        elif target.host.removesuffix(".") == "localhost" or target.host.endswith(
            (".localhost", ".localhost.")
        ):
            addresses = list(LOOPBACK)  # RFC 6761: loopback whatever a resolver says
        else:
            try:
                addresses = await self.fetcher.resolve(target.host.removesuffix("."))
            except (OSError, UnicodeError) as exc:
                reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
                raise FetchFailedError(f"cannot resolve {target.host}: {reason}") from None
            if not addresses:
                raise FetchFailedError(f"cannot resolve {target.host}: no address")
        for address in addresses:
            why = self.policy.address_refused(address)
            if why is None:
                continue
            if target.address is not None:
                raise FetchRefusedError(f"{target.host} is {address}, {why}")
            raise FetchRefusedError(f"{target.host} resolves to {address}, {why}")
        return list(dict.fromkeys(addresses))

    async def _get(
        self,
        target: PageTarget,
        method: str,
        headers: Mapping[str, str],
        addresses: list[IpAddress],
        hop: int,
    ) -> Fetched:
        fetcher = self.fetcher
        sni = str(target.address) if target.address is not None else target.host
        extensions = {"sni_hostname": sni} if target.url.scheme == "https" else {}
        sent = {k: v for k, v in headers.items() if k.lower() in _FORWARDED}
        sent["Host"] = target.url.netloc.decode("ascii")
        sent["Accept-Encoding"] = "gzip, deflate"
        response = None
        for n, address in enumerate(addresses):
            pinned = target.url.copy_with(host=str(address))
            request = self.client.build_request(method, pinned, headers=sent, extensions=extensions)
            try:
                response = await self.client.send(request, stream=True)
                break
            except httpx.ConnectError:
                if n == len(addresses) - 1:
                    raise
        assert response is not None
        try:
            location = response.headers.get("location")
            if response.status_code in REDIRECTS and location:
                return self._redirect(target, response, location, hop)
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > fetcher.max_response_bytes:
                    raise FetchFailedError(
                        f"the answer is larger than {fetcher.max_response_bytes} bytes"
                    )
                if self.loaded_bytes + len(body) > fetcher.max_page_bytes:
                    raise FetchRefusedError(
                        f"the page loaded more than {fetcher.max_page_bytes} bytes"
                    )
        finally:
            await response.aclose()
        self.loaded_bytes += len(body)
        kept = tuple(
            (name, value)
            for name, value in response.headers.multi_items()
            if name.lower() not in _DROPPED
        )
        return Fetched(response.status_code, kept, bytes(body))

    def _redirect(
        self, target: PageTarget, response: httpx.Response, location: str, hop: int
    ) -> Fetched:
        """A redirect handed back for the page to follow: its next request is judged here
        like any other."""
        if hop + 1 > MAX_REDIRECTS:
            raise FetchRefusedError(f"more than {MAX_REDIRECTS} redirects")
        try:
            joined = target.url.join(location)
        except Exception as exc:  # the client cannot read the Location header
            raise FetchRefusedError(f"a redirect to {location[:200]!r} cannot be read") from exc
        if joined.scheme not in ("http", "https"):
            raise FetchRefusedError(f"a redirect to {joined.scheme}: is refused")
        self.hops[str(joined)] = hop + 1
        return Fetched(response.status_code, (("Location", str(joined)),), b"", str(joined))


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".rstrip(": ")
    return text if len(text) <= 300 else text[:299] + "…"
