"""A small Chrome DevTools Protocol client over `--remote-debugging-pipe`.

Chromium reads commands from its file descriptor 3 and writes answers and events to
descriptor 4, one JSON object per message, each ended by a NUL byte. Nothing listens on
a port, so no other process on the machine can drive the browser, and there is no
driver process between Python and Chromium. Pages are attached in flat mode: every
command and event of a page carries that page's `sessionId` on the one pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

Handler = Callable[[str, dict[str, Any]], None]

# Chromium wants the pipe on descriptors 3 and 4; a shell puts them there and then
# becomes Chromium (exec), so the process asyncio watches is the browser itself.
_ON_FDS_3_AND_4 = 'exec "$0" "$@" 3<&0 4>&1 </dev/null >/dev/null'
_PROFILE_PREFIX = "pdfprompt-chromium-"
# The largest message read from the browser. The PDF comes in chunks (`IO.read`) far below
# it, so no message of a working browser is near it; one over it is refused before it is
# built, and the browser is killed.
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
_OUTPUT = "chromium-stderr.log"
# What the browser is given of this process's environment: where its files, fonts and
# caches are, its language and time zone. Nothing else (database addresses, keys and
# secrets, a preloaded library) reaches the process that runs the documents.
_BROWSER_ENVIRONMENT = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "TMPDIR",
        "LANG",
        "LANGUAGE",
        "TZ",
        "FONTCONFIG_FILE",
        "FONTCONFIG_PATH",
        "XDG_CONFIG_HOME",
        "XDG_CACHE_HOME",
        "XDG_DATA_HOME",
        "XDG_DATA_DIRS",
        "XDG_RUNTIME_DIR",
    }
)
_swept = False
_LIBC = ctypes.CDLL(None, use_errno=True)
_PR_CAPBSET_DROP = 24  # prctl(2)
_CAP_SYS_NICE = 23  # capability(7)


def browser_environment(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The environment a browser starts with: `_BROWSER_ENVIRONMENT`'s names and the
    `LC_*` locale ones, from `environ`."""
    return {k: v for k, v in environ.items() if k in _BROWSER_ENVIRONMENT or k.startswith("LC_")}


def _lowered(nice: int) -> None:
    """Run in the browser's process before it starts: `nice` lower than this one, for good.
    Chromium raises some of its threads back (to 0, and its display and I/O threads to -8)
    where it may, as root may: without CAP_SYS_NICE, which is left out of what it and its
    children can ever hold, it cannot (where it is not held anyway, nothing changes)."""
    if nice:
        os.nice(nice)
    # It starts a session of its own (`start_new_session`), where asyncio's subprocesses
    # begin one before this runs and uvloop's (libuv) after: begun here, so that the
    # session's scheduler group is its own when it is lowered.
    if os.getsid(0) != os.getpid():
        with contextlib.suppress(OSError):
            os.setsid()
    lower_session_group()
    _LIBC.prctl(_PR_CAPBSET_DROP, _CAP_SYS_NICE, 0, 0, 0)  # refused without CAP_SETPCAP: so be it


def lower_session_group() -> None:
    """Give this process's session, where the kernel groups sessions for the scheduler
    (`sched_autogroup_enabled`), the niceness this process runs at. With autogroups a
    session's processes share one group's share of the CPU, whatever their own niceness:
    a browser in its own session (as it starts) or a worker started as a session of its own
    (as systemd starts services) took the same share as the API beside it however low it
    ran. Only for a process that leads its session (the group is all of the session's);
    best effort: no autogroups, or a kernel that refuses, changes nothing."""
    if os.getsid(0) != os.getpid():
        return
    niceness = os.getpriority(os.PRIO_PROCESS, 0)
    if niceness <= 0:
        return
    with contextlib.suppress(OSError), open("/proc/self/autogroup", "w") as group:
        group.write(str(niceness))


class CdpError(Exception):
    """The browser answered a command with an error."""

    def __init__(self, method: str, message: str) -> None:
        super().__init__(f"{method}: {message}")
        self.method = method
        self.message = message


class BrowserClosedError(Exception):
    """The browser's pipe closed: it exited or was killed."""


