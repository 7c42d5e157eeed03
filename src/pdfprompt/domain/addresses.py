"""Which addresses are special: the IANA special-purpose address registries (IPv4 and IPv6,
every entry), addresses embedded in IPv6 ones, and a host written as numbers read as the
system's resolver reads it. No I/O: the webhook sender and the fetcher of URL jobs judge the
addresses they connect to by these rules."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
AddressRule = Callable[[IpAddress], bool]

# (range, name, source). The IANA IPv4 Special-Purpose Address Registry, every entry.
_IPV4_SPECIAL = (
    ("0.0.0.0/8", '"This network"', "RFC 791"),
    ("0.0.0.0/32", '"This host on this network"', "RFC 1122"),
    ("10.0.0.0/8", "Private-Use", "RFC 1918"),
    ("100.64.0.0/10", "Shared Address Space", "RFC 6598"),
    ("127.0.0.0/8", "Loopback", "RFC 1122"),
    ("169.254.0.0/16", "Link Local", "RFC 3927"),
    ("172.16.0.0/12", "Private-Use", "RFC 1918"),
    ("192.0.0.0/24", "IETF Protocol Assignments", "RFC 6890"),
    ("192.0.0.0/29", "IPv4 Service Continuity Prefix", "RFC 7335"),
    ("192.0.0.8/32", "IPv4 dummy address", "RFC 7600"),
    ("192.0.0.9/32", "Port Control Protocol Anycast", "RFC 7723"),
    ("192.0.0.10/32", "Traversal Using Relays around NAT Anycast", "RFC 8155"),
    ("192.0.0.170/32", "NAT64/DNS64 Discovery", "RFC 8880"),
    ("192.0.0.171/32", "NAT64/DNS64 Discovery", "RFC 8880"),
    ("192.0.2.0/24", "Documentation (TEST-NET-1)", "RFC 5737"),
    ("192.31.196.0/24", "AS112-v4", "RFC 7535"),
    ("192.52.193.0/24", "AMT", "RFC 7450"),
    ("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "RFC 7526"),
    ("192.88.99.2/32", "6a44-relay anycast address", "RFC 6751"),
    ("192.168.0.0/16", "Private-Use", "RFC 1918"),
    ("192.175.48.0/24", "Direct Delegation AS112 Service", "RFC 7534"),
    ("198.18.0.0/15", "Benchmarking", "RFC 2544"),
    ("198.51.100.0/24", "Documentation (TEST-NET-2)", "RFC 5737"),
    ("203.0.113.0/24", "Documentation (TEST-NET-3)", "RFC 5737"),
    ("240.0.0.0/4", "Reserved", "RFC 1112"),
    ("255.255.255.255/32", "Limited Broadcast", "RFC 919"),
)
# The IANA IPv6 Special-Purpose Address Registry, every entry.
_IPV6_SPECIAL = (
    ("::1/128", "Loopback Address", "RFC 4291"),
    ("::/128", "Unspecified Address", "RFC 4291"),
    ("::ffff:0:0/96", "IPv4-mapped Address", "RFC 4291"),
    ("64:ff9b::/96", "IPv4-IPv6 Translation", "RFC 6052"),
    ("64:ff9b:1::/48", "IPv4-IPv6 Translation (local use)", "RFC 8215"),
    ("100::/64", "Discard-Only Address Block", "RFC 6666"),
    ("2001::/23", "IETF Protocol Assignments", "RFC 2928"),
    ("2001::/32", "TEREDO", "RFC 4380"),
    ("2001:1::1/128", "Port Control Protocol Anycast", "RFC 7723"),
    ("2001:1::2/128", "Traversal Using Relays around NAT Anycast", "RFC 8155"),
    ("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", "RFC 9665"),
    ("2001:2::/48", "Benchmarking", "RFC 5180"),
    ("2001:3::/32", "AMT", "RFC 7450"),
    ("2001:4:112::/48", "AS112-v6", "RFC 7535"),
    ("2001:10::/28", "Deprecated (previously ORCHID)", "RFC 4843"),
    ("2001:20::/28", "ORCHIDv2", "RFC 7343"),
    ("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "RFC 9374"),
    ("2001:db8::/32", "Documentation", "RFC 3849"),
    ("2002::/16", "6to4", "RFC 3056"),
    ("2620:4f:8000::/48", "Direct Delegation AS112 Service", "RFC 7534"),
    ("3fff::/20", "Documentation", "RFC 9637"),
    ("5f00::/16", "Segment Routing (SRv6) SIDs", "RFC 9602"),
    ("fc00::/7", "Unique-Local", "RFC 4193"),
    ("fe80::/10", "Link-Local Unicast", "RFC 4291"),
)
# Not unicast, or not global unicast: the IPv4 and IPv6 address space registries. IPv6
# outside 2000::/3 is the three rows `::/3`, `4000::/2`, `8000::/1` (which hold the
# deprecated IPv4-compatible ::/96 and site-local fec0::/10, and multicast ff00::/8).
_NOT_UNICAST = (
    ("224.0.0.0/4", "Multicast", "RFC 5771"),
    ("::/96", "IPv4-compatible Address (deprecated)", "RFC 4291"),
    ("fec0::/10", "Site-Local (deprecated)", "RFC 3879"),
    ("ff00::/8", "Multicast", "RFC 4291"),
    ("::/3", "Reserved by IETF (not global unicast)", "RFC 4291"),
    ("4000::/2", "Reserved by IETF (not global unicast)", "RFC 4291"),
    ("8000::/1", "Reserved by IETF (not global unicast)", "RFC 4291"),
)


@dataclass(frozen=True, slots=True)
class SpecialRange:
    network: IpNetwork
    name: str
    source: str

    def __str__(self) -> str:
        return f"{self.name}, {self.network}"


# Most specific first, so an address is named by the narrowest range that holds it.
SPECIAL_PURPOSE: tuple[SpecialRange, ...] = tuple(
    sorted(
        (
            SpecialRange(ipaddress.ip_network(block), name, source)
            for block, name, source in (*_IPV4_SPECIAL, *_IPV6_SPECIAL, *_NOT_UNICAST)
        ),
        key=lambda r: -r.network.prefixlen,
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_COMPATIBLE = ipaddress.IPv6Network("::/96")
LOOPBACK = (ipaddress.IPv4Address("127.0.0.1"), ipaddress.IPv6Address("::1"))


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries: mapped, compatible, NAT64 (RFC 6052,
    both prefixes), 6to4, and Teredo's server and client."""
    n = int(address)
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if (address in _COMPATIBLE and n > 1) or address in _NAT64:
        found.append(ipaddress.IPv4Address(n & 0xFFFFFFFF))
    if address in _NAT64_LOCAL:  # a /48 prefix: 16 bits, the u octet, 16 bits
        found.append(ipaddress.IPv4Address(((n >> 64) & 0xFFFF) << 16 | (n >> 40) & 0xFFFF))
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    return found


