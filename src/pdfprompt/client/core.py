"""What the sync and the async client share, with no I/O in it: a call (the request to make
and how to read its answer), the decision to retry, the reading of `Retry-After`, the
Server-Sent Events parser and the state of a wait. `Client` and `AsyncClient` only move bytes
and sleep; every decision is taken here, once."""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, BinaryIO, Generic, TypeVar

import httpx

from pdfprompt.client.errors import (
    ApiError,
    NetworkError,
    NotFound,
    ProtocolError,
    WaitTimeout,
    api_error,
)

T = TypeVar("T")
RETRIED_CODES = frozenset({"unavailable", "rate_limited"})
MAX_EVENT_BYTES = 4 * 1024 * 1024  # one SSE event's data; a longer one ends the stream
MAX_ERROR_BYTES = 64 * 1024  # of an error answer's body
MAX_JSON_BYTES = 64 * 1024 * 1024  # of a JSON answer (a page of 200 jobs is ~200 KB)
CHUNK_BYTES = 64 * 1024
USER_AGENT = "pdfprompt-client"
LINE_END = re.compile(rb"\r\n|\n|\r")


def new_idempotency_key() -> str:
    """A key for one logical create call, sent unchanged with each of its retries."""
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request and how to read its answer. `read` gets the decoded JSON (None for an
    empty body) or, for a `binary` call, the bytes. `replayable`: sending it twice does what
    sending it once does (a read, a delete, or a create the server deduplicates by its
    `Idempotency-Key`), so it is sent again when the connection broke after it may have
    arrived; any other call is sent again only when it never left."""

    method: str
    path: str
    read: Callable[[Any], T]
    params: Mapping[str, str | int | bool] | None = None
    json: Any = None
    content: bytes | None = None
    files: Mapping[str, tuple[str, bytes, str]] | None = None
    data: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    binary: bool = False
    replayable: bool = True

    def answer(self, body: bytes) -> T:
        """The value of a successful answer; ProtocolError for one that is not JSON."""
        if self.binary:
            return self.read(body)
        if not body.strip():
            return self.read(None)
        try:
            value = json.loads(body)
        except ValueError:
            start = " ".join(body[:200].decode("utf-8", "replace").split())
            raise ProtocolError(
                f"the answer to {self.method} {self.path} is not JSON, not what a pdfprompt "
                f"server sends (is the URL right?): {start!r}"
            ) from None
        return self.read(value)


def query(**values: str | int | bool | None) -> dict[str, str | int | bool]:
    """Query parameters, leaving out those not given."""
    return {k: v for k, v in values.items() if v is not None}


def id_of(value: Any) -> str:
    """The id of a job, file, batch, … given as itself or as its id."""
    found = value if isinstance(value, str) else getattr(value, "id", None)
    if not isinstance(found, str) or not found:
        raise ValueError(f"not an id nor an object with one: {value!r}")
    return found


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds from now: either form HTTP gives it (seconds, or a date);
    None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def error_of(status: int, headers: Mapping[str, str], body: bytes) -> ApiError:
    """The exception for an answer with an error status."""
    return api_error(
        status,
        headers.get("content-type", ""),
        body,
        retry_after_s=retry_after_s(headers.get("retry-after")),
    )


@dataclass(frozen=True)
class Retries:
    """When a call is tried again: `attempts` in all (1 = never again), after a connection
    error (see `Call.replayable`), a `503 unavailable` or a `429 rate_limited` (never another
    4xx, nor `quota_exceeded`, which seconds do not cure). The wait is the server's
    `Retry-After` (capped at `max_retry_after_s`) or else a jittered exponential backoff."""

    attempts: int = 4
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    max_retry_after_s: float = 60.0

    def backoff(self, attempt: int) -> float:
        """The wait before try `attempt + 1` (`attempt` counts from 0): full jitter, so that
        many clients turned away together do not come back together."""
        return random.uniform(0, min(self.max_backoff_s, self.backoff_s * 2**attempt))

    def after_error(self, attempt: int, error: ApiError) -> float | None:
        """Seconds to wait before trying again after `error`, or None to raise it."""
        if attempt + 1 >= self.attempts:
            return None
        if error.code not in RETRIED_CODES:
            return None
        if error.retry_after_s is not None:
            return min(error.retry_after_s, self.max_retry_after_s)
        return self.backoff(attempt)

    def after_network(self, attempt: int, *, sent: bool, replayable: bool) -> float | None:
        """Seconds to wait before trying again after the connection failed (`sent`: the
        request may have reached the server), or None to give up."""
        if attempt + 1 >= self.attempts or (sent and not replayable):
            return None
        return self.backoff(attempt)


class BrokenStream(Exception):
    """An event stream the client stops reading (a line or an event past the limit)."""


@dataclass(frozen=True)
class Event:
    event: str
    data: str
    id: str | None


class EventParser:
    """Server-Sent Events: `feed_bytes` takes the stream as it arrives and returns the events
    it completes (lines end with CRLF, LF or CR); `feed` takes one line without its end.
    Comments (`: keep-alive`) are skipped. A line or an event's data longer than
    `MAX_EVENT_BYTES` raises BrokenStream: the caller polls instead."""

    def __init__(self) -> None:
        self._buffer = b""
        self._event = ""
        self._data: list[str] = []
        self._size = 0
        self._id: str | None = None

    def feed_bytes(self, chunk: bytes) -> list[Event]:
        self._buffer += chunk
        events: list[Event] = []
        while True:
            end = LINE_END.search(self._buffer)
            if end is None:
                if len(self._buffer) > MAX_EVENT_BYTES:
                    raise BrokenStream("a line longer than the client reads")
                return events
            if end.group() == b"\r" and end.end() == len(self._buffer):
                return events  # a CR at the end: its LF may be in the next chunk
            line = self._buffer[: end.start()].decode("utf-8", "replace")
            self._buffer = self._buffer[end.end() :]
            event = self.feed(line)
            if event is not None:
                events.append(event)

    def feed(self, line: str) -> Event | None:
        if not line:
            if not self._data:
                self._event = ""
                return None
            done = Event(self._event or "message", "\n".join(self._data), self._id)
            self._event, self._data, self._size = "", [], 0
            return done
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._size += len(value) + 1
            if self._size > MAX_EVENT_BYTES:
                raise BrokenStream("an event larger than the client reads")
            self._data.append(value)
        elif name == "id":
            self._id = value
        return None


def event_value(event: Event, what: str, read: Callable[[dict[str, Any]], T]) -> T | None:
    """What an event says of the job or batch `what` (read from the JSON object it carries),
    or None for an event that carries none; NotFound for a `deleted` event."""
    if event.event == "deleted":
        raise NotFound(404, "not_found", "Not found", f"{what} was deleted")
    try:
        value = json.loads(event.data)
    except ValueError:
        return None
    return read(value) if isinstance(value, dict) and value.get("id") else None


@dataclass
class Follow:
    """The state of one `wait`: the deadline (from `clock`, seconds) and the polls' backoff
    once the event stream broke."""

    what: str
    timeout_s: float | None
    clock: Callable[[], float]
    first_poll_s: float = 0.25
    max_poll_s: float = 5.0
    stream_idle_s: float = 45.0  # the server says `keep-alive` every 15 s
    _deadline: float | None = None
    _poll_s: float = 0.0

    def __post_init__(self) -> None:
        if self.timeout_s is not None:
            self._deadline = self.clock() + self.timeout_s
        self._poll_s = self.first_poll_s

    def remaining(self) -> float | None:
        """Seconds left (None: no deadline); WaitTimeout once none are."""
        if self._deadline is None:
            return None
        left = self._deadline - self.clock()
        if left <= 0:
            raise WaitTimeout(f"{self.what} not finished within {self.timeout_s:g} s")
        return left

    def read_timeout(self) -> float:
        """How long to wait for the next line of the event stream."""
        left = self.remaining()
        return self.stream_idle_s if left is None else max(0.05, min(left, self.stream_idle_s))

    def next_poll(self) -> float:
        """Seconds to sleep before the next poll (growing to `max_poll_s`, never past the
        deadline)."""
        wait = self._poll_s
        self._poll_s = min(self.max_poll_s, self._poll_s * 1.5)
        left = self.remaining()
        return wait if left is None else min(wait, left)


def may_have_arrived(exc: httpx.TransportError) -> bool:
    """Whether the request may have reached the server before the connection failed: only
    a failure to connect says it did not."""
    return not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)


def network_error(exc: httpx.TransportError, server: str) -> NetworkError:
    """The error raised when no answer came: what failed and where, in words."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        what = "cannot connect to"
    elif isinstance(exc, httpx.TimeoutException):
        what = "timed out waiting for"
    else:
        what = "lost the connection to"
    reason = str(exc) or type(exc).__name__
    return NetworkError(f"{what} {server}: {reason}")


@contextlib.contextmanager
def writing(dest: str | os.PathLike[str] | BinaryIO) -> Iterator[Callable[[bytes], object]]:
    """A writer for a download: to a path, through a temporary file beside it that replaces
    it only once the whole body arrived (a broken download leaves no half PDF); to a file
    object, straight."""
    if not isinstance(dest, str | os.PathLike):
        yield dest.write
        return
    path = Path(dest)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh.write
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def check_server(server: str) -> str:
    """The server's URL without a trailing slash; ValueError for what is not an http(s) URL."""
    try:
        url = httpx.URL(server.strip())
    except httpx.InvalidURL as exc:
        raise ValueError(f"not a server URL: {server!r} ({exc})") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"not a server URL: {server!r} (give http://HOST[:PORT])")
    return str(url).rstrip("/")