class MessagePipe(asyncio.Protocol):
    """Splits what the browser writes into messages. A message longer than `max_bytes` is
    never built: reading stops, what was buffered is dropped and `on_oversize` is called."""

    def __init__(
        self,
        on_message: Callable[[bytes], None],
        on_close: Callable[[], None],
        max_bytes: int = MAX_MESSAGE_BYTES,
        on_oversize: Callable[[int], None] | None = None,
    ) -> None:
        self._buffer = bytearray()
        self._scanned = 0  # bytes of the buffer known to hold no NUL
        self._on_message = on_message
        self._on_close = on_close
        self._max_bytes = max_bytes
        self._on_oversize = on_oversize
        self._transport: asyncio.BaseTransport | None = None
        self.refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return
        self._buffer += data
        while (end := self._buffer.find(b"\0", self._scanned)) >= 0:
            if end > self._max_bytes:
                self._refuse(end)
                return
            with memoryview(self._buffer) as view:
                message = view[:end].tobytes()
            del self._buffer[: end + 1]
            self._scanned = 0
            self._on_message(message)
            if self.refused:  # a handler gave up on the browser
                return
        if len(self._buffer) > self._max_bytes:
            self._refuse(len(self._buffer))
            return
        self._scanned = len(self._buffer)

    def _refuse(self, size: int) -> None:
        self.refused = True
        self._buffer = bytearray()
        self._scanned = 0
        if self._transport is not None:
            self._transport.close()
        if self._on_oversize is not None:
            self._on_oversize(size)

    def connection_lost(self, exc: Exception | None) -> None:
        self._on_close()


# What every profile starts with: WebRTC sends no UDP but through the proxy (none), so a
# script cannot reach an address with STUN or TURN outside the request interception.
PROFILE_PREFERENCES = {"webrtc": {"ip_handling_policy": "disable_non_proxied_udp"}}