def _range_of(address: IpAddress) -> SpecialRange | None:
    for special in SPECIAL_PURPOSE:
        if special.network.version == address.version and address in special.network:
            return special
    return None


def special_purpose(address: IpAddress) -> str | None:
    """Why `address` is no public unicast destination (the narrowest range holding it, and
    the range of any IPv4 address it embeds), or None when it is one."""
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        address = ipaddress.IPv6Address(str(address).split("%", 1)[0])
    reasons = []
    special = _range_of(address)
    if special is not None:
        reasons.append(str(special))
    if isinstance(address, ipaddress.IPv6Address):
        for inner in embedded_ipv4(address):
            inner_special = _range_of(inner)
            if inner_special is not None:
                reasons.append(f"holding {inner}: {inner_special}")
    return "; ".join(reasons) or None


def public_only(address: IpAddress) -> bool:
    """The default rule: no address of a special-purpose range, nor one embedding it."""
    return special_purpose(address) is None


_NUMBER = re.compile(r"[0-9]+|0x[0-9a-f]*")


def ipv4_number(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a host that ends in a number means, read as the C library's
    inet_aton and the WHATWG URL standard read it (1 to 4 parts; decimal, 0-octal or
    0x-hex; the last part fills the bytes left); None if the host does not end in a
    number; ValueError if it does but is no address."""
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    if not _NUMBER.fullmatch(parts[-1]):
        return None
    if len(parts) > 4:
        raise ValueError("too many parts")
    numbers = []
    for part in parts:
        if not _NUMBER.fullmatch(part):
            raise ValueError(f"{part!r} is no number")
        if part.startswith("0x"):
            numbers.append(int(part[2:] or "0", 16))
        elif len(part) > 1 and part.startswith("0"):
            numbers.append(int(part[1:], 8))  # ValueError for an 8 or a 9
        else:
            numbers.append(int(part))
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        raise ValueError("a part is too large")
    return ipaddress.IPv4Address(sum(n << (8 * (3 - i)) for i, n in enumerate(leading)) + last)
