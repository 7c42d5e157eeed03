"""Which web pages a URL job may load: the operator's host patterns, the address ranges the
operator allows on purpose, and the rules every request of such a page is judged by. No I/O:
the fetcher (`pdfprompt.render.web`) resolves and connects; these rules decide."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from pdfprompt.domain.addresses import IpAddress, IpNetwork, special_purpose
from pdfprompt.domain.errors import InvalidInputError

# A host pattern: a host name (`example.com`), or `*.` and a name for any name under it
# (`*.example.org`: `a.example.org`, `b.a.example.org`, not `example.org` itself).
_PATTERN = re.compile(r"(\*\.)?([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_-]{1,63}")
MAX_PATTERNS = 500


def check_host_pattern(pattern: str, name: str) -> str:
    """A host pattern in lower case; `InvalidInputError` naming `name` when it is none."""
    text = pattern.strip().lower().removesuffix(".")
    if len(text) > 253 or not _PATTERN.fullmatch(text):
        raise InvalidInputError(
            f"{name}: {pattern[:80]!r} is no host pattern (a host name such as example.com, "
            "or *.example.org for the names under it)",
            field=name,
        )
    return text


def host_matches(host: str, patterns: Iterable[str]) -> bool:
    """Whether `host` (ASCII, as looked up) is one the patterns name. A host written as an
    address matches only a pattern that is that address."""
    name = host.lower().removesuffix(".")
    for pattern in patterns:
        if pattern.startswith("*."):
            if name.endswith(pattern[1:]) and len(name) > len(pattern) - 1:
                return True
        elif name == pattern:
            return True
    return False


def parse_networks(text: str, name: str) -> tuple[IpNetwork, ...]:
    """CIDRs separated by commas or spaces (`10.1.0.0/16, fd00::/8`); an address alone is
    its own /32 or /128."""
    networks = []
    for part in re.split(r"[\s,]+", text.strip()):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=True))
        except ValueError as exc:
            raise InvalidInputError(
                f"{name}: {part[:60]!r} is no CIDR ({exc})", field=name
            ) from None
    return tuple(networks)


def parse_patterns(text: str, name: str) -> tuple[str, ...]:
    """Host patterns separated by commas or spaces."""
    patterns = tuple(check_host_pattern(p, name) for p in re.split(r"[\s,]+", text) if p.strip())
    if len(patterns) > MAX_PATTERNS:
        raise InvalidInputError(f"{name}: at most {MAX_PATTERNS} patterns", field=name)
    return patterns


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    """What the pages of URL jobs may load. `hosts`: the host patterns a request's host must
    match (none: URL jobs are off); `networks`: the special-purpose ranges the operator
    allows on purpose (an intranet); every other special-purpose address is refused."""

    hosts: tuple[str, ...] = ()
    networks: tuple[IpNetwork, ...] = ()

    @property
    def enabled(self) -> bool:
        return bool(self.hosts)

    def host_allowed(self, host: str) -> bool:
        return host_matches(host, self.hosts)

    def address_refused(self, address: IpAddress) -> str | None:
        """Why a request may not go to `address`, or None when it may."""
        if any(address in n for n in self.networks if n.version == address.version):
            return None
        why = special_purpose(address)
        return f"a special-purpose address ({why})" if why else None

    def for_plan(self, hosts: tuple[str, ...] | None) -> UrlPolicy:
        """The policy for a plan with its own host patterns (None: the server's)."""
        return self if hosts is None else UrlPolicy(hosts, self.networks)
