"""Hostile documents against the renderers' limits, on real Chromium (both builds) and real
WeasyPrint: a PDF over the byte limit, a render over the memory limit, a message over the
DevTools pipe's limit, and options or documents the engine refuses every time.

Memory is what these tests assert (this process's resident memory, sampled while the bomb
runs), never time."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pdfprompt.domain import (
    BrowserUnavailableError,
    FileTooLargeError,
    InvalidInputError,
    RenderMemoryExceededError,
    RenderOptions,
    RenderRefusedError,
)
from pdfprompt.domain.options import Margin
from pdfprompt.render import ChromiumRenderer, RendererPool, renderer_from_settings
from pdfprompt.render.chromium import BrowserClosedError, CdpBrowser, MessagePipe
from pdfprompt.render.chromium.launch import launch
from tests.support.bombs import MB, PeakRss, huge_image, noise_image, noise_pages
from tests.support.processes import alive
from tests.support.render import ENGINES, engine_settings, pdf_text
from tests.support.waiting import until

CHROMIUM_BUILDS = [e for e in ENGINES if e.startswith("chromium")]


async def _renders_again(renderer: RendererPool) -> None:
    out = await renderer.render("<p>after the bomb</p>", RenderOptions())
    assert "after the bomb" in pdf_text(out.data)


Answer = asyncio.Future[dict[str, Any]]


class _Commands:
    """Every command any browser is sent while patched in: `sent` holds (browser, method,
    params, the future of its answer); `on_send[method]` is called with that future as the
    command is sent. A method put in `held` is not sent, once: its answer waits, as for a
    command the browser is still working on, until the browser is gone."""

    def __init__(self) -> None:
        self.sent: list[tuple[CdpBrowser, str, Any, Answer]] = []
        self.on_send: dict[str, Callable[[Answer], None]] = {}
        self.held: set[str] = set()

    def __iter__(self) -> Iterator[tuple[CdpBrowser, str, Any, Answer]]:
        return iter(self.sent)

    def last_browser(self) -> CdpBrowser:
        return self.sent[-1][0]

    def answers(self, method: str) -> list[Answer]:
        return [answer for _, m, _, answer in self.sent if m == method]


@contextlib.contextmanager
def _posted(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Commands]:
    commands = _Commands()
    post = CdpBrowser.post

    def recording(
        self: CdpBrowser, method: str, params: dict[str, Any] | None = None, session: str = ""
    ) -> Answer:
        if method in commands.held:
            commands.held.discard(method)
            answer: Answer = asyncio.get_running_loop().create_future()
            self._waiting[-1 - len(commands.sent)] = (method, answer)  # fails with the browser
        else:
            answer = post(self, method, params, session)
        commands.sent.append((self, method, params, answer))
        if method in commands.on_send:
            commands.on_send[method](answer)
        return answer

    monkeypatch.setattr(CdpBrowser, "post", recording)
    yield commands


# -- a PDF over the byte limit ---------------------------------------------------------------


@pytest.fixture(params=ENGINES)
async def capped(request: pytest.FixtureRequest) -> AsyncIterator[RendererPool]:
    """A renderer whose server-wide PDF limit is 1 MB (PDFPROMPT_MAX_PDF_MB=1)."""
    settings = engine_settings(
        request.param, max_pdf_concurrency=1, max_pdf_mb=1, render_timeout_s=60
    )
    async with renderer_from_settings(settings) as renderer:
        yield renderer


async def test_a_pdf_over_the_byte_limit_fails_for_good_and_is_never_held_whole(
    capped: RendererPool,
) -> None:
    """A few hundred bytes of SVG noise make Chromium write a PDF of about 30 MB; with a
    limit of 1 MB the render fails with file_too_large, and this process never holds more
    than a chunk of it (before, the whole PDF arrived as one base64 message, parsed and
    decoded whole: three to four times its size). WeasyPrint draws no SVG filter: an
    incompressible image makes its PDF pass the limit."""
    bomb = noise_pages(1) + noise_image(700)
    with (
        PeakRss() as rss,
        pytest.raises(FileTooLargeError, match="the limit is 1048576") as info,
    ):
        await capped.render(bomb, RenderOptions())
    assert info.value.code == "file_too_large" and not info.value.transient
    assert rss.growth < 24 * MB, f"grew {rss.growth / MB:.0f} MB"
    # A lower limit asked for by the render (a plan's) wins over the server's.
    with pytest.raises(FileTooLargeError, match="the limit is 300000"):
        await capped.render(noise_image(700), RenderOptions(), max_bytes=300_000)
    await _renders_again(capped)


# -- a message over the pipe's limit ---------------------------------------------------------

_WRITE_HUGE = """
import sys
out = sys.stdout.buffer
out.write(b'{"id":1,"result":{}}\\0')
out.write(b'{"id":2,"result":{"data":"' + b"A" * (64 * 1024 * 1024) + b'"}}\\0')
out.flush()
"""


async def test_the_pipe_refuses_a_message_over_its_limit_without_building_it() -> None:
    """A real process writes a small message, then one of 64 MB: the small one is read, the
    big one is refused once the buffer passes the limit (1 MB here), reading stops, and this
    process never holds the big one."""
    read_end, write_end = os.pipe()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _WRITE_HUGE, stdout=write_end
    )
    os.close(write_end)
    messages: list[bytes] = []
    refused: list[int] = []
    closed = asyncio.Event()
    loop = asyncio.get_running_loop()
    with PeakRss() as rss:
        transport, pipe = await loop.connect_read_pipe(
            lambda: MessagePipe(messages.append, closed.set, 1 * MB, refused.append),
            os.fdopen(read_end, "rb", buffering=0),
        )
        await asyncio.wait_for(closed.wait(), 30)
        await asyncio.wait_for(process.wait(), 30)  # its writes failed once reading stopped
    transport.close()
    assert messages == [b'{"id":1,"result":{}}']
    assert pipe.refused and len(refused) == 1
    assert 1 * MB < refused[0] <= 1 * MB + 512 * 1024  # at most one read past the limit
    assert rss.growth < 16 * MB, f"grew {rss.growth / MB:.0f} MB"


_FAKE_BROWSER = """#!{python}
import os
commands = os.fdopen(3, "rb", buffering=0)
answers = os.fdopen(4, "wb", buffering=0)
buffer = b""
while b"\\0" not in buffer:
    buffer += commands.read(4096) or b"\\0"
