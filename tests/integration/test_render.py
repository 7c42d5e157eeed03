"""Real Chromium and real WeasyPrint, each on its own: what one engine does that the other
does not (frames, recycling, crashes, timeouts and cancels, the fallback). What both engines
must do alike is the renderer contract (`tests/contract/test_renderer.py`)."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import io
import logging
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Collection
from pathlib import Path

import pytest
import uvloop
from pypdf import PdfReader

from pdfprompt.domain import (
    BrowserUnavailableError,
    RenderError,
    RenderOptions,
    RenderTimeoutError,
)
from pdfprompt.render import (
    MEMORY_CHECK_EVERY,
    ChromiumRenderer,
    RendererPool,
    chromium_renderer,
    renderer_from_settings,
)
from pdfprompt.settings import Settings
from tests.support.bombs import noise_png
from tests.support.processes import alive
from tests.support.receiver import Receiver
from tests.support.render import ENGINES, engine_settings, pdf_text
from tests.support.waiting import until, wait_until

# A table Chromium takes seconds to lay out, far longer than a small document.
SLOW_TABLE = "<table>" + "<tr><td>cell</td><td>more</td></tr>" * 60_000 + "</table>"


@pytest.mark.parametrize("engine", [e for e in ENGINES if e.startswith("chromium")])
async def test_frames_of_the_document_are_printed_on_either_build(engine: str) -> None:
    """The full browser prints a frame in another process through its print compositor; the
    headless shell has none. Inline and data: frames, sandboxed or not, print on both."""
    doc = (
        "<p>MAIN</p><iframe srcdoc='<p>INLINE</p>'></iframe>"
        "<iframe src='data:text/html,<p>DATAURL</p>'></iframe>"
        "<iframe sandbox srcdoc='<p>SANDBOXED</p>'></iframe>"
    )
    for javascript in (False, True):
        settings = engine_settings(engine, max_pdf_concurrency=1, allow_javascript=javascript)
        async with renderer_from_settings(settings) as renderer:
            text = pdf_text((await renderer.render(doc, RenderOptions())).data)
        assert text.split() == ["MAIN", "INLINE", "DATAURL", "SANDBOXED"], javascript


def _layout_started_loads() -> str:
    """A document whose parts load only once it is laid out (object, embed, lazy image and
    frame) or decode late (a data: font), each with text or an image of its own."""

    def image() -> str:
        return "data:image/png;base64," + base64.b64encode(noise_png(8)).decode()

    serif = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf").read_bytes()
    return (
        f"<style>@font-face {{ font-family: Own; src: url(data:font/ttf;base64,"
        f"{base64.b64encode(serif).decode()}); }} .own {{ font-family: Own; }}</style>"
        f"<p class=own>OWNFONT</p><object data='{image()}' type='image/png' width=20></object>"
        f"<embed src='{image()}' type='image/png' width=20><div style='height:3000px'></div>"
        f"<img loading=lazy src='{image()}' width=20>"
        "<iframe loading=lazy srcdoc='<p>LAZYFRAME</p>'></iframe>"
        "<object data='data:text/html,<p>OBJECTDOC</p>' type='text/html'></object>"
    )


def _pdf_summary(pdf: bytes) -> tuple[list[str], list[int], list[str]]:
    """Each page's words, each page's image count, and the fonts the PDF embeds."""
    reader = PdfReader(io.BytesIO(pdf))
    fonts: set[str] = set()
    for page in reader.pages:
        for font in page["/Resources"].get_object().get("/Font", {}).values():
            fonts.add(str(font.get_object()["/BaseFont"]).split("+")[-1])
    return (
        [" ".join(page.extract_text().split()) for page in reader.pages],
        [len(page.images) for page in reader.pages],
        sorted(fonts),
    )


async def test_the_headless_shell_draws_no_frames_and_prints_what_a_drawn_page_prints() -> None:
    """Its pages draw no frames (a fifth of a render's CPU); loads that start only from a
    layout still end, and the PDF is the one a page drawing frames prints."""
    settings = engine_settings("chromium", max_pdf_concurrency=1, render_timeout_s=10)
    assert settings.chromium_path is not None
    doc = _layout_started_loads()
    # Alone, an SVG <use> of another document held the load forever until the page was laid
    # out (Chromium no longer shows a data: one, but still loads it).
    use = "<p>USE</p><svg><use href='data:image/svg+xml,<svg id=%22i%22/>#i'/></svg>"
    summaries = []
    for frameless in (True, False):
        async with ChromiumRenderer(
            settings.chromium_path, max_concurrency=1, timeout_s=10, frameless=frameless
        ) as renderer:
            summaries.append(_pdf_summary((await renderer.render(doc, RenderOptions())).data))
            assert pdf_text((await renderer.render(use, RenderOptions())).data).strip() == "USE"
    assert summaries[0] == summaries[1]
    words, images, fonts = summaries[0]
    assert "OWNFONT" in words[0] and "LAZYFRAME OBJECTDOC" in words[-1]
    assert sum(images) == 3 and any("DejaVuSerif-Bold" in f for f in fonts)
    # Only the shell, and only with JavaScript off: a script may wait for a frame.
    assert chromium_renderer(settings).frameless
    assert not chromium_renderer(settings.model_copy(update={"allow_javascript": True})).frameless
    browser = engine_settings("chromium-browser")
    assert not chromium_renderer(browser).frameless


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_pool_with_a_niceness_runs_every_browser_thread_that_much_lower(loop: str) -> None:
    """`PDFPROMPT_WORKER_NICE` in `pdfprompt serve`: every thread of the browsers' processes,
    of those started later (a page's renderer) too, runs lower than the process rendering
    with them, which keeps its own. Chromium raises some of its threads where it may (as
    root); it may not here. On both event loops the commands run on (uvloop starts a
    subprocess's session after the code that lowers it, asyncio before)."""
    settings = engine_settings("chromium", max_pdf_concurrency=1, render_timeout_s=10)
    assert settings.chromium_path is not None
    path = settings.chromium_path
    own = os.getpriority(os.PRIO_PROCESS, 0)

    async def render_and_look() -> None:
        async with ChromiumRenderer(path, max_concurrency=1, nice=5) as renderer:
            text = pdf_text((await renderer.render("<p>LOW</p>", RenderOptions())).data)
            assert text.strip() == "LOW"
            browsers = _chromium_left()
            assert len(browsers) >= 2  # the browser and at least the page's renderer
            niceness: dict[tuple[str, int], int] = {}
            for pid, name in browsers.items():
                for tid in os.listdir(f"/proc/{pid}/task"):
                    with contextlib.suppress(ProcessLookupError):  # a thread that just ended
                        niceness[(name, int(tid))] = os.getpriority(os.PRIO_PROCESS, int(tid))
            assert len(niceness) > len(browsers)
            assert set(niceness.values()) == {min(19, own + 5)}, niceness
            if _autogroups():
                # The browser leads a session of its own: the scheduler's group for it runs
                # as low, or it takes as much of the CPU as this process's whole session.
                groups = {pid: _autogroup(pid) for pid in browsers}
                assert {nice for _, nice in groups.values()} == {min(19, own + 5)}, groups
                assert _autogroup(os.getpid())[0] not in {g for g, _ in groups.values()}

    # A thread of its own: a test function's event loop may already run in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        run = uvloop.run if loop == "uvloop" else asyncio.run
        pool.submit(run, render_and_look()).result(timeout=120)
    assert os.getpriority(os.PRIO_PROCESS, 0) == own


def _autogroups() -> bool:
    """Whether the kernel groups sessions for the scheduler (sched(7), "autogroup")."""
    try:
        with open("/proc/sys/kernel/sched_autogroup_enabled") as fh:
            return fh.read().strip() == "1"
    except OSError:
        return False


def _autogroup(pid: int) -> tuple[str, int]:
    """A process's scheduler autogroup and its niceness (`/autogroup-85 nice 0`). A process
    of a session that never began one (a container's first session) is in the root group,
    whose file is empty: `("/", 0)`."""
    with open(f"/proc/{pid}/autogroup") as fh:
        parts = fh.read().split()
    if not parts:
        return "/", 0
    group, _, nice = parts
    return group, int(nice)


def _descendants(root: int) -> dict[int, str]:
    """Live processes below `root` (pid → command name), read from /proc."""
    parent: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] == "Z":  # a zombie counts as left behind
            name += " <zombie>"
        parent[int(entry)], names[int(entry)] = int(fields[1]), name
    found: dict[int, str] = {}
    frontier = [root]
    while frontier:
        pid = frontier.pop()
        for child, ppid in parent.items():
            if ppid == pid and child not in found:
                found[child] = names[child]
                frontier.append(child)
    return found


def _chromium_left() -> dict[int, str]:
    """This process's Chromium processes still there (a zombie counts)."""
    return {pid: name for pid, name in _descendants(os.getpid()).items() if "chrom" in name}


async def _none_left(find: Callable[[], Collection[object]], what: str) -> None:
    """Until `find()` finds nothing: a closed pool's processes exit, and are reaped, a moment
    after it closes. One that never goes fails, naming what is left."""
    try:
        await until(lambda: not find(), 10, what)
    except AssertionError:
        raise AssertionError(f"{what}: {find()!r}") from None


async def test_a_killed_browser_is_replaced_and_nothing_is_left_behind() -> None:
    """The whole browser killed during a render, as an OOM kill would: that render fails as
    transient (its job is retried), the next one gets a new browser, and no Chromium process
    is left once the pool closes."""
    settings = Settings(render_engine="chromium", max_pdf_concurrency=1, render_timeout_s=60)
    async with chromium_renderer(settings) as renderer:
        await renderer.render("<p>warm</p>", RenderOptions())
        browser = [pid for pid, name in _chromium_left().items() if _parent(pid) == os.getpid()]
        chromium = browser + [pid for pid in _chromium_left() if pid not in browser]
        assert len(browser) == 1 and len(chromium) > 1
        rendering = asyncio.create_task(renderer.render(SLOW_TABLE, RenderOptions()))
        await until(lambda: renderer.rendering == 1, 30, "the render started")
        for pid in chromium:  # the browser first: it reports no crash of its pages
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with pytest.raises(BrowserUnavailableError, match="the browser stopped") as info:
            await asyncio.wait_for(rendering, 30)
        assert info.value.transient  # the job on it is retried
        out = await renderer.render("<p>after the crash</p>", RenderOptions())
        assert "after the crash" in pdf_text(out.data)
    await _none_left(_chromium_left, "Chromium processes left behind")


def _parent(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return 0


def _descendants_running(marker: bytes) -> list[int]:
    """This process's live descendants whose command line contains `marker`."""
    found = []
    for pid in _descendants(os.getpid()):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if marker in fh.read():
                    found.append(pid)
        except OSError:
            continue
    return found


def _page_processes() -> set[int]:
    """This process's Chromium renderer processes (one per page or per site)."""
    return set(_descendants_running(b"--type=renderer"))


def _spawned_renderers() -> list[int]:
    """This process's WeasyPrint pool processes (multiprocessing spawn children)."""
    return _descendants_running(b"spawn_main")


async def test_weasyprint_timeout_is_transient_and_the_pool_recovers() -> None:
    settings = Settings(render_engine="weasyprint", max_pdf_concurrency=1, render_timeout_s=1)
    slow = "<table>" + "<tr><td>cell</td><td>more</td></tr>" * 40_000 + "</table>"
    async with renderer_from_settings(settings) as renderer:
        assert len(_spawned_renderers()) == 1
        with pytest.raises(RenderTimeoutError) as info:
            await renderer.render(slow, RenderOptions())
        assert info.value.transient
        out = await renderer.render("<p>after the timeout</p>", RenderOptions())
        assert "after the timeout" in pdf_text(out.data)
    await _none_left(_spawned_renderers, "WeasyPrint processes left behind")


async def _cancel_while_another_renders(renderer: RendererPool, slow: str) -> None:
    """Start rendering `slow`, render a small document beside it, then cancel `slow`: the
    small one is done while `slow` still runs, and the cancelled render raises."""
    rendering = asyncio.create_task(renderer.render(slow, RenderOptions()))
    await until(lambda: renderer.rendering == 1, 30, "the slow render started")
    meanwhile = await renderer.render("<p>meanwhile</p>", RenderOptions())
    assert "meanwhile" in pdf_text(meanwhile.data)
    assert not rendering.done()
    rendering.cancel()
    with pytest.raises(asyncio.CancelledError):
        await rendering


async def _both_render_slots_work(renderer: RendererPool) -> None:
    """Two renders at once both succeed: the pool is whole again."""
    outs = await asyncio.gather(
        *(renderer.render(f"<p>after {n}</p>", RenderOptions()) for n in range(2))
    )
    assert [f"after {n}" in pdf_text(o.data) for n, o in enumerate(outs)] == [True, True]


async def test_a_cancelled_weasyprint_render_is_stopped_and_the_others_go_on() -> None:
    """Cancelling a job stops its render at once: its process is killed and replaced; a
    render in the other process is not touched."""
    settings = Settings(render_engine="weasyprint", max_pdf_concurrency=2, render_timeout_s=120)
    slow = "<table>" + "<tr><td>cell</td><td>more</td></tr>" * 40_000 + "</table>"
    async with renderer_from_settings(settings) as renderer:
        before = set(_spawned_renderers())
        assert len(before) == 2
        await _cancel_while_another_renders(renderer, slow)
        after = set(_spawned_renderers())
        assert len(after) == 2 and len(before - after) == 1  # one process replaced
        await _both_render_slots_work(renderer)
    await _none_left(_spawned_renderers, "WeasyPrint processes left behind")


async def test_auto_falls_back_to_weasyprint_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no chromium on PATH
    monkeypatch.setattr("pdfprompt.render.chromium.discovery.HEADLESS_SHELLS", ())
    monkeypatch.setattr("pdfprompt.render.chromium.discovery.BROWSERS", ())
    caplog.set_level(logging.WARNING)
    async with renderer_from_settings(Settings(render_engine="auto")) as renderer:
        assert renderer.name == "weasyprint"
        out = await renderer.render("<p>fallback</p>", RenderOptions())
        assert "fallback" in pdf_text(out.data)
    assert any("no Chromium found" in r.getMessage() for r in caplog.records)
    # A configured path that does not exist is reported, not replaced.
    with pytest.raises(BrowserUnavailableError, match="/nowhere/chromium"):
        renderer_from_settings(Settings(render_engine="auto", chromium_path="/nowhere/chromium"))


async def test_recycling_waits_for_renders_in_flight_and_leaves_nothing() -> None:
    """Browsers are replaced after `recycle_after` renders and above the memory bound; renders
    still running on a retired browser finish, and no Chromium process is left."""
    settings = Settings(
        render_engine="chromium",
        max_pdf_concurrency=2,
        browser_recycle_after=3,
        render_timeout_s=30,
    )
    async with chromium_renderer(settings) as renderer:
        docs = [f"<h1>doc {i}</h1>" + "<p>text</p>" * 200 for i in range(12)]
        outs = await asyncio.gather(*(renderer.render(d, RenderOptions()) for d in docs))
        for i, out in enumerate(outs):
            assert f"doc {i}" in pdf_text(out.data)
        assert renderer.recycled >= 3

    by_memory = Settings(render_engine="chromium", max_pdf_concurrency=2, render_timeout_s=30)
    async with chromium_renderer(by_memory) as renderer:
        renderer.max_memory_mb = 1.0  # any browser is over this
        for _ in range(MEMORY_CHECK_EVERY):
            await renderer.render("<p>small</p>", RenderOptions())
        assert renderer.recycled == 0

        async def render_once_more() -> bool:
            # The check runs beside the renders; the first render after it has marked the
            # browser replaces it.
            await renderer.render("<p>small</p>", RenderOptions())
            return renderer.recycled >= 1

        await until(render_once_more, 30, "the browser over its memory bound recycled")
        assert 0 < await renderer.memory_mb() < 2048
    await _none_left(_chromium_left, "Chromium processes left behind")


async def test_a_chromium_render_over_its_time_or_cancelled_is_stopped_and_the_pool_goes_on() -> (
    None
):
    """The page of a render that runs over the timeout, or whose job is cancelled, is closed
    and replaced; the other page's render is not touched."""
    settings = Settings(render_engine="chromium", max_pdf_concurrency=2, render_timeout_s=1)
    slow = SLOW_TABLE
    async with chromium_renderer(settings) as renderer:
        with pytest.raises(RenderTimeoutError) as info:
            await renderer.render(slow, RenderOptions())
        assert info.value.transient
        out = await renderer.render("<p>after the timeout</p>", RenderOptions())
        assert "after the timeout" in pdf_text(out.data)

        renderer.timeout_s = 120
        await _cancel_while_another_renders(renderer, slow)
        await _both_render_slots_work(renderer)
    await _none_left(_chromium_left, "Chromium processes left behind")


_HOLD = """
import asyncio, sys
from pdfprompt.domain import RenderOptions
from pdfprompt.render import chromium_renderer
from pdfprompt.settings import Settings

async def main() -> None:
    async with chromium_renderer(Settings(render_engine="chromium")) as renderer:
        await renderer.render("<p>x</p>", RenderOptions())
        print("ready", flush=True)
        if sys.argv[1] == "hold":
            await asyncio.sleep(120)

asyncio.run(main())
"""


def test_a_killed_worker_leaves_no_browser_and_its_profile_is_swept(tmp_path: Path) -> None:
    """A worker killed with SIGKILL cannot close its browsers: they exit when their pipe
    closes, and the next worker to start a browser removes the dead one's profile. Both
    workers keep their profiles in a temporary directory of their own, where no other test's
    browser can sweep it first."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    held = subprocess.Popen(
        [sys.executable, "-c", _HOLD, "hold"], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert held.stdout is not None and held.stdout.readline().strip() == "ready"
        browsers = [pid for pid, name in _descendants(held.pid).items() if "chrom" in name]
        profiles = list(tmp_path.glob(f"pdfprompt-chromium-{held.pid}-*"))
        assert browsers and len(profiles) == 1
    finally:
        held.kill()
        held.wait()
        if held.stdout is not None:
            held.stdout.close()
    wait_until(
        lambda: not any(alive(pid) for pid in browsers), 10, "the killed worker's browser exited"
    )
    assert profiles[0].exists()  # nothing could remove it yet
    once = subprocess.run(
        [sys.executable, "-c", _HOLD, "once"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert once.stdout.strip() == "ready", once.stderr
    assert not profiles[0].exists()


async def test_a_killed_page_process_fails_its_render_as_transient_and_the_pool_goes_on() -> None:
    """The kernel's OOM killer takes a page's renderer process, not the browser: the render on
    it fails at once as transient (not at the timeout), and the next render gets a new page."""
    settings = Settings(render_engine="chromium", max_pdf_concurrency=1, render_timeout_s=120)
    async with chromium_renderer(settings) as renderer:
        rendering = asyncio.create_task(renderer.render(SLOW_TABLE, RenderOptions()))
        await until(lambda: renderer.rendering == 1, 30, "the render started")
        killed = 0
        for pid in _page_processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        assert killed
        with pytest.raises(RenderError, match="crashed") as info:
            await asyncio.wait_for(rendering, 30)
        assert info.value.transient and not isinstance(info.value, RenderTimeoutError)
        out = await renderer.render("<p>after the crash</p>", RenderOptions())
        assert "after the crash" in pdf_text(out.data)
        await renderer.check()  # the browser itself was never lost


async def test_a_chromium_that_will_not_start_is_reported_with_what_it_said(
    tmp_path: Path,
) -> None:
    broken = tmp_path / "chromium"
    broken.write_text(
        "#!/bin/sh\necho 'chromium: error while loading shared libraries: libnss3.so' >&2\n"
        "exit 127\n"
    )
    broken.chmod(0o755)
    settings = Settings(render_engine="chromium", chromium_path=str(broken))
    with pytest.raises(BrowserUnavailableError, match=r"could not start Chromium.*libnss3\.so"):
        async with chromium_renderer(settings):
            pass
    assert not list(Path(tempfile.gettempdir()).glob(f"pdfprompt-chromium-{os.getpid()}-*"))


async def test_a_render_over_its_time_does_not_go_on_burning_cpu() -> None:
    """Stopping a render closes its page, and the process laying the page out goes with it:
    a hostile document costs its timeout, not its whole layout."""
    settings = Settings(render_engine="chromium", max_pdf_concurrency=1, render_timeout_s=1)
    slow = "<table>" + "<tr><td>cell</td><td>more</td></tr>" * 200_000 + "</table>"
    async with chromium_renderer(settings) as renderer:
        rendering = asyncio.create_task(renderer.render(slow, RenderOptions()))
        await until(lambda: renderer.rendering == 1, 30, "the render started")
        busy = _page_processes()
        assert busy
        with pytest.raises(RenderTimeoutError):
            await rendering
        await _none_left(
            lambda: busy & {pid for pid in _page_processes() if alive(pid)},
            "the stopped page's processes still running",
        )


async def test_with_javascript_allowed_a_workers_requests_are_refused_too(
    listener: Receiver,
) -> None:
    """A worker is a target of its own: it is attached and held until it follows the page's
    rules, so what it fetches is refused like the page's own requests."""
    settings = Settings(render_engine="chromium", allow_javascript=True, max_pdf_concurrency=1)
    script = f"fetch('{listener.base}/from-worker').catch(() => 0)"
    doc = (
        "<p>page</p><script>new Worker(URL.createObjectURL("
        f"new Blob([{script!r}], {{type: 'text/javascript'}})));</script>"
    )
    async with chromium_renderer(settings) as renderer:
        await renderer.render(doc, RenderOptions())
        # The worker runs on after the load event.
        await until(lambda: renderer.blocked_requests, 5, "the worker's request refused")
        assert renderer.blocked_requests == 1
    assert listener.hits == []
