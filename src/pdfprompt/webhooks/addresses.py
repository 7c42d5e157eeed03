"""Where webhooks may go: a URL as the HTTP client reads it (the special-purpose address
table is the domain's, `pdfprompt.domain.addresses`, shared with URL jobs), and the check
made at registration and again at every delivery and redirect.

One rule set serves both moments. A URL is read by httpx (what the sender connects with),
then its host is judged: a host written as numbers (`127.1`, `2130706433`, `0x7f000001`,
`0177.0.0.1`, with or without a trailing dot) is the IPv4 address the system's resolver
would make of it; `localhost` names (RFC 6761) are loopback whatever any resolver says;
other names are resolved, and every address they have is judged. An address is refused
when it falls in a range of the IANA IPv4 or IPv6 special-purpose address registries (or
is multicast, or IPv6 outside global unicast), or when it embeds an IPv4 address
(mapped, compatible, NAT64, 6to4, Teredo) that is refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import idna

from pdfprompt.domain import (
    LOOPBACK,
    SPECIAL_PURPOSE,
    AddressRule,
    InvalidInputError,
    IpAddress,
    IpNetwork,
    SpecialRange,
    embedded_ipv4,
    ipv4_number,
    public_only,
    special_purpose,
)

__all__ = [
    "LOOPBACK",
    "MAX_URL_CHARS",
    "SPECIAL_PURPOSE",
    "AddressRule",
    "IpAddress",
    "IpNetwork",
    "Resolve",
    "SpecialRange",
    "Target",
    "address_rule",
    "any_address",
    "check_url",
    "embedded_ipv4",
    "parse_target",
    "public_only",
    "refusal",
    "resolve_host",
    "special_purpose",
]

# (host as looked up, port) -> every address the host has; OSError when it has none.
Resolve = Callable[[str, int], Awaitable[list[IpAddress]]]

MAX_URL_CHARS = 2048


def any_address(address: IpAddress) -> bool:
    return True


def address_rule(allow_private: bool) -> AddressRule:
    return any_address if allow_private else public_only


@dataclass(frozen=True, slots=True)
class Target:
    """A webhook URL as the HTTP client reads it."""

    url: httpx.URL
    host: str  # ASCII, lower case, IDNA-encoded: what is looked up
    port: int
    address: IpAddress | None  # the host is an address, in whatever spelling

    @property
    def loopback_name(self) -> bool:
        """`localhost` or a name under it: loopback by definition (RFC 6761)."""
        name = self.host.removesuffix(".")
        return self.address is None and (name == "localhost" or name.endswith(".localhost"))


_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")


def _check_text(url: str) -> None:
    if len(url) > MAX_URL_CHARS:
        raise InvalidInputError(f"url: at most {MAX_URL_CHARS} characters", field="url")
    if any(c.isspace() or unicodedata.category(c) in ("Cc", "Cf") for c in url):
        raise InvalidInputError(
            "url: may not contain spaces, tabs, line breaks, control or invisible characters",
            field="url",
        )
    if "\\" in url:
        raise InvalidInputError(
            "url: may not contain a backslash (URL parsers disagree on what it means)",
            field="url",
        )


def parse_target(url: str | httpx.URL) -> Target:
    """`url` read as the sender reads it, or `InvalidInputError` naming what is wrong."""
    text = str(url)
    _check_text(text)
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
        host = parsed.raw_host.decode("ascii")
        port = parsed.port
    except Exception as exc:  # httpx raises several kinds for a URL it cannot read
        raise InvalidInputError(f"url: cannot be read: {exc}", field="url") from None
    if parsed.scheme not in ("http", "https"):
        raise InvalidInputError("url: must be an http:// or https:// URL", field="url")
    if not host:
        raise InvalidInputError("url: names no host", field="url")
    if port is not None and not 1 <= port <= 65535:
        raise InvalidInputError(f"url: port {port} is not in 1-65535", field="url")
    port = port or (443 if parsed.scheme == "https" else 80)
    address: IpAddress | None
    if ":" in host:  # httpx has checked it is an IPv6 address between brackets
        if "%" in host:
            raise InvalidInputError("url: IPv6 zone ids (%) are not allowed", field="url")
        address = ipaddress.IPv6Address(host)
    else:
        try:
            address = ipv4_number(host)
        except ValueError:
            raise InvalidInputError(
                f"url: {host} ends in a number but is no IPv4 address", field="url"
            ) from None
        if address is None:
            _check_name(host)
    return Target(parsed, host, port, address)


def _check_name(host: str) -> None:
    labels = host.removesuffix(".").split(".")
    if len(host.removesuffix(".")) > 253 or not all(_LABEL.fullmatch(x) for x in labels):
        raise InvalidInputError(
            f"url: {host[:80]} is no host name (labels of 1-63 letters, digits, - or _, "
            "253 characters in all)",
            field="url",
        )
    for label in labels:
        if label.startswith("xn--"):
            try:
                idna.decode(label)
            except (idna.IDNAError, UnicodeError, ValueError) as exc:
                raise InvalidInputError(
                    f"url: {label} is no internationalized name ({exc})", field="url"
                ) from None


async def resolve_host(host: str, port: int) -> list[IpAddress]:
    """The system resolver's addresses for `host`, in its order."""
    found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found]


def refusal(target: Target, addresses: list[IpAddress], rule: AddressRule) -> str | None:
    """Why `rule` refuses a host with `addresses`, or None if it allows them all."""
    for address in addresses:
        if rule(address):
            continue
        why = special_purpose(address)
        what = f"a special-purpose address ({why})" if why else "an address not allowed"
        if address == target.address and (address.version == 6 or str(address) == target.host):
            return f"{target.host} is {what}"
        if target.address is not None:
            return f"{target.host} means {address}, {what}"
        if target.loopback_name:
            return f"{target.host} is a loopback name (RFC 6761) for {address}, {what}"
        return f"{target.host} resolves to {address}, {what}"
    return None


async def check_url(
    url: str,
    rule: AddressRule,
    *,
    resolve: Resolve = resolve_host,
    resolve_timeout_s: float = 2.0,
) -> str:
    """A webhook URL as given, or `InvalidInputError` naming what is wrong. Host names are
    resolved here and judged like the addresses they resolve to; a name that does not
    resolve now (or within `resolve_timeout_s`) passes, and is judged at every delivery."""
    target = parse_target(url)
    if target.address is not None:
        addresses = [target.address]
    elif target.loopback_name:
        addresses = list(LOOPBACK)
    elif rule is any_address:
        return url
    else:
        try:
            async with asyncio.timeout(resolve_timeout_s):
                addresses = await resolve(target.host, target.port)
        except (OSError, UnicodeError, TimeoutError):  # no answer now: judged at delivery
            return url
    problem = refusal(target, addresses, rule)
    if problem is not None:
        raise InvalidInputError(f"url: {problem}, which webhooks may not reach", field="url")
    return url
