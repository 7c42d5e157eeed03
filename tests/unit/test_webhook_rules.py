"""Webhook signatures as a receiver checks them, the address rule and the URL check: every
URL of `tests.hostile_urls.HOSTILE` refused at registration (names resolving through
`resolve_names`, a stand-in for DNS)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import socket

import pytest

from pdfprompt.domain import InvalidInputError, public_only, special_purpose
from pdfprompt.webhooks import (
    IpAddress,
    address_rule,
    any_address,
    check_url,
    sign,
    verify,
)
from tests.support.hostile_urls import HOSTILE, resolve_names

SECRET = "whsec_test"
BODY = b'{"id":"1","type":"job.succeeded"}'


def test_the_signature_is_hmac_sha256_of_time_dot_body() -> None:
    header = sign(SECRET, BODY, 1_700_000_000)
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_a_receiver_accepts_only_the_right_secret_body_and_recent_time() -> None:
    header = sign(SECRET, BODY, 1_700_000_000)
    assert verify(SECRET, BODY, header, now=1_700_000_100)
    assert not verify(SECRET, BODY + b" ", header, now=1_700_000_100)
    assert not verify("whsec_other", BODY, header, now=1_700_000_100)
    assert not verify(SECRET, BODY, header, now=1_700_000_000 + 301)  # replayed later
    assert not verify(SECRET, BODY, "v1=abc", now=1_700_000_000)
    assert not verify(SECRET, BODY, "t=soon,v1=abc", now=1_700_000_000)


# The IANA IPv4 and IPv6 Special-Purpose Address Registries, every entry, written out again
# here (not taken from the code), and the ranges that are not (global) unicast.
REGISTRIES = [
    "0.0.0.0/8", "0.0.0.0/32", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8",
    "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24", "192.0.0.0/29", "192.0.0.8/32",
    "192.0.0.9/32", "192.0.0.10/32", "192.0.0.170/32", "192.0.0.171/32", "192.0.2.0/24",
    "192.31.196.0/24", "192.52.193.0/24", "192.88.99.0/24", "192.88.99.2/32",
    "192.168.0.0/16", "192.175.48.0/24", "198.18.0.0/15", "198.51.100.0/24",
    "203.0.113.0/24", "240.0.0.0/4", "255.255.255.255/32",
    "::1/128", "::/128", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64",
    "2001::/23", "2001::/32", "2001:1::1/128", "2001:1::2/128", "2001:1::3/128",
    "2001:2::/48", "2001:3::/32", "2001:4:112::/48", "2001:10::/28", "2001:20::/28",
    "2001:30::/28", "2001:db8::/32", "2002::/16", "2620:4f:8000::/48", "3fff::/20",
    "5f00::/16", "fc00::/7", "fe80::/10",
    "224.0.0.0/4", "ff00::/8", "fec0::/10", "::/96", "::/3", "4000::/2", "8000::/1",
]  # fmt: skip


@pytest.mark.parametrize("block", REGISTRIES)
def test_every_special_purpose_range_is_refused_from_end_to_end(block: str) -> None:
    network = ipaddress.ip_network(block)
    for address in (
        network.network_address,
        network.broadcast_address,
        network[network.num_addresses // 2],
    ):
        assert not public_only(address), address
        assert special_purpose(address) is not None
        assert address_rule(True)(address)


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.215.14",
        "9.255.255.255",  # the neighbours of special-purpose ranges
        "11.0.0.0",
        "100.63.255.255",
        "100.128.0.0",
        "126.255.255.255",
        "128.0.0.0",
        "169.253.255.255",
        "172.15.255.255",
        "172.32.0.0",
        "192.0.1.0",
        "192.167.255.255",
        "198.17.255.255",
        "198.20.0.0",
        "223.255.255.255",
        "2606:4700:4700::1111",
        "2001:4860:4860::8888",
        "2001:200::1",  # just past 2001::/23
        "2000::1",
        "3ffe:ffff::1",  # just before 3fff::/20
    ],
)
def test_public_addresses_pass(address: str) -> None:
    assert public_only(ipaddress.ip_address(address))
    assert special_purpose(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("address", "embedded"),
    [
        ("::ffff:10.1.2.3", "10.1.2.3"),  # mapped
        ("::192.168.0.1", "192.168.0.1"),  # compatible
        ("64:ff9b::100.64.0.1", "100.64.0.1"),  # NAT64
        ("64:ff9b:1:a9fe:a9:fe00::", "169.254.169.254"),  # local-use NAT64, a /48
        ("2002:a9fe:a9fe::1", "169.254.169.254"),  # 6to4
        ("2001:0:7f00:1::1", "127.0.0.1"),  # Teredo server
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "10.0.0.1"),  # Teredo client (inverted)
    ],
)
def test_an_address_embedding_ipv4_is_judged_by_it_too(address: str, embedded: str) -> None:
    reason = special_purpose(ipaddress.ip_address(address))
    assert reason is not None and f"holding {embedded}: " in reason


@pytest.mark.parametrize(("url", "problem", "kind"), HOSTILE)
async def test_hostile_urls_are_refused_at_registration(url: str, problem: str, kind: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        await check_url(url, public_only, resolve=resolve_names)
    assert info.value.field == "url"
    assert info.value.message.startswith("url: ")
    assert problem in info.value.message


@pytest.mark.parametrize(("url", "problem", "kind"), HOSTILE)
async def test_an_operator_allowing_private_addresses_still_gets_usable_urls_only(
    url: str, problem: str, kind: str
) -> None:
    if kind == "url":
        with pytest.raises(InvalidInputError, match="url: ") as info:
            await check_url(url, address_rule(True), resolve=resolve_names)
        assert problem in info.value.message
    else:
        assert await check_url(url, address_rule(True), resolve=resolve_names) == url


def test_the_table_is_as_long_as_promised() -> None:
    assert len(HOSTILE) >= 70
    assert len({url for url, _, _ in HOSTILE}) == len(HOSTILE)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/in",
        "https://public.example/in",  # resolves to public addresses only
        "http://8.8.8.8/hook",
        "http://134744072/hook",  # 8.8.8.8, spelled as one number
        "http://[2606:4700:4700::1111]:8443/hook",
        "HTTPS://Hooks.Example.COM/in?x=1#top",
        "https://hooks.example.com./in",
        "https://user:pa%40ss@hooks.example.com/in",
        "https://bücher.example/in",
        "https://xn--bcher-kva.example/in",
        "https://_dmarc.example.com/in",
        "https://a-b.c-d.example:65535/in",
        "https://" + "a" * 63 + ".example/in",
    ],
)
async def test_ordinary_urls_pass(url: str) -> None:
    assert await check_url(url, public_only, resolve=resolve_names) == url


async def test_a_name_that_does_not_resolve_now_is_accepted_and_checked_at_delivery() -> None:
    async def down(host: str, port: int) -> list[IpAddress]:
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    hung = asyncio.Event()

    async def hanging(host: str, port: int) -> list[IpAddress]:
        await hung.wait()  # never set: a resolver that does not answer
        return []

    assert await check_url("https://hooks.example.com/in", public_only, resolve=down)
    url = "https://slow.example/in"
    assert await check_url(url, public_only, resolve=hanging, resolve_timeout_s=0.05) == url


async def test_an_operator_allowing_private_addresses_resolves_nothing() -> None:
    async def unused(host: str, port: int) -> list[IpAddress]:
        raise AssertionError("resolved")

    assert await check_url("http://intranet.example/", any_address, resolve=unused)
