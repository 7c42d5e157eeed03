"""Webhook signatures as a receiver checks them, the address rule and the URL check."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

import pytest

from pdfprompt.accounts import address_rule, check_url, public_only, sign, verify
from pdfprompt.domain import InvalidInputError

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


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # shared address space
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fc00::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::",
    ],
)
def test_private_loopback_and_special_addresses_are_refused(address: str) -> None:
    assert not public_only(ipaddress.ip_address(address))
    assert address_rule(True)(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert public_only(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://example.com/hook", "http:// or https://"),
        ("example.com/hook", "http:// or https://"),
        ("https:///hook", "http:// or https://"),
        ("http://127.0.0.1:9000/hook", "127.0.0.1 is a private or loopback address"),
        ("http://[::1]/hook", "::1 is a private or loopback address"),
        ("http://localhost/hook", "localhost is a private or loopback address"),
        ("http://example.com:99999/hook", "url:"),
        ("https://example.com/" + "a" * 2050, "at most 2048"),
    ],
)
def test_bad_webhook_urls_are_refused_with_the_reason(url: str, problem: str) -> None:
    with pytest.raises(InvalidInputError, match="url: ") as info:
        check_url(url, public_only)
    assert problem in str(info.value)


def test_private_urls_pass_when_the_operator_allows_them() -> None:
    assert check_url("http://127.0.0.1:9000/hook", address_rule(True))
    assert check_url("https://hooks.example.com/in", public_only)
