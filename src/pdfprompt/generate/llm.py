"""The LLM client: any OpenAI-compatible chat-completions endpoint, streamed.

Keys form a ring: each request takes the next healthy key. A 429 cools that key
down for its `Retry-After` (or the default); a 401/403 quarantines it for a long
time; network errors, 5xx, timeouts and empty or non-HTML answers move on to the
next model in `PDFPROMPT_LLM_MODELS`. When every key is cooling down the caller
gets `LlmKeysCoolingError` with the time until the first key is free, so the job
waits for it instead of failing. A key never appears in a log line, an error, a
job record or a metric label: keys are named by their position ("key 2").
"""

from __future__ import annotations

import json
import logging
import ssl
import time
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import certifi
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pdfprompt.domain import LlmError, LlmKeysCoolingError
from pdfprompt.generate.document import extract_html

log = logging.getLogger(__name__)

Progress = Callable[[int], Awaitable[None]]
PROGRESS_EVERY_S = 0.2  # a streamed answer reports how much has arrived at most this often


@dataclass
class _Key:
    secret: str
    label: str  # what logs, errors and metrics say instead of the key
    cooling_until: float = 0.0
    quarantined_until: float = 0.0

    def free_at(self) -> float:
        return max(self.cooling_until, self.quarantined_until)


