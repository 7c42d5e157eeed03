"""URL jobs' pages in real Chromium, fetched by pdfprompt from real HTTP servers on loopback
addresses and resolved by a DNS server the test controls: what an allowed page loads, and
every way a page or its requests could reach a private address, refused with nothing
reaching the private listener."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Iterator

import pytest
import trustme

from pdfprompt.domain import (
    RenderOptions,
    UrlPolicy,
    UrlRefusedError,
    UrlUnreachableError,
    WaitFor,
)
from pdfprompt.render import (
    ChromiumRenderer,
    FetchRefusedError,
    WebFetcher,
    nameserver_resolve,
    renderer_from_settings,
)
from tests.support.render import engine_settings, pdf_text
from tests.support.web_hosts import PAGES_ADDRESS, PRIVATE_ADDRESS, Dns, Site


@pytest.fixture(scope="module")
def dns() -> Iterator[Dns]:
    with Dns() as server:
        yield server


@pytest.fixture
def site() -> Iterator[Site]:
    with Site(PAGES_ADDRESS) as served:
        yield served


@pytest.fixture
def private() -> Iterator[Site]:
    """The private listener: a page that reaches it has escaped."""
    with Site(PRIVATE_ADDRESS) as served:
        served.page("/", "<p>SECRET</p>")
        served.page("/secret.png", "x")
        yield served


@pytest.fixture
async def chromium() -> AsyncIterator[ChromiumRenderer]:
    settings = engine_settings("chromium", max_pdf_concurrency=2, render_timeout_s=20)
    async with renderer_from_settings(settings) as renderer:
        assert isinstance(renderer, ChromiumRenderer)
        yield renderer


HOSTS = ("pages.test", "*.pages.test", "evil.test", "rebind.test", PAGES_ADDRESS, PRIVATE_ADDRESS)


def fetcher(dns: Dns, hosts: tuple[str, ...] = HOSTS) -> WebFetcher:
    policy = UrlPolicy(hosts, (ipaddress.ip_network(f"{PAGES_ADDRESS}/32"),))
    return WebFetcher(policy, resolve=nameserver_resolve(dns.server, 2.0), timeout_s=5)


async def test_an_allowed_page_is_printed_with_its_subresources_and_scripts(
    chromium: ChromiumRenderer, dns: Dns, site: Site, private: Site
) -> None:
    dns.names["pages.test"] = [PAGES_ADDRESS]
    dns.names["img.pages.test"] = [PAGES_ADDRESS]
    site.page(
        "/",
        "<html><head><link rel=stylesheet href='/style.css'></head><body>"
        "<h1>WELCOME</h1><p id=out></p>"
        "<script>document.getElementById('out').textContent = 'SCRIPTED'</script>"
        f"<img src='{site.url('/a.png', 'img.pages.test')}'>"
        f"<img src='{private.url('/secret.png')}'>"
        "</body></html>",
    )
    site.pages["/style.css"] = (200, {"Content-Type": "text/css"}, b"h1 { color: red }")
    web = fetcher(dns)
    rendered = await chromium.render_url(site.url("/", "pages.test"), RenderOptions(), web.page())
    text = pdf_text(rendered.data)
    assert "WELCOME" in text and "SCRIPTED" in text
    paths = [path for _, path, _ in site.hits]
    assert paths.count("/") == 1 and "/style.css" in paths and "/a.png" in paths
    # The Host header is the name, though the connection went to the address checked.
    assert site.hits[0][2]["Host"] == f"pages.test:{site.port}"
    assert private.hits == []
    [warning] = rendered.warnings
    assert warning.code == "resource_refused"
    assert f"{PRIVATE_ADDRESS}:{private.port}/secret.png" in warning.message
    assert "Loopback" in warning.message


async def test_a_name_resolving_to_a_private_address_is_refused(
    chromium: ChromiumRenderer, dns: Dns, private: Site
) -> None:
    dns.names["evil.test"] = [PRIVATE_ADDRESS]
    web = fetcher(dns)
    with pytest.raises(UrlRefusedError) as caught:
        await chromium.render_url(private.url("/", "evil.test"), RenderOptions(), web.page())
    assert f"evil.test resolves to {PRIVATE_ADDRESS}" in caught.value.message
    assert caught.value.transient is False
    assert private.hits == []


async def test_a_redirect_to_a_private_address_is_refused(
    chromium: ChromiumRenderer, dns: Dns, site: Site, private: Site
) -> None:
    dns.names["pages.test"] = [PAGES_ADDRESS]
    site.redirect("/go", private.url("/"))
    site.redirect("/hop", site.url("/go", "pages.test"), 301)
    web = fetcher(dns)
    with pytest.raises(UrlRefusedError) as caught:
        await chromium.render_url(site.url("/hop", "pages.test"), RenderOptions(), web.page())
    assert f"{PRIVATE_ADDRESS} is {PRIVATE_ADDRESS}, a special-purpose address" in str(caught.value)
    assert [path for _, path, _ in site.hits] == ["/hop", "/go"]
    assert private.hits == []


async def test_a_rebinding_name_never_reaches_the_private_address(
    chromium: ChromiumRenderer, dns: Dns, site: Site, private: Site
) -> None:
    """The name answers the allowed address and the private one in turn: each request is
    connected to the address it was checked with, so the private one is only ever refused."""
    answers = iter([PAGES_ADDRESS, PRIVATE_ADDRESS] * 50)
    dns.names["rebind.test"] = lambda kind: [next(answers)] if kind == "A" else []
    images = "".join(f"<img src='{site.url(f'/i{n}.png', 'rebind.test')}'>" for n in range(6))
    site.page("/", f"<p>REBIND</p>{images}")
    web = fetcher(dns)
    rendered = await chromium.render_url(site.url("/", "rebind.test"), RenderOptions(), web.page())
    assert "REBIND" in pdf_text(rendered.data)
    # Every other answer was the private address: those images were refused, the others
    # fetched from the pages' address.
    refused = [w.message for w in rendered.warnings]
    assert len(refused) == 3 and all(f"resolves to {PRIVATE_ADDRESS}" in m for m in refused)
    fetched = {path for _, path, _ in site.hits if path != "/"}
    assert len(fetched) == 3 and not any(path in " ".join(refused) for path in fetched)
    assert private.hits == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.3:{port}/",
        "http://[::ffff:127.0.0.3]:{port}/",
        "http://2130706435:{port}/",
        "http://0177.0.0.3:{port}/",
        "http://0x7f.0.0.3:{port}/",
        "http://pages.test@127.0.0.3:{port}/",
        "http://localhost:{port}/",
        "http://[::1]:{port}/",
        "http://169.254.169.254/latest/meta-data/",
    ],
)
async def test_private_addresses_however_written_are_refused(
    chromium: ChromiumRenderer, dns: Dns, private: Site, url: str
) -> None:
    hosts = (*HOSTS, "localhost", "169.254.169.254")
    web = fetcher(dns, hosts)
    with pytest.raises(UrlRefusedError):
        await chromium.render_url(url.format(port=private.port), RenderOptions(), web.page())
    assert private.hits == []


async def test_a_host_off_the_allow_list_is_refused_before_any_lookup(dns: Dns) -> None:
    page = fetcher(dns).page()
    dns.asked.clear()
    with pytest.raises(FetchRefusedError, match="not on the allow-list"):
        await page.fetch("http://elsewhere.test/", "GET", {})
    assert dns.asked == []
    for url in ("file:///etc/passwd", "data:text/html,<p>x</p>", "ftp://pages.test/"):
        with pytest.raises(FetchRefusedError, match="only http and https"):
            await page.fetch(url, "GET", {})


async def test_the_page_cannot_navigate_to_files_or_data(
    chromium: ChromiumRenderer, dns: Dns, site: Site, private: Site
) -> None:
    dns.names["pages.test"] = [PAGES_ADDRESS]
    site.redirect("/file", "file:///etc/passwd")
    site.page(
        "/js",
        "<p>STAYED</p><script>location.href = 'file:///etc/passwd';"
        f"fetch('{private.url('/')}');"
        "window.open('data:text/html,<p>x</p>')</script>",
    )
    web = fetcher(dns)
    with pytest.raises(UrlRefusedError, match="a redirect to file: is refused"):
        await chromium.render_url(site.url("/file", "pages.test"), RenderOptions(), web.page())
    rendered = await chromium.render_url(
        site.url("/js", "pages.test"),
        RenderOptions(wait_for=WaitFor(network_idle=True)),
        web.page(),
    )
    text = pdf_text(rendered.data)
    assert "STAYED" in text and "root:" not in text
    assert private.hits == []


async def test_an_error_status_or_an_unreachable_page_fails_the_job(
    chromium: ChromiumRenderer, dns: Dns, site: Site
) -> None:
    dns.names["pages.test"] = [PAGES_ADDRESS]
    web = fetcher(dns)
    with pytest.raises(UrlUnreachableError, match="answered HTTP 404") as caught:
        await chromium.render_url(site.url("/missing", "pages.test"), RenderOptions(), web.page())
    assert caught.value.transient is False
    with pytest.raises(UrlUnreachableError, match="cannot resolve") as caught:
        await chromium.render_url("http://nowhere.pages.test/", RenderOptions(), web.page())
    assert caught.value.transient is True


async def test_wait_for_a_selector_a_delay_or_the_network(
    chromium: ChromiumRenderer, dns: Dns, site: Site
) -> None:
    dns.names["pages.test"] = [PAGES_ADDRESS]
    site.page(
        "/late",
        "<div id=box>EARLY</div><script>setTimeout(() => {"
        "document.getElementById('box').innerHTML = '<p id=ready>LATE</p>'}, 300)</script>",
    )
    site.page(
        "/data",
        "<div id=box>EMPTY</div><script>setTimeout(() => fetch('/data.txt').then(r => r.text())"
        ".then(t => { document.getElementById('box').textContent = t }), 100)</script>",
    )
    site.pages["/data.txt"] = (200, {"Content-Type": "text/plain"}, b"FETCHED")
    web = fetcher(dns)
    url = site.url("/late", "pages.test")
    plain = await chromium.render_url(url, RenderOptions(), web.page())
    assert "EARLY" in pdf_text(plain.data)
    for wait in (WaitFor(selector="#ready"), WaitFor(delay_ms=1500)):
        waited = await chromium.render_url(url, RenderOptions(wait_for=wait), web.page())
        assert "LATE" in pdf_text(waited.data), wait
    idle = await chromium.render_url(
        site.url("/data", "pages.test"),
        RenderOptions(wait_for=WaitFor(network_idle=True)),
        web.page(),
    )
    assert "FETCHED" in pdf_text(idle.data)
    never = await chromium.render_url(
        url, RenderOptions(wait_for=WaitFor(selector="#never")), web.page()
    )
    assert [w.code for w in never.warnings] == ["wait_for_timeout"]


@pytest.mark.parametrize("build", ["chromium", "chromium-browser"])
async def test_no_script_channel_reaches_the_private_address(
    build: str, dns: Dns, site: Site, private: Site
) -> None:
    """Whatever a page's scripts try (fetch, XHR, a beacon, a form, a WebSocket, a prefetch,
    a frame, WebRTC's STUN and TURN over UDP), nothing reaches the private address, over TCP
    or UDP, on either Chromium build."""
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((PRIVATE_ADDRESS, 0))
    udp.settimeout(0.05)
    with udp:
        udp_port = udp.getsockname()[1]
        target = private.url("/")
        ws = target.replace("http:", "ws:")
        site.page(
            "/",
            "<p>TRIED</p><link rel=prefetch href='" + target + "'>"
            f"<iframe src='{target}'></iframe>"
            f"<form id=f method=post action='{target}'></form><script>"
            f"fetch('{target}').catch(() => {{}});"
            f"const x = new XMLHttpRequest(); x.open('POST', '{target}'); x.send('a');"
            f"navigator.sendBeacon('{target}', 'b');"
            f"try {{ new WebSocket('{ws}') }} catch (e) {{}}"
            "const pc = new RTCPeerConnection({iceServers: ["
            f"{{urls: 'stun:{PRIVATE_ADDRESS}:{udp_port}'}},"
            f"{{urls: 'turn:{PRIVATE_ADDRESS}:{udp_port}?transport=udp', username: 'u',"
            " credential: 'c'}]});"
            "pc.createDataChannel('d'); pc.createOffer().then(o => pc.setLocalDescription(o));"
            "setTimeout(() => document.getElementById('f').submit(), 500);"
            "</script>",
        )
        settings = engine_settings(build, max_pdf_concurrency=1, render_timeout_s=20)
        async with renderer_from_settings(settings) as renderer:
            assert isinstance(renderer, ChromiumRenderer)
            rendered = await renderer.render_url(
                site.url("/"), RenderOptions(wait_for=WaitFor(delay_ms=2500)), fetcher(dns).page()
            )
        packets = 0
        with contextlib.suppress(TimeoutError):
            while True:
                udp.recvfrom(4096)
                packets += 1
    assert "TRIED" in pdf_text(rendered.data)
    assert private.hits == []
    assert packets == 0


async def test_nothing_a_page_keeps_outlives_its_job(
    chromium: ChromiumRenderer, dns: Dns, site: Site
) -> None:
    """Cookies and storage a page sets are gone for the next job's page of the same site
    (each page has a browser context of its own)."""
    dns.names["pages.test"] = [PAGES_ADDRESS]
    site.page(
        "/",
        "<p id=out></p><script>"
        "const seen = (document.cookie || 'NOCOOKIE') + ' '"
        " + (localStorage.getItem('k') || 'NOSTORE');"
        "document.getElementById('out').textContent = seen;"
        "document.cookie = 'k=COOKIE; max-age=3600'; localStorage.setItem('k', 'STORED');"
        "</script>",
        **{"Set-Cookie": "server=SERVERCOOKIE; Max-Age=3600"},
    )
    web = fetcher(dns)
    url = site.url("/", "pages.test")
    first = pdf_text((await chromium.render_url(url, RenderOptions(), web.page())).data)
    second = pdf_text((await chromium.render_url(url, RenderOptions(), web.page())).data)
    # Each sees only the cookie its own answer set: not the one the first page's script set,
    # nor what it stored.
    assert first.split() == second.split() == ["server=SERVERCOOKIE", "NOSTORE"]
    assert all("Cookie" not in headers for _, _, headers in site.hits)


async def test_redirect_loops_and_large_answers_are_cut_off(
    chromium: ChromiumRenderer, dns: Dns, site: Site
) -> None:
    dns.names["pages.test"] = [PAGES_ADDRESS]
    site.redirect("/loop", "/loop")
    web = fetcher(dns)
    with pytest.raises(UrlRefusedError, match="more than 10 redirects"):
        await chromium.render_url(site.url("/loop", "pages.test"), RenderOptions(), web.page())
    assert len(site.hits) == 11  # the first request and ten redirects followed, no more
    site.pages["/big.png"] = (200, {"Content-Type": "image/png"}, b"x" * 200_000)
    site.page("/", f"<p>SMALL</p><img src='{site.url('/big.png', 'pages.test')}'>")
    small = WebFetcher(web.policy, resolve=web.resolve, max_response_bytes=100_000)
    rendered = await chromium.render_url(site.url("/", "pages.test"), RenderOptions(), small.page())
    assert "SMALL" in pdf_text(rendered.data)
    [warning] = rendered.warnings
    assert "larger than 100000 bytes" in warning.message
    few = WebFetcher(web.policy, resolve=web.resolve, max_requests=1)
    rendered = await chromium.render_url(site.url("/", "pages.test"), RenderOptions(), few.page())
    [warning] = rendered.warnings
    assert "more than 1 requests" in warning.message


async def test_https_is_checked_against_the_name_though_connected_to_the_address(
    chromium: ChromiumRenderer, dns: Dns, private: Site
) -> None:
    ca = trustme.CA()
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("secure.pages.test").configure_cert(served)
    trusted = ssl.create_default_context()
    ca.configure_trust(trusted)
    dns.names["secure.pages.test"] = [PAGES_ADDRESS]
    dns.names["other.pages.test"] = [PAGES_ADDRESS]
    policy = UrlPolicy(HOSTS, (ipaddress.ip_network(f"{PAGES_ADDRESS}/32"),))
    web = WebFetcher(policy, resolve=nameserver_resolve(dns.server, 2.0), verify=trusted)
    with Site(PAGES_ADDRESS, tls=served) as site:
        site.page("/", "<p>SECURE</p>")
        rendered = await chromium.render_url(
            site.url("/", "secure.pages.test"), RenderOptions(), web.page()
        )
        assert "SECURE" in pdf_text(rendered.data)
        # The same server under a name its certificate does not hold: no page.
        with pytest.raises(UrlUnreachableError, match="CERTIFICATE_VERIFY_FAILED"):
            await chromium.render_url(
                site.url("/", "other.pages.test"), RenderOptions(), web.page()
            )
    assert private.hits == []