class CdpBrowser:
    """One Chromium process. `await CdpBrowser.launch(path, args)`; `await close()`."""

    def __init__(self, process: asyncio.subprocess.Process, profile: str) -> None:
        self.process = process
        self.profile = profile
        self.connected = True
        self.killed_because = ""  # why pdfprompt killed it (`kill`), if it did
        self._next_id = 0
        self._waiting: dict[int, tuple[str, asyncio.Future[dict[str, Any]]]] = {}
        self._handlers: dict[str, Handler] = {}
        self._writer: asyncio.WriteTransport | None = None
        self._reader: asyncio.ReadTransport | None = None

    @classmethod
    async def launch(
        cls,
        executable: str,
        args: tuple[str, ...] | list[str],
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        nice: int | None = None,
    ) -> CdpBrowser:
        """Start Chromium with a new, empty profile that is removed when it closes. A message
        from it longer than `max_message_bytes` kills it (`killed_because` says so). `nice`:
        its processes run that much lower than this one, and none of their threads higher
        (`_lowered`); None: as Chromium sets them."""
        global _swept
        if not _swept:
            _swept = True
            await asyncio.to_thread(_sweep_profiles)
        profile = tempfile.mkdtemp(prefix=f"{_PROFILE_PREFIX}{os.getpid()}-")
        # The full browser reads WebRTC's policy from the profile, not from its flag.
        os.mkdir(os.path.join(profile, "Default"))
        with open(os.path.join(profile, "Default", "Preferences"), "w") as prefs:
            json.dump(PROFILE_PREFERENCES, prefs)
        commands_r, commands_w = os.pipe()
        answers_r, answers_w = os.pipe()
        # What Chromium says goes to a file in its profile, for the error when it will not
        # start (a pipe would have to be drained for as long as it runs).
        output = os.open(os.path.join(profile, _OUTPUT), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            process = await asyncio.create_subprocess_exec(
                "/bin/sh",
                "-c",
                _ON_FDS_3_AND_4,
                executable,
                *args,
                "--remote-debugging-pipe",
                f"--user-data-dir={profile}",
                "--no-startup-window",
                stdin=commands_r,
                stdout=answers_w,
                stderr=output,
                env=browser_environment(),
                start_new_session=True,  # a signal sent to our process group spares it
                preexec_fn=None if nice is None else functools.partial(_lowered, nice),
            )
        except BaseException:
            for fd in (commands_r, commands_w, answers_r, answers_w, output):
                os.close(fd)
            shutil.rmtree(profile, ignore_errors=True)
            raise
        for fd in (commands_r, answers_w, output):
            os.close(fd)
        browser = cls(process, profile)
        loop = asyncio.get_running_loop()
        writer, _ = await loop.connect_write_pipe(
            asyncio.BaseProtocol, os.fdopen(commands_w, "wb", buffering=0)
        )
        reader, _ = await loop.connect_read_pipe(
            lambda: MessagePipe(
                browser._received, browser._lost, max_message_bytes, browser._oversize
            ),
            os.fdopen(answers_r, "rb", buffering=0),
        )
        browser._writer = writer
        browser._reader = reader
        return browser

    def output(self, limit: int = 2000) -> str:
        """The end of what Chromium wrote to its standard error (empty once it is closed)."""
        try:
            with open(os.path.join(self.profile, _OUTPUT), "rb") as fh:
                fh.seek(max(0, os.fstat(fh.fileno()).st_size - limit))
                return fh.read().decode("utf-8", "replace").strip()
        except OSError:
            return ""

    def on(self, session: str, handler: Handler | None) -> None:
        """Send the events of a session ("" for the browser's own) to `handler`."""
        if handler is None:
            self._handlers.pop(session, None)
        else:
            self._handlers[session] = handler

    def post(
        self, method: str, params: dict[str, Any] | None = None, session: str = ""
    ) -> asyncio.Future[dict[str, Any]]:
        """Send a command; the future holds its result (or `CdpError`/`BrowserClosedError`)."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        if not self.connected or self._writer is None:
            future.set_exception(BrowserClosedError("the browser is not running"))
            return future
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method}
        if params:
            message["params"] = params
        if session:
            message["sessionId"] = session
        self._waiting[self._next_id] = (method, future)
        self._writer.write(json.dumps(message).encode() + b"\0")
        return future

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session: str = ""
    ) -> dict[str, Any]:
        return await self.post(method, params, session)

    def fire(self, method: str, params: dict[str, Any] | None = None, session: str = "") -> None:
        """Send a command whose answer nobody waits for (its errors are dropped)."""
        self.post(method, params, session).add_done_callback(retrieved)

    def _received(self, raw: bytes) -> None:
        if raw.startswith(b'{"id":'):  # how Chromium writes every answer
            comma = raw.find(b",", 6, 32)
            if comma > 0 and raw[6:comma].isdigit():
                waiting = self._waiting.get(int(raw[6:comma]))
                if waiting is not None and waiting[1].done():
                    # An answer nobody waits for any more (its command was cancelled, such
                    # as a chunk of a PDF whose render was given up): dropped unparsed.
                    del self._waiting[int(raw[6:comma])]
                    return
        message = json.loads(raw)
        if "id" in message:
            method, future = self._waiting.pop(message["id"], ("", None))
            if future is None or future.done():
                return
            if "error" in message:
                future.set_exception(CdpError(method, message["error"].get("message", "")))
            else:
                future.set_result(message.get("result", {}))
            return
        handler = self._handlers.get(message.get("sessionId", ""))
        if handler is not None:
            handler(message["method"], message.get("params", {}))

    def _oversize(self, size: int) -> None:
        self.kill(f"it sent a message of more than {size} bytes, which was refused")

    def kill(self, because: str) -> None:
        """Kill the browser and every process of its session now (it is not asked to close):
        each command waiting for an answer fails at once, and nothing more is read from it.
        `close()` still reaps it and removes its profile."""
        if not self.killed_because:
            self.killed_because = because
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, 9)
        if self._reader is not None:
            self._reader.close()
        self._lost()

    def _lost(self) -> None:
        if not self.connected:
            return
        self.connected = False
        why = "the browser closed its pipe"
        if self.killed_because:
            why = f"the browser was stopped: {self.killed_because}"
        waiting, self._waiting = self._waiting, {}
        for _, future in waiting.values():
            if not future.done():
                future.set_exception(BrowserClosedError(why))
        for handler in list(self._handlers.values()):
            handler("pdfprompt.disconnected", {})

    async def close(self, grace_s: float = 5.0) -> None:
        """Ask the browser to close, kill it when it does not within `grace_s`, reap it, and
        remove its profile."""
        if self.connected:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.send("Browser.close"), grace_s)
        if self.killed_because:
            grace_s = 0  # it was killed: nothing to wait for
        try:
            await asyncio.wait_for(self.process.wait(), grace_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, 9)
            await self.process.wait()
        # The browser's own children belong to its session: none may outlive it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, 9)
        for transport in (self._writer, self._reader):
            if transport is not None:
                transport.close()
        self._lost()
        await asyncio.to_thread(shutil.rmtree, self.profile, True)


def _sweep_profiles() -> None:
    """Remove the profiles of browsers whose process was killed before it could clean up
    (their names carry the pid of the process that started them)."""
    root = tempfile.gettempdir()
    for name in os.listdir(root):
        if not name.startswith(_PROFILE_PREFIX):
            continue
        owner = name[len(_PROFILE_PREFIX) :].split("-", 1)[0]
        if owner.isdigit() and int(owner) != os.getpid() and not os.path.exists(f"/proc/{owner}"):
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)


def retrieved(future: asyncio.Future[Any]) -> None:
    """A done-callback that marks a future's error as seen, for futures nobody awaits."""
    if not future.cancelled():
        future.exception()
