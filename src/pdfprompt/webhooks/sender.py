"""Sending one delivery: a POST to the endpoint, following its redirects, within a timeout.

An endpoint must answer 2xx within the timeout; anything else (an exception included) is a
failed attempt, which the dispatcher retries. The URL is read by the rules it was
registered under (`addresses`), on the first request and on every redirect; every address
its host resolves to is checked before connecting, and the connection goes to the address
that was checked (a second DNS answer cannot swap it). A URL or address those rules refuse
is a permanent failure: retrying cannot help.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time

import httpx

from pdfprompt.domain import InvalidInputError
from pdfprompt.webhooks.addresses import (
    LOOPBACK,
    AddressRule,
    IpAddress,
    Resolve,
    Target,
    parse_target,
    refusal,
    resolve_host,
)
from pdfprompt.webhooks.outbox import AttemptOutcome

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
EXCERPT_BYTES = 512
_REDIRECTS = (301, 302, 303, 307, 308)
_LOCATION = "pdfprompt.location"  # where `_take_location` keeps a redirect's Location


class _Refused(Exception):
    """The destination is not allowed; retrying cannot help."""


class WebhookSender:
    """POSTs one event to one URL, following redirects, within `timeout_s` in all. It never
    raises: whatever goes wrong is the attempt's outcome."""

    def __init__(
        self,
        *,
        timeout_s: float,
        rule: AddressRule,
        verify: ssl.SSLContext | bool = True,
        user_agent: str = "pdfprompt-webhooks/1",
        resolve: Resolve = resolve_host,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`verify`: how HTTPS endpoints' certificates are checked (the system's trust
        store by default), always against the URL's host name; `resolve`: what turns a
        host name into addresses (the system's resolver); `transport`: what carries the
        requests (connections of its own by default)."""
        self.timeout_s = timeout_s
        self.rule = rule
        self.user_agent = user_agent
        self.resolve = resolve
        self.client = httpx.AsyncClient(
            follow_redirects=False,
            timeout=timeout_s,
            verify=verify,
            transport=transport,
            event_hooks={"response": [_take_location]},
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def send(self, url: str, body: bytes, headers: dict[str, str]) -> AttemptOutcome:
        started = time.monotonic()

        def outcome(code: int | None, error: str | None, permanent: bool = False) -> AttemptOutcome:
            ms = round((time.monotonic() - started) * 1000)
            return AttemptOutcome(code, error, ms, permanent)

        try:
            async with asyncio.timeout(self.timeout_s):
                target = _usable(url, "")
                for _ in range(MAX_REDIRECTS + 1):
                    code, location, excerpt = await self._post(target, body, headers)
                    if code in _REDIRECTS and location:
                        target = _redirected(target, location)
                        continue
                    if 200 <= code < 300:
                        return outcome(code, None)
                    detail = f": {excerpt}" if excerpt else ""
                    return outcome(code, f"the endpoint answered HTTP {code}{detail}")
                return outcome(None, f"more than {MAX_REDIRECTS} redirects")
        except _Refused as exc:
            return outcome(None, str(exc), permanent=True)
        except TimeoutError:
            return outcome(None, f"no answer within {self.timeout_s:g} s")
        except (httpx.HTTPError, OSError) as exc:
            return outcome(None, f"could not deliver: {_short(exc)}")
        except Exception as exc:  # a failed attempt like any other: retried, then given up
            log.warning("a webhook attempt failed unexpectedly", exc_info=True)
            return outcome(None, f"could not deliver: {_short(exc)}")

    async def _post(
        self, target: Target, body: bytes, headers: dict[str, str]
    ) -> tuple[int, str | None, str]:
        """One POST to a checked address of the host (the next one if it cannot be
        reached); (status, Location, start of the answer)."""
        addresses = await self._resolve(target)
        sni = str(target.address) if target.address is not None else target.host
        extensions = {"sni_hostname": sni} if target.url.scheme == "https" else {}
        netloc = target.url.netloc.decode("ascii")
        sent = {**headers, "Host": netloc, "User-Agent": self.user_agent}
        for n, address in enumerate(addresses):
            pinned = target.url.copy_with(host=str(address))
            request = self.client.build_request(
                "POST", pinned, content=body, headers=sent, extensions=extensions
            )
            try:
                response = await self.client.send(request, stream=True)
                break
            except httpx.ConnectError:
                if n == len(addresses) - 1:
                    raise
        try:
            excerpt = b""
            async for chunk in response.aiter_bytes():
                excerpt += chunk
                if len(excerpt) >= EXCERPT_BYTES:
                    break
        finally:
            await response.aclose()
        text = excerpt[:EXCERPT_BYTES].decode("utf-8", "replace").strip()
        return response.status_code, response.extensions.get(_LOCATION), text

    async def _resolve(self, target: Target) -> list[IpAddress]:
        """The addresses to connect to, in the resolver's order; `_Refused` if any address
        the host has (or, for a `localhost` name, loopback) is not allowed."""
        if target.address is not None:
            addresses = [target.address]
        else:
            if target.loopback_name:
                _judge(target, list(LOOPBACK), self.rule)
            try:
                addresses = await self.resolve(target.host, target.port)
            except OSError as exc:
                reason = exc.strerror or str(exc) or type(exc).__name__
                raise httpx.ConnectError(f"cannot resolve {target.host}: {reason}") from None
            if not addresses:
                raise httpx.ConnectError(f"cannot resolve {target.host}: no address")
        _judge(target, addresses, self.rule)
        return list(dict.fromkeys(addresses))


async def _take_location(response: httpx.Response) -> None:
    """Moves a redirect's Location out of the headers: the sender reads it by the rules of a
    registered URL, where httpx would read it too (even when it does not follow it) and
    raise on one it cannot parse."""
    location = response.headers.get("location")
    if location is not None:
        del response.headers["location"]
        response.extensions[_LOCATION] = location


def _judge(target: Target, addresses: list[IpAddress], rule: AddressRule) -> None:
    problem = refusal(target, addresses, rule)
    if problem is not None:
        raise _Refused(
            f"refused: {problem}; an operator may allow such addresses with "
            "PDFPROMPT_WEBHOOK_ALLOW_PRIVATE=true"
        )


def _usable(url: str | httpx.URL, what: str) -> Target:
    """`url` read by the same rules as at registration; `_Refused` if it cannot be used."""
    try:
        return parse_target(url)
    except InvalidInputError as exc:
        raise _Refused(f"refused: {what}{exc.message.removeprefix('url: ')}") from None


def _redirected(target: Target, location: str) -> Target:
    """Where a redirect points, checked like a registered URL."""
    what = f"the redirect to {location[:200]!r}: "
    try:
        joined = target.url.join(location)
    except Exception as exc:  # the client cannot read the Location header
        raise _Refused(f"refused: {what}cannot be read: {exc}") from None
    if any(c.isspace() or c == "\\" for c in location):
        raise _Refused(f"refused: {what}may not contain spaces or backslashes")
    return _usable(joined, what)


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".rstrip(": ")
    return text if len(text) <= 300 else text[:299] + "…"