answers.write(b'{{"id":1,"result":{{"data":"' + b"A" * (8 * 1024 * 1024) + b'"}}}}\\0')
commands.read()  # until the pipe closes
"""


async def test_a_browser_that_sends_an_oversized_message_is_killed(tmp_path: Path) -> None:
    """A "browser" (a script speaking the pipe protocol) answers the first command with a
    message over the limit: the command fails at once, the process is killed and reaped,
    and nothing of the message was built."""
    fake = tmp_path / "chromium"
    fake.write_text(_FAKE_BROWSER.format(python=sys.executable))
    fake.chmod(0o755)
    with PeakRss() as rss:
        browser = await CdpBrowser.launch(str(fake), [], max_message_bytes=1 * MB)
        with pytest.raises(BrowserClosedError, match="message of more than"):
            await asyncio.wait_for(browser.send("Target.getTargets"), 30)
        assert "message of more than" in browser.killed_because
        await asyncio.wait_for(browser.close(), 30)
    assert browser.process.returncode == -9
    assert not Path(browser.profile).exists()
    assert rss.growth < 16 * MB, f"grew {rss.growth / MB:.0f} MB"


@pytest.mark.parametrize("engine", CHROMIUM_BUILDS)
async def test_a_chromium_message_over_the_limit_fails_the_render_and_the_browser_is_replaced(
    engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real Chromium, a pipe limit of 512 KB, a PDF of 1.5 MB read in chunks of up to 4 MB:
    the chunk's message is refused, the browser is killed and the render fails as after a
    crash (transient); the next render gets a new browser."""
    settings = engine_settings(engine, max_pdf_concurrency=1, render_timeout_s=60)
    assert settings.chromium_path is not None
    renderer = ChromiumRenderer(
        settings.chromium_path, max_concurrency=1, timeout_s=60, max_message_bytes=512 * 1024
    )
    with _posted(monkeypatch) as commands:
        async with renderer:
            with pytest.raises(BrowserUnavailableError, match="message of more than") as info:
                await renderer.render(noise_image(700), RenderOptions())
            assert info.value.transient
            killed = commands.last_browser()
            await until(lambda: not alive(killed.process.pid), 30, "the browser is gone")
            await _renders_again(renderer)
            assert commands.last_browser() is not killed


# -- a print given up on ---------------------------------------------------------------------


