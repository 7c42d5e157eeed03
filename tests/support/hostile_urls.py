"""The table of URLs a webhook may not have, for the unit, integration and end-to-end
tests: each is refused at registration and, stored anyway, at delivery."""

from __future__ import annotations

import ipaddress
import socket

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# What the stand-in resolver knows; any other name does not resolve (DNS is down).
NAMES = {
    "intranet.example": ["10.0.0.7"],
    "metadata.example": ["169.254.169.254"],
    "mixed.example": ["93.184.215.14", "192.168.0.10"],
    "six.example": ["2606:4700:4700::1111", "fd00::5"],
    "mapped.example": ["::ffff:127.0.0.1"],
    "public.example": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
}


async def resolve_names(host: str, port: int) -> list[IpAddress]:
    """A stand-in for DNS: the addresses `NAMES` gives, or the error of a name unknown."""
    if host in NAMES:
        return [ipaddress.ip_address(a) for a in NAMES[host]]
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


LOOPBACK_IS = "a special-purpose address (Loopback, 127.0.0.0/8)"

# (url, part of the reason, kind): "address" URLs are refused by the address rule only (an
# operator who allows private addresses may use them), "url" URLs by any rule (the client
# cannot use them), "name" URLs through what their name resolves to.
HOSTILE: list[tuple[str, str, str]] = [
    # Loopback, however it is spelled.
    ("http://127.0.0.1:9000/hook", f"127.0.0.1 is {LOOPBACK_IS}", "address"),
    ("http://127.8.9.10/", "127.8.9.10 is a special-purpose address (Loopback", "address"),
    ("http://2130706433/", f"2130706433 means 127.0.0.1, {LOOPBACK_IS}", "address"),
    ("http://0x7f000001/", f"0x7f000001 means 127.0.0.1, {LOOPBACK_IS}", "address"),
    ("http://0X7F000001/", "0x7f000001 means 127.0.0.1", "address"),
    ("http://0x7f.0x0.0x0.0x1/", "means 127.0.0.1", "address"),
    ("http://017700000001/", "017700000001 means 127.0.0.1", "address"),
    ("http://0177.1/", "0177.1 means 127.0.0.1", "address"),
    ("http://127.1/", f"127.1 means 127.0.0.1, {LOOPBACK_IS}", "address"),
    ("http://127.0.1/", "127.0.1 means 127.0.0.1", "address"),
    ("http://127.0.0.1./", "127.0.0.1. means 127.0.0.1", "address"),
    ("http://0x7f.1./", "0x7f.1. means 127.0.0.1", "address"),
    ("http://localhost/hook", "localhost is a loopback name (RFC 6761) for 127.0.0.1", "address"),
    ("http://localhost./", "localhost. is a loopback name", "address"),
    ("http://LocalHost:8080/", "localhost is a loopback name", "address"),
    ("http://api.localhost/", "api.localhost is a loopback name", "address"),
    (
        "http://[::1]/hook",
        "::1 is a special-purpose address (Loopback Address, ::1/128)",
        "address",
    ),
    ("http://[0:0:0:0:0:0:0:1]/", "(Loopback Address, ::1/128)", "address"),
    ("http://[::]/", "(Unspecified Address, ::/128)", "address"),
    ("http://0/", 'means 0.0.0.0, a special-purpose address ("This host', "address"),
    ("http://0.0.0.0:8080/", '"This host on this network", 0.0.0.0/32', "address"),
    ("http://0.1.2.3/", '"This network", 0.0.0.0/8', "address"),
    # IPv6 forms that embed, or route to, IPv4.
    (
        "http://[::ffff:127.0.0.1]/",
        "(IPv4-mapped Address, ::ffff:0:0/96; holding 127.0.0.1: Loopback",
        "address",
    ),
    ("http://[::ffff:7f00:1]/", "holding 127.0.0.1: Loopback", "address"),
    ("http://[::ffff:169.254.169.254]/", "holding 169.254.169.254: Link Local", "address"),
    (
        "http://[::127.0.0.1]/",
        "(IPv4-compatible Address (deprecated), ::/96; holding 127.0.0.1",
        "address",
    ),
    ("http://[::10.0.0.1]/", "holding 10.0.0.1: Private-Use", "address"),
    (
        "http://[64:ff9b::127.0.0.1]/",
        "(IPv4-IPv6 Translation, 64:ff9b::/96; holding 127.0.0.1",
        "address",
    ),
    ("http://[64:ff9b::a9fe:a9fe]/", "holding 169.254.169.254: Link Local", "address"),
    ("http://[64:ff9b:1:7f00:0:100::]/", "64:ff9b:1::/48; holding 127.0.0.1: Loopback", "address"),
    ("http://[2002:7f00:1::]/", "(6to4, 2002::/16; holding 127.0.0.1: Loopback", "address"),
    ("http://[2002:c0a8:101::1]/", "holding 192.168.1.1: Private-Use", "address"),
    (
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
        "(TEREDO, 2001::/32; holding 127.0.0.1",
        "address",
    ),
    ("http://[2001:0:a00:1::1]/", "holding 10.0.0.1: Private-Use", "address"),
    ("http://[fec0::1]/", "(Site-Local (deprecated), fec0::/10)", "address"),
    ("http://[fe80::1]/", "(Link-Local Unicast, fe80::/10)", "address"),
    ("http://[fc00::1]/", "(Unique-Local, fc00::/7)", "address"),
    ("http://[fd12:3456::1]:8443/", "(Unique-Local, fc00::/7)", "address"),
    ("http://[ff02::1]/", "(Multicast, ff00::/8)", "address"),
    ("http://[100::1]/", "(Discard-Only Address Block, 100::/64)", "address"),
    ("http://[2001:db8::1]/", "(Documentation, 2001:db8::/32)", "address"),
    ("http://[3fff::1]/", "(Documentation, 3fff::/20)", "address"),
    ("http://[2001:2::1]/", "(Benchmarking, 2001:2::/48)", "address"),
    ("http://[2001:4:112::1]/", "(AS112-v6, 2001:4:112::/48)", "address"),
    (
        "http://[2620:4f:8000::1]/",
        "(Direct Delegation AS112 Service, 2620:4f:8000::/48)",
        "address",
    ),
    ("http://[2001:20::1]/", "(ORCHIDv2, 2001:20::/28)", "address"),
    ("http://[5f00::1]/", "(Segment Routing (SRv6) SIDs, 5f00::/16)", "address"),
    ("http://[4000::1]/", "(Reserved by IETF (not global unicast), 4000::/2)", "address"),
    # IPv4 special-purpose ranges.
    ("http://10.0.0.1/", "(Private-Use, 10.0.0.0/8)", "address"),
    ("http://172.16.0.1/", "(Private-Use, 172.16.0.0/12)", "address"),
    ("http://172.31.255.255/", "(Private-Use, 172.16.0.0/12)", "address"),
    ("http://192.168.1.1/", "(Private-Use, 192.168.0.0/16)", "address"),
    ("http://169.254.169.254/latest/meta-data/", "(Link Local, 169.254.0.0/16)", "address"),
    ("http://100.64.0.1/", "(Shared Address Space, 100.64.0.0/10)", "address"),
    ("http://100.127.255.254/", "(Shared Address Space, 100.64.0.0/10)", "address"),
    ("http://192.0.0.1/", "(IPv4 Service Continuity Prefix, 192.0.0.0/29)", "address"),
    ("http://192.0.0.9/", "(Port Control Protocol Anycast, 192.0.0.9/32)", "address"),
    ("http://192.0.0.170/", "(NAT64/DNS64 Discovery, 192.0.0.170/32)", "address"),
    ("http://192.0.0.200/", "(IETF Protocol Assignments, 192.0.0.0/24)", "address"),
    ("http://192.0.2.1/", "(Documentation (TEST-NET-1), 192.0.2.0/24)", "address"),
    ("http://198.51.100.7/", "(Documentation (TEST-NET-2), 198.51.100.0/24)", "address"),
    ("http://203.0.113.9/", "(Documentation (TEST-NET-3), 203.0.113.0/24)", "address"),
    ("http://198.18.0.1/", "(Benchmarking, 198.18.0.0/15)", "address"),
    ("http://198.19.255.1/", "(Benchmarking, 198.18.0.0/15)", "address"),
    ("http://192.31.196.1/", "(AS112-v4, 192.31.196.0/24)", "address"),
    ("http://192.175.48.1/", "(Direct Delegation AS112 Service, 192.175.48.0/24)", "address"),
    ("http://192.52.193.1/", "(AMT, 192.52.193.0/24)", "address"),
    ("http://192.88.99.1/", "(Deprecated (6to4 Relay Anycast), 192.88.99.0/24)", "address"),
    ("http://240.0.0.1/", "(Reserved, 240.0.0.0/4)", "address"),
    ("http://255.255.255.255/", "(Limited Broadcast, 255.255.255.255/32)", "address"),
    ("http://224.0.0.1/", "(Multicast, 224.0.0.0/4)", "address"),
    ("http://239.255.255.250:1900/", "(Multicast, 224.0.0.0/4)", "address"),
    # Where the host is not where it seems to be.
    ("http://good.example@127.0.0.1/", f"127.0.0.1 is {LOOPBACK_IS}", "address"),
    ("http://good.example:secret@127.0.0.1:8080/", f"127.0.0.1 is {LOOPBACK_IS}", "address"),
    ("http://127.0.0.1#@good.example/", f"127.0.0.1 is {LOOPBACK_IS}", "address"),
    ("http://127.0.0.1?@good.example/", f"127.0.0.1 is {LOOPBACK_IS}", "address"),
    ("http://127。0。0。1/", f"127.0.0.1 is {LOOPBACK_IS}", "address"),
    ("http://127\uff0e0\uff0e0\uff0e1/", f"127.0.0.1 is {LOOPBACK_IS}", "address"),
    ("HTTP://127.0.0.1/", f"127.0.0.1 is {LOOPBACK_IS}", "address"),
    ("hTtPs://LOCALHOST/", "localhost is a loopback name", "address"),
    # Names that resolve to special-purpose addresses.
    (
        "http://intranet.example:8080/x",
        "intranet.example resolves to 10.0.0.7, a special-purpose address (Private-Use",
        "name",
    ),
    ("http://metadata.example/", "resolves to 169.254.169.254", "name"),
    ("http://mixed.example/", "mixed.example resolves to 192.168.0.10", "name"),
    ("http://six.example/", "six.example resolves to fd00::5", "name"),
    ("http://mapped.example/", "holding 127.0.0.1: Loopback", "name"),
    ("http://INTRANET.Example/", "intranet.example resolves to 10.0.0.7", "name"),
    # URLs the client cannot use, or reads otherwise than other parsers.
    ("http://good.example\\@127.0.0.1/", "may not contain a backslash", "url"),
    ("http://127.0.0.1\\@good.example/", "may not contain a backslash", "url"),
    ("http://good.example/\\..\\", "may not contain a backslash", "url"),
    ("http://good.example\t@127.0.0.1/", "may not contain spaces, tabs", "url"),
    ("http://good.example/\r\nX-Injected: 1", "line breaks", "url"),
    ("http://exa\nmple.com/", "line breaks", "url"),
    ("http://example.com/ hook", "may not contain spaces", "url"),
    (" http://example.com/", "may not contain spaces", "url"),
    ("http://example.com/\x00", "control or invisible characters", "url"),
    ("http://exam\u200bple.com/", "control or invisible characters", "url"),
    ("http://0177.0.0.1/", "cannot be read: Invalid IPv4 address", "url"),
    ("http://127.000.000.001/", "cannot be read: Invalid IPv4 address", "url"),
    ("http://08.1/", "08.1 ends in a number but is no IPv4 address", "url"),
    ("http://1.2.3.4.5/", "ends in a number but is no IPv4 address", "url"),
    ("http://256.1/", "ends in a number but is no IPv4 address", "url"),
    ("http://1.16777216/", "ends in a number but is no IPv4 address", "url"),
    ("http://4294967296/", "ends in a number but is no IPv4 address", "url"),
    ("http://example.0x/", "ends in a number but is no IPv4 address", "url"),
    ("http://1_27.0.0.1/", "ends in a number but is no IPv4 address", "url"),
    (
        "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/",
        "cannot be read: Invalid IDNA hostname",
        "url",
    ),
    ("http://loca\uff4chost/", "cannot be read: Invalid IDNA hostname", "url"),
    ("http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ/", "cannot be read: Invalid IDNA hostname", "url"),
    ("http://xn--/", "xn-- is no host name", "url"),
    ("http://xn--zz.example/", "xn--zz is no internationalized name", "url"),
    ("http://a..b/", "a..b is no host name", "url"),
    ("http://.example.com/", "is no host name", "url"),
    ("http://example.com../", "is no host name", "url"),
    ("http://-example.com/", "is no host name", "url"),
    ("http://exa%6dple.com/", "exa%6dple.com is no host name", "url"),
    ("http://exa$mple.com/", "is no host name", "url"),
    ("http://" + "a" * 64 + ".example/", "is no host name", "url"),
    ("http://" + ("a" * 60 + ".") * 5 + "example/", "is no host name", "url"),
    ("http://[fe80::1%25eth0]/", "IPv6 zone ids (%) are not allowed", "url"),
    ("http://[::1%25lo]:8080/", "IPv6 zone ids (%) are not allowed", "url"),
    ("http://[127.0.0.1]/", "cannot be read: Invalid IPv6 address", "url"),
    ("http://[v1.fe80::a+en1]/", "cannot be read: Invalid IPv6 address", "url"),
    ("http://[::1/", "cannot be read", "url"),
    ("http://example.com:0/", "port 0 is not in 1-65535", "url"),
    ("http://example.com:65536/", "port 65536 is not in 1-65535", "url"),
    ("http://example.com:99999/", "port 99999 is not in 1-65535", "url"),
    ("http://example.com:-1/", "port -1 is not in 1-65535", "url"),
    ("http://example.com:80a/", "cannot be read: Invalid port", "url"),
    ("https:///hook", "names no host", "url"),
    ("http://:8080/", "names no host", "url"),
    ("http://user@/", "names no host", "url"),
    ("http:127.0.0.1/", "names no host", "url"),
    ("http:/127.0.0.1/", "names no host", "url"),
    ("ftp://example.com/hook", "must be an http:// or https:// URL", "url"),
    ("file:///etc/passwd", "must be an http:// or https:// URL", "url"),
    ("gopher://127.0.0.1:6379/_INFO", "must be an http:// or https:// URL", "url"),
    ("ws://example.com/", "must be an http:// or https:// URL", "url"),
    ("javascript:alert(1)", "must be an http:// or https:// URL", "url"),
    ("data:text/plain,hi", "must be an http:// or https:// URL", "url"),
    ("//example.com/hook", "must be an http:// or https:// URL", "url"),
    ("example.com/hook", "must be an http:// or https:// URL", "url"),
    ("https://example.com/" + "a" * 2050, "at most 2048 characters", "url"),
]