class KeyRing:
    """Round-robin over the keys that are neither cooling down nor quarantined."""

    def __init__(
        self,
        secrets: Sequence[str],
        *,
        cooldown_s: float = 30.0,
        quarantine_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._keys = [_Key(s, f"key {i + 1}") for i, s in enumerate(secrets)]
        self.cooldown_s = cooldown_s
        self.quarantine_s = quarantine_s
        self._clock = clock
        self._next = 0

    def take(self) -> _Key | None:
        """The next usable key, or None when every key is cooling down or quarantined."""
        now = self._clock()
        for offset in range(len(self._keys)):
            key = self._keys[(self._next + offset) % len(self._keys)]
            if key.free_at() <= now:
                self._next = (self._next + offset + 1) % len(self._keys)
                return key
        return None

    def cool(self, key: _Key, seconds: float | None) -> None:
        key.cooling_until = self._clock() + (self.cooldown_s if seconds is None else seconds)

    def quarantine(self, key: _Key) -> None:
        key.quarantined_until = self._clock() + self.quarantine_s

    def all_quarantined(self) -> bool:
        now = self._clock()
        return all(k.quarantined_until > now for k in self._keys)

    def seconds_until_free(self) -> float:
        now = self._clock()
        return max(0.0, min((k.free_at() for k in self._keys), default=0.0) - now)

    def free_in(self) -> dict[str, float]:
        """Seconds until each key (by label) may be used again; 0 for a usable one."""
        now = self._clock()
        return {key.label: max(0.0, key.free_at() - now) for key in self._keys}

    def states(self) -> dict[str, str]:
        """Each key's state by label: `ok`, `cooling` or `quarantined` (for /readyz)."""
        now = self._clock()
        out = {}
        for key in self._keys:
            if key.quarantined_until > now:
                out[key.label] = "quarantined"
            elif key.cooling_until > now:
                out[key.label] = "cooling"
            else:
                out[key.label] = "ok"
        return out


class _NextModel(Exception):
    """This model gave nothing usable; try the next one."""


class _NextKey(Exception):
    """This key was refused; try the same model with another key."""


def _retry_after_s(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class LlmClient:
    """Writes documents with the first model and key that work. One per process: the key
    ring's cool-downs are shared by every job the process runs."""

    def __init__(
        self,
        base_url: str,
        keys: KeyRing,
        models: Sequence[str],
        *,
        timeout_s: float = 120.0,
        max_tokens: int = 8000,
    ) -> None:
        if not models:
            raise ValueError("at least one model is needed (PDFPROMPT_LLM_MODELS)")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.keys = keys
        self.models = list(models)
        self.max_tokens = max_tokens
        # `timeout_s` is the longest wait for the next bytes of an answer, not for all of it.
        self._timeout = aiohttp.ClientTimeout(total=None, connect=10.0, sock_read=timeout_s)
        self._http: aiohttp.ClientSession | None = None  # made in the event loop, on first use
        self._proxy = env_proxy(self.url)
        self.calls: dict[str, int] = {}  # outcome -> count, for /metrics

    def _session(self) -> aiohttp.ClientSession:
        """The HTTP client, with no cap on connections: every job slot waiting on the LLM
        holds one. aiohttp, not httpx: with a thousand answers streaming at once, httpx's
        connection pool walks every connection on each request and each close, which made
        each answer cost several times the CPU (README, `scripts/bench.sh llm`)."""
        if self._http is None or self._http.closed:
            # The system's certificate authorities (and SSL_CERT_FILE / SSL_CERT_DIR), and
            # certifi's, which a container without CA certificates still has.
            tls = ssl.create_default_context()
            tls.load_verify_locations(certifi.where())
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ssl=tls),
                timeout=self._timeout,
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()

    def collector(self) -> Collector:
        """Prometheus metrics of this client: keys by state, calls by outcome (no key in any
        label: keys are counted, not named)."""
        client = self

        class _Metrics(Collector):
            def collect(self) -> Iterator[Metric]:
                states = GaugeMetricFamily(
                    "pdfprompt_llm_keys", "LLM keys by state.", labels=["state"]
                )
                counts = {"ok": 0, "cooling": 0, "quarantined": 0}
                for state in client.keys.states().values():
                    counts[state] += 1
                for state, n in counts.items():
                    states.add_metric([state], n)
                yield states
                calls = CounterMetricFamily(
                    "pdfprompt_llm_calls", "LLM requests by outcome.", labels=["outcome"]
                )
                for outcome, n in sorted(client.calls.items()):
                    calls.add_metric([outcome], n)
                yield calls

        return _Metrics()

    def _count(self, outcome: str) -> None:
        self.calls[outcome] = self.calls.get(outcome, 0) + 1

    async def write(
        self,
        messages: list[dict[str, str]],
        progress: Progress | None = None,
        extract: Callable[[str], str | None] = extract_html,
    ) -> tuple[str, str]:
        """The HTML document a model wrote for `messages` (what `extract` finds in its answer;
        an answer where it finds nothing goes to the next model), and that model's name."""
        failures: list[str] = []
        for model in self.models:
            while True:
                key = self.keys.take()
                if key is None and self.keys.all_quarantined():
                    raise LlmError(
                        "every LLM key was refused by the provider (401/403); check "
                        "OPENROUTER_API_KEY*",
                        transient=False,
                    )
                if key is None:
                    wait_s = self.keys.seconds_until_free()
                    raise LlmKeysCoolingError(
                        f"every LLM key is cooling down or refused; the first is free in "
                        f"{wait_s:.0f} s",
                        retry_after_s=wait_s,
                    )
                try:
                    html = await self._complete(model, key, messages, progress, extract)
                except _NextKey:
                    continue
                except _NextModel as exc:
                    failures.append(f"{model}: {exc}")
                    break
                self._count("ok")
                return html, model
        raise LlmError("no model gave a usable document (" + "; ".join(failures) + ")")

    async def _complete(
        self,
        model: str,
        key: _Key,
        messages: list[dict[str, str]],
        progress: Progress | None,
        extract: Callable[[str], str | None] = extract_html,
    ) -> str:
        body = {
            "model": model,
            "messages": messages,
            "stream": True,
            "max_tokens": self.max_tokens,
            "temperature": 0.3,
        }
        headers = {"Authorization": f"Bearer {key.secret}", "Accept": "text/event-stream"}
        parts: list[str] = []
        received = 0
        reported_at = 0.0
        try:
            request = self._session().post(self.url, json=body, headers=headers, proxy=self._proxy)
            async with request as resp:
                if resp.status == 429:
                    wait_s = _retry_after_s(resp.headers.get("retry-after"))
                    self.keys.cool(key, wait_s)
                    self._count("rate_limited")
                    log.warning("LLM %s was rate limited on %s; cooling it down", key.label, model)
                    raise _NextKey
                if resp.status in (401, 403):
                    self.keys.quarantine(key)
                    self._count("refused")
                    log.warning(
                        "LLM %s was refused (%d); quarantined for %.0f s",
                        key.label,
                        resp.status,
                        self.keys.quarantine_s,
                    )
                    raise _NextKey
                if resp.status >= 400:
                    self._count("error")
                    raise _NextModel(f"HTTP {resp.status}")
                async for line in _lines(resp.content):
                    text = streamed_text(line)
                    if text is None:
                        continue
                    if text == "":
                        break  # [DONE]
                    parts.append(text)
                    received += len(text)
                    now = time.monotonic()
                    if progress is not None and now - reported_at >= PROGRESS_EVERY_S:
                        reported_at = now
                        await progress(received)
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._count("error")
            raise _NextModel(type(exc).__name__) from None
        document = extract("".join(parts))
        if document is None:
            self._count("unusable")
            raise _NextModel("the answer was empty or not an HTML document")
        return document


def env_proxy(url: str) -> str | None:
    """The proxy the environment names for `url` (`HTTPS_PROXY`/`HTTP_PROXY`, minus
    `NO_PROXY`), looked up once: aiohttp's `trust_env` looks it up, and reads `~/.netrc`, on
    a thread for every request."""
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname or urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)


async def _lines(stream: aiohttp.StreamReader) -> AsyncIterator[str]:
    """The lines of a streamed answer, however its chunks split them (and however long a
    line is: the reader's own `readline` refuses lines over 64 KiB)."""
    pending = b""
    async for chunk in stream.iter_any():
        pending += chunk
        if b"\n" not in chunk:
            continue
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.rstrip(b"\r").decode("utf-8", "replace")
    if pending:
        yield pending.rstrip(b"\r").decode("utf-8", "replace")


def streamed_text(line: str) -> str | None:
    """The content of one streamed line: text, "" at the end, None for anything else."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if data == "[DONE]":
        return ""
    try:
        event: Any = json.loads(data)
        choice = event["choices"][0]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    content = (choice.get("delta") or choice.get("message") or {}).get("content")
    return content if isinstance(content, str) and content else None