def _streams_open(browser: CdpBrowser) -> list[str]:
    """The PDF streams a browser holds open: deleted files in its temporary directory."""
    pid = browser.process.pid
    found = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if ".org.chromium.Chromium." in target:
                found.append(target)
    return found


@pytest.mark.parametrize("engine", CHROMIUM_BUILDS)
async def test_a_print_given_up_on_is_never_read_and_its_stream_is_closed(
    engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A render stopped (cancelled, as a timeout does) while the browser holds its 30 MB
    PDF: the moment the print's answer arrives, and at its first read. Either way its stream
    is closed, no chunk of it is decoded (nor even parsed), and the browser keeps no file of
    it."""
    settings = engine_settings(engine, max_pdf_concurrency=1, render_timeout_s=60)
    bomb = noise_pages(1)
    with _posted(monkeypatch) as commands:
        async with renderer_from_settings(settings) as renderer:
            await renderer.render("<p>warm</p>", RenderOptions())
            browser = commands.last_browser()

            async def stop(when: str) -> None:
                commands.sent.clear()
                rendering = asyncio.create_task(renderer.render(bomb, RenderOptions()))
                if when == "Page.printToPDF":  # stopped the moment its answer comes
                    commands.on_send[when] = lambda answer: answer.add_done_callback(
                        lambda _: rendering.cancel()
                    )
                else:  # stopped as the first chunk is asked for
                    commands.on_send[when] = lambda _: rendering.cancel()
                with PeakRss() as rss:
                    with pytest.raises(asyncio.CancelledError):
                        await rendering
                    del commands.on_send[when]
                    stream = commands.answers("Page.printToPDF")[0].result()["stream"]

                    def closed() -> bool:
                        return any(
                            m == "IO.close" and p["handle"] == stream for _, m, p, _ in commands
                        )

                    await until(closed, 30, "the stream is closed")
                    await until(lambda: not _streams_open(browser), 30, "the file is gone")
                assert rss.growth < 16 * MB, f"{when}: grew {rss.growth / MB:.0f} MB"
                # Every read was given up before its answer came: none was parsed.
                assert all(a.cancelled() for a in commands.answers("IO.read")), when

            await stop("Page.printToPDF")
            await _renders_again(renderer)
            await stop("IO.read")
            await _renders_again(renderer)


# -- a render over the memory limit ----------------------------------------------------------


@pytest.mark.parametrize("engine", CHROMIUM_BUILDS)
async def test_a_browser_over_the_memory_limit_is_killed_and_only_the_render_that_grew_it_fails_for_memory(  # noqa: E501
    engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two renders on one browser: a light one (one line of text) whose print is still
    awaited, and a 320 KB image that decodes to 243 MB. The browser passes its memory limit
    (600 MB) and is killed: the image's render fails with render_memory_exceeded, the other
    as after a crash (browser_unavailable, retried), and the next render gets a new browser.
    (The light one's print is held, never sent, so that it is in flight at the kill without
    holding memory of its own: a render that holds as much as the image while the image
    decodes makes either one a fair cause.) On the full browser the image may be held where
    no page's own processes are (its print compositor, shared by its pages), which makes
    the render named a best guess there (docs/render.md, "Render bombs"): exactly one of the
    two fails for memory."""
    settings = engine_settings(
        engine, max_pdf_concurrency=2, render_timeout_s=120, render_memory_limit_mb=600
    )
    with _posted(monkeypatch) as commands:
        async with renderer_from_settings(settings) as renderer:
            assert isinstance(renderer, ChromiumRenderer)
            commands.held.add("Page.printToPDF")
            light = asyncio.create_task(renderer.render("<p>light</p>", RenderOptions()))
            await until(lambda: bool(commands.answers("Page.printToPDF")), 30, "it prints")
            browser = commands.last_browser()
            bomb = asyncio.create_task(renderer.render(huge_image(), RenderOptions()))
            with PeakRss() as rss:
                results = await asyncio.gather(bomb, light, return_exceptions=True)
            if engine == "chromium-browser":
                results.sort(key=lambda r: not isinstance(r, RenderMemoryExceededError))
            assert isinstance(results[0], RenderMemoryExceededError), results[0]
            assert results[0].transient and results[0].code == "render_memory_exceeded"
            assert isinstance(results[1], BrowserUnavailableError), results[1]
            assert results[1].transient and "render memory limit" in results[1].message
            assert renderer.memory_kills == 1
            await until(lambda: not alive(browser.process.pid), 30, "the browser is gone")
            assert rss.growth < 32 * MB, f"grew {rss.growth / MB:.0f} MB"
            await _renders_again(renderer)


async def test_a_weasyprint_render_over_its_memory_limit_fails_with_the_memory_code() -> None:
    """A WeasyPrint process has the memory limit as its address space: the image that
    decodes to 243 MB fails its render with render_memory_exceeded (the process, its state
    no longer trusted, is replaced), and this process never sees the bomb."""
    settings = engine_settings(
        "weasyprint", max_pdf_concurrency=1, render_timeout_s=60, render_memory_limit_mb=400
    )
    bomb = huge_image()
    async with renderer_from_settings(settings) as renderer:
        with PeakRss() as rss, pytest.raises(RenderMemoryExceededError) as info:
            await renderer.render(bomb, RenderOptions())
        assert info.value.transient and "400 MB" in info.value.message
        assert rss.growth < 24 * MB, f"grew {rss.growth / MB:.0f} MB"
        await _renders_again(renderer)


# -- failures that repeat ----------------------------------------------------------------------


@pytest.fixture(params=ENGINES)
async def renderer(request: pytest.FixtureRequest) -> AsyncIterator[RendererPool]:
    settings = engine_settings(request.param, max_pdf_concurrency=1, render_timeout_s=30)
    async with renderer_from_settings(settings) as renderer:
        yield renderer


async def test_a_render_that_fails_the_same_way_every_time_fails_for_good(
    renderer: RendererPool, request: pytest.FixtureRequest
) -> None:
    """Print options Chromium refuses (margins wider than the page, a page of no width) and a
    document WeasyPrint raises on are permanent failures with a clear code, not a transient
    render_failed retried to the last attempt; the renderer goes on."""
    engine = request.node.callspec.params["renderer"]
    if renderer.name == "chromium":
        wide = Margin("200mm", "200mm", "200mm", "200mm")
        with pytest.raises(InvalidInputError, match=r"options\.margin") as margin:
            await renderer.render("<p>x</p>", RenderOptions(margin=wide))
        assert margin.value.field == "options.margin" and not margin.value.transient
        with pytest.raises(InvalidInputError, match=r"options\.width") as width:
            await renderer.render("<p>x</p>", RenderOptions(width="0", height="100mm"))
        assert not width.value.transient
        if engine == "chromium-browser":  # the full browser prints no page 1,000 inches wide
            with pytest.raises(RenderRefusedError, match="Printing failed") as huge:
                await renderer.render("<p>x</p>", RenderOptions(width="1000in", height="1000in"))
            assert huge.value.code == "render_refused" and not huge.value.transient
    else:
        with pytest.raises(RenderRefusedError, match="ZeroDivisionError") as raised:
            await renderer.render("<p style='font-size: 1e30px'>x</p>", RenderOptions())
        assert raised.value.code == "render_refused" and not raised.value.transient
    await _renders_again(renderer)


@pytest.mark.parametrize("engine", CHROMIUM_BUILDS)
async def test_the_browser_gets_none_of_the_services_secrets(
    engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process that runs documents starts with its paths, language and time zone
    only: not the database address, the secret key, the storage keys, or a preloaded
    library."""
    settings = engine_settings(engine, max_pdf_concurrency=1)
    assert settings.chromium_path is not None
    secrets = {
        "DATABASE_URL": "postgresql://user:hunter2@db/pdfprompt",
        "PDFPROMPT_SECRET_KEY": "not-for-the-browser",
        "AWS_SECRET_ACCESS_KEY": "not-for-the-browser-either",
        "LD_PRELOAD": "",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LC_TIME", "de_DE.UTF-8")
    browser, _ = await launch(settings.chromium_path, frameless=False, max_message_bytes=MB)
    try:
        raw = Path(f"/proc/{browser.process.pid}/environ").read_bytes()
        environ = dict(entry.split("=", 1) for entry in raw.decode().split("\0") if entry)
        assert "--remote-debugging-pipe" in Path(f"/proc/{browser.process.pid}/cmdline").read_text()
    finally:
        await asyncio.wait_for(browser.close(), 30)
    assert not set(secrets) & set(environ), sorted(environ)
    assert environ.get("PATH") == os.environ["PATH"] and environ.get("LC_TIME") == "de_DE.UTF-8"
