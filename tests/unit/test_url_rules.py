"""The rules URL jobs' requests are judged by, without I/O: host patterns, the ranges an
operator allows, a plan's own list, and URLs as the fetcher reads them."""

from __future__ import annotations

import ipaddress

import pytest

from pdfprompt.domain import (
    BUILTIN_PLANS,
    InvalidInputError,
    UrlPolicy,
    check_host_pattern,
    host_matches,
    parse_networks,
    parse_patterns,
    plan_from_mapping,
)
from pdfprompt.render import FetchRefusedError, page_target


@pytest.mark.parametrize(
    ("host", "matched"),
    [
        ("example.com", True),
        ("EXAMPLE.com.", True),
        ("www.example.com", False),
        ("a.example.org", True),
        ("b.a.example.org", True),
        ("example.org", False),
        ("badexample.org", False),
        ("example.org.evil.com", False),
        ("10.0.0.1", False),
    ],
)
def test_host_patterns_match_a_name_or_the_names_under_one(host: str, matched: bool) -> None:
    assert host_matches(host, ("example.com", "*.example.org")) is matched


@pytest.mark.parametrize("pattern", ["*", "*.com*", "exa mple.com", "a..b", "http://x.com", "*."])
def test_what_is_no_host_pattern_is_refused_naming_the_setting(pattern: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        check_host_pattern(pattern, "PDFPROMPT_URL_ALLOW")
    assert caught.value.field == "PDFPROMPT_URL_ALLOW"


def test_special_addresses_are_refused_unless_their_range_is_allowed() -> None:
    policy = UrlPolicy(
        parse_patterns("intranet.example, *.example.org", "x"),
        parse_networks("10.20.0.0/16, 127.0.0.2", "y"),
    )
    assert policy.enabled and not UrlPolicy().enabled
    allowed = ("10.20.3.4", "127.0.0.2", "93.184.215.14", "2606:4700:4700::1111")
    for address in allowed:
        assert policy.address_refused(ipaddress.ip_address(address)) is None, address
    refused = ("10.21.0.1", "127.0.0.3", "169.254.169.254", "::1", "::ffff:127.0.0.2", "fd00::1")
    for address in refused:
        assert "special-purpose" in str(policy.address_refused(ipaddress.ip_address(address)))
    with pytest.raises(InvalidInputError, match="no CIDR"):
        parse_networks("10.0.0.1/8", "PDFPROMPT_URL_ALLOW_ADDRESSES")  # host bits set


def test_a_plan_may_have_its_own_list_or_none() -> None:
    base = BUILTIN_PLANS["classic"]
    own = plan_from_mapping("classic", {"url_allow": ["docs.example.com"]}, base)
    assert own.url_allow == ("docs.example.com",)
    assert own.as_dict()["url_allow"] == ["docs.example.com"]
    assert "url_allow" not in base.as_dict()  # the server's list: nothing shown
    closed = plan_from_mapping("classic", {"url_allow": []}, base)
    server = UrlPolicy(("example.com",))
    assert not server.for_plan(closed.url_allow).enabled
    assert server.for_plan(None) is server
    for bad in ("example.com", ["*"], [1]):
        with pytest.raises(InvalidInputError):
            plan_from_mapping("classic", {"url_allow": bad}, base)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("file:///etc/passwd", "only http and https"),
        ("data:text/html,x", "only http and https"),
        ("http://user:pw@example.com/", "user name or password"),
        ("http://example.com@10.0.0.1/", "user name or password"),
        ("http://exa mple.com/", "spaces"),
        ("http://example.com\\@10.0.0.1/", "backslashes"),
        ("http://[fe80::1%25eth0]/", "zone"),
        ("http://1.2.3.4.5/", "no IPv4 address"),
        # httpx will not read a dotted address with a leading zero (Chromium hands the
        # fetcher its canonical form, 127.0.0.1, in any case).
        ("http://09.1.1.1/", "cannot be read"),
        ("http://0177.0.0.1/", "cannot be read"),
    ],
)
def test_urls_the_fetcher_will_not_use(url: str, words: str) -> None:
    with pytest.raises(FetchRefusedError, match=words):
        page_target(url)


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://2130706433/", "127.0.0.1"),
        ("http://0x7f.1/", "127.0.0.1"),
        ("http://0177.1/", "127.0.0.1"),
        ("http://[::ffff:127.0.0.3]/", "::ffff:7f00:3"),
    ],
)
def test_a_host_written_as_numbers_is_the_address_it_means(url: str, address: str) -> None:
    assert str(page_target(url).address) == address
