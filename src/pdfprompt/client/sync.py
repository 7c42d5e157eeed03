"""`Client`: the blocking client. Each method is one `Call` from `calls.py` run by `_send`
(retries decided by `core.Retries`); `wait`, `wait_batch`, the downloads and the page
iterators are the loops that move bytes, with every decision taken in `core`. `aio.py` is the
same class for asyncio, line for line."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import httpx

from pdfprompt.client import calls
from pdfprompt.client.core import (
    CHUNK_BYTES,
    MAX_ERROR_BYTES,
    MAX_JSON_BYTES,
    USER_AGENT,
    BrokenStream,
    Call,
    EventParser,
    Follow,
    Retries,
    check_server,
    error_of,
    event_value,
    id_of,
    may_have_arrived,
    network_error,
    writing,
)
from pdfprompt.client.errors import ApiError, NetworkError, ProtocolError
from pdfprompt.client.models import (
    ApiKey,
    Asset,
    Batch,
    FileInfo,
    Job,
    Page,
    Share,
    Template,
    TemplateVersion,
    Usage,
    Webhook,
)

T = TypeVar("T")
Destination = str | Path | BinaryIO


class Client:
    """A pdfprompt server at `server` (e.g. `http://127.0.0.1:8000`), called with the API
    key `key`. `timeout`: seconds for connecting and for each read; `retries`: how many times
    a call is tried again (see `core.Retries`). Use it as a context manager, or `close()` it."""

    def __init__(
        self,
        server: str,
        key: str,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.server = check_server(server)
        self.timeout_s = timeout
        self.retries = Retries(attempts=max(1, retries + 1))
        self._sleep = sleep
        self._clock = clock
        self._http = httpx.Client(
            base_url=self.server,
            headers={"Authorization": f"Bearer {key}", "User-Agent": USER_AGENT},
            timeout=timeout,
            follow_redirects=True,  # a presigned storage URL; the key is not sent elsewhere
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # The one way a request is sent

    def _send(self, call: Call[Any], *, read_timeout_s: float | None = None) -> httpx.Response:
        """The answer to `call` once it is a success, its body not yet read (close it);
        tried again as `self.retries` decides; ApiError or NetworkError otherwise."""
        attempt = 0
        timeout = httpx.Timeout(self.timeout_s, read=read_timeout_s or self.timeout_s)
        while True:
            request = self._http.build_request(
                call.method,
                call.path,
                params=call.params,
                json=call.json,
                content=call.content,
                files=call.files,
                data=call.data,
                headers=call.headers,
                timeout=timeout,
            )
            try:
                response = self._http.send(request, stream=True)
            except httpx.TransportError as exc:
                delay = self.retries.after_network(
                    attempt, sent=may_have_arrived(exc), replayable=call.replayable
                )
                if delay is None:
                    raise network_error(exc, self.server) from exc
            else:
                if response.is_success:
                    return response
                error = self._error(response)
                delay = self.retries.after_error(attempt, error)
                if delay is None:
                    raise error
            self._sleep(delay)
            attempt += 1

    def _error(self, response: httpx.Response) -> ApiError:
        body = b""
        try:
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) >= MAX_ERROR_BYTES:
                    break
        except httpx.TransportError:
            pass  # what arrived is enough to say what went wrong
        finally:
            response.close()
        return error_of(response.status_code, response.headers, body[:MAX_ERROR_BYTES])

    def _run(self, call: Call[T]) -> T:
        response = self._send(call)
        body = bytearray()
        try:
            for chunk in response.iter_bytes():
                body += chunk
                if not call.binary and len(body) > MAX_JSON_BYTES:
                    raise ProtocolError(
                        f"the answer to {call.method} {call.path} passed {MAX_JSON_BYTES} bytes"
                    )
        except httpx.TransportError as exc:
            raise network_error(exc, self.server) from exc
        finally:
            response.close()
        return call.answer(bytes(body))

    def _all(self, page: Callable[[str | None], Call[Page[T]]]) -> Iterator[T]:
        cursor: str | None = None
        while True:
            found = self._run(page(cursor))
            yield from found.items
            if found.next_cursor is None:
                return
            cursor = found.next_cursor

    def _save(self, call: Call[bytes], dest: Destination) -> int:
        response = self._send(call)
        written = 0
        try:
            with writing(dest) as write:
                for chunk in response.iter_bytes(CHUNK_BYTES):
                    write(chunk)
                    written += len(chunk)
        except httpx.TransportError as exc:
            raise network_error(exc, self.server) from exc
        finally:
            response.close()
        return written

    def _follow(
        self,
        events: Call[bytes],
        follow: Follow,
        read: Callable[[dict[str, Any]], T],
        done: Callable[[T], bool],
        on_change: Callable[[T], None] | None,
    ) -> T | None:
        """What the event stream says until `done`; None once the stream broke or ended
        without it (the caller polls then)."""
        try:
            response = self._send(events, read_timeout_s=follow.read_timeout())
        except NetworkError:
            return None
        except ApiError as exc:
            if exc.code in ("not_found", "unauthorized", "forbidden"):
                raise
            return None
        parser = EventParser()
        try:
            for chunk in response.iter_bytes():
                for event in parser.feed_bytes(chunk):
                    value = event_value(event, follow.what, read)
                    if value is None:
                        continue
                    if on_change is not None:
                        on_change(value)
                    if done(value):
                        return value
                follow.remaining()  # keep-alives come every 15 s: the deadline holds
        except (httpx.TransportError, BrokenStream):
            pass  # the stream broke: the caller polls
        finally:
            response.close()
        follow.remaining()
        return None

    def _wait(
        self,
        events: Call[bytes],
        get: Call[T],
        follow: Follow,
        read: Callable[[dict[str, Any]], T],
        done: Callable[[T], bool],
        on_change: Callable[[T], None] | None = None,
    ) -> T:
        found = self._follow(events, follow, read, done, on_change)
        while found is None:
            value = self._run(get)
            if on_change is not None:
                on_change(value)
            if done(value):
                return value
            self._sleep(follow.next_poll())
        return found

    # Jobs

    def submit(
        self,
        type: str,
        input: str | None = None,
        options: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> Job:
        """Queue a job (`type` prompt, markdown, html, or any type the server knows, with
        its `fields`); one `Idempotency-Key` for the call (new unless given), sent with each
        retry, so the server makes one job however often it is sent."""
        return self._run(calls.submit(type, input, options, idempotency_key, fields))

    def submit_markdown(
        self, markdown: str, options: Mapping[str, Any] | None = None, **kw: Any
    ) -> Job:
        return self.submit("markdown", markdown, options, **kw)

    def submit_html(self, html: str, options: Mapping[str, Any] | None = None, **kw: Any) -> Job:
        return self.submit("html", html, options, **kw)

    def submit_prompt(
        self, prompt: str, options: Mapping[str, Any] | None = None, **kw: Any
    ) -> Job:
        return self.submit("prompt", prompt, options, **kw)

    def submit_url(self, url: str, options: Mapping[str, Any] | None = None, **kw: Any) -> Job:
        """A web page from a host the server allows (docs/url-jobs.md)."""
        return self.submit("url", url, options, **kw)

    def submit_template(
        self,
        template: Template | str,
        data: Any,
        options: Mapping[str, Any] | None = None,
        *,
        version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Job:
        """A job filling `template` (its id or name; the latest version unless `version`)."""
        ref = calls.template_ref(template, version)
        return self.submit("template", None, options, idempotency_key, template=ref, data=data)

    def submit_merge(
        self,
        inputs: Sequence[Any],
        options: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Job:
        """A job merging PDFs you have into one: uploaded PDF assets (Asset, id or name),
        your jobs' PDFs (Job or id, FileInfo), or `{"asset"|"job"|"file": …, "title": …}`;
        an outline entry for each."""
        refs = [calls.pdf_input(i) for i in inputs]
        return self.submit("merge", None, options, idempotency_key, inputs=refs)

    def submit_split(
        self,
        input: Any,
        ranges: str,
        options: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Job:
        """A job splitting one of your PDFs into one PDF per range ('1-3,4-'), a ZIP."""
        ref = calls.pdf_input(input)
        if isinstance(ref, dict):
            ref = str(next(iter(ref.values())))
        return self.submit("split", ref, options, idempotency_key, ranges=ranges)

    def submit_pdf(
        self,
        input: Any,
        options: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Job:
        """A job applying `options` (document information, finishing) to one of your PDFs."""
        ref = calls.pdf_input(input)
        if isinstance(ref, dict):
            ref = str(next(iter(ref.values())))
        return self.submit("pdf", ref, options, idempotency_key)

    def get_job(self, job: Job | str) -> Job:
        return self._run(calls.get_job(job))

    def list_jobs(
        self, *, status: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> Page[Job]:
        return self._run(calls.list_jobs(status, limit, cursor))

    def iter_jobs(self, *, status: str | None = None, page_size: int = 100) -> Iterator[Job]:
        """Every job (of `status`), newest first, page after page."""
        return self._all(lambda cursor: calls.list_jobs(status, page_size, cursor))

    def cancel(self, job: Job | str) -> Job:
        return self._run(calls.cancel(job))

    def delete(self, job: Job | str) -> None:
        self._run(calls.delete(job))

    def revise(
        self, job: Job | str, instructions: str, *, idempotency_key: str | None = None
    ) -> Job:
        """A new prompt job that edits `job`'s document as `instructions` say."""
        return self._run(calls.revise(job, instructions, idempotency_key))

    def wait(
        self,
        job: Job | str,
        timeout: float | None = None,
        *,
        on_change: Callable[[Job], None] | None = None,
    ) -> Job:
        """The job once it has a final status (succeeded, failed or canceled; look at
        `status`): follows its event stream and, when that breaks, polls with a growing
        interval. WaitTimeout after `timeout` seconds (None: no limit)."""
        follow = Follow(f"job {id_of(job)}", timeout, self._clock)
        return self._wait(
            calls.job_events(job),
            calls.get_job(job),
            follow,
            Job.of,
            lambda j: j.finished,
            on_change,
        )

    def download(self, job_or_file: Job | FileInfo | str, dest: Destination) -> int:
        """Stream a job's PDF (a Job or a job id) or a file's content (a FileInfo) to `dest`,
        a path (written whole or not at all) or a binary file object; the bytes written."""
        return self._save(calls.content_of(job_or_file), dest)

    def pdf_bytes(self, job: Job | str) -> bytes:
        return self._run(calls.job_pdf(job))

    # Files and shares

    def get_file(self, file: FileInfo | str) -> FileInfo:
        return self._run(calls.get_file(file))

    def create_share(
        self,
        file: FileInfo | str,
        *,
        expires_in_s: int | None = None,
        max_downloads: int | None = None,
    ) -> Share:
        return self._run(calls.create_share(file, expires_in_s, max_downloads))

    def list_shares(self, file: FileInfo | str) -> Page[Share]:
        return self._run(calls.list_shares(file))

    def revoke_share(self, share: Share | str) -> None:
        self._run(calls.revoke_share(share))

    # Account

    def usage(self) -> Usage:
        return self._run(calls.usage())

    def usage_history(
        self, *, period: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> Page[dict[str, Any]]:
        return self._run(calls.usage_history(period, limit, cursor))

    def list_keys(self) -> Page[ApiKey]:
        return self._run(calls.list_keys())

    def create_key(
        self,
        name: str = "",
        *,
        scopes: Sequence[str] | None = None,
        expires_in_s: int | None = None,
    ) -> ApiKey:
        return self._run(calls.create_key(name, scopes, expires_in_s))

    def revoke_key(self, key: ApiKey | str) -> None:
        self._run(calls.revoke_key(key))

    # Webhooks

    def create_webhook(
        self, url: str, *, events: Sequence[str] | None = None, description: str = ""
    ) -> Webhook:
        return self._run(calls.create_webhook(url, events, description))

    def list_webhooks(self) -> Page[Webhook]:
        return self._run(calls.list_webhooks())

    def get_webhook(self, hook: Webhook | str) -> Webhook:
        return self._run(calls.get_webhook(hook))

    def update_webhook(self, hook: Webhook | str, **changes: Any) -> Webhook:
        """Change `url`, `events`, `description`, `enabled` or `rotate_secret=True`."""
        return self._run(calls.update_webhook(hook, changes))

    def delete_webhook(self, hook: Webhook | str) -> None:
        self._run(calls.delete_webhook(hook))

    def webhook_deliveries(
        self,
        hook: Webhook | str,
        *,
        status: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[dict[str, Any]]:
        return self._run(calls.webhook_deliveries(hook, status, limit, cursor))

    def retry_delivery(self, hook: Webhook | str, delivery_id: str) -> dict[str, Any]:
        return self._run(calls.retry_delivery(hook, delivery_id))

    # Assets

    def upload_asset(
        self,
        source: str | Path | bytes,
        name: str | None = None,
        *,
        replace: bool = False,
        idempotency_key: str | None = None,
    ) -> Asset:
        """Upload an image or font from a path or bytes (bytes need `name`); `replace`
        puts new bytes under an existing name."""
        return self._run(calls.upload_asset(source, name, replace, idempotency_key))

    def list_assets(self, *, limit: int | None = None, cursor: str | None = None) -> Page[Asset]:
        return self._run(calls.list_assets(limit, cursor))

    def iter_assets(self, *, page_size: int = 100) -> Iterator[Asset]:
        return self._all(lambda cursor: calls.list_assets(page_size, cursor))

    def get_asset(self, asset: Asset | str) -> Asset:
        return self._run(calls.get_asset(asset))

    def asset_bytes(self, asset: Asset | str) -> bytes:
        return self._run(calls.asset_content(asset))

    def delete_asset(self, asset: Asset | str) -> None:
        self._run(calls.delete_asset(asset))

    # Templates

    def create_template(
        self,
        name: str,
        body: str,
        *,
        engine: str = "html",
        schema: Mapping[str, Any] | None = None,
        sample_data: Any = None,
        options: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Template:
        fields = calls.template_body(name, engine, body, schema, sample_data, options)
        return self._run(calls.create_template(fields, idempotency_key))

    def update_template(
        self,
        template: Template | str,
        name: str,
        body: str,
        *,
        engine: str = "html",
        schema: Mapping[str, Any] | None = None,
        sample_data: Any = None,
        options: Mapping[str, Any] | None = None,
    ) -> Template:
        """A new version of the template (the whole of it, as `create_template` takes it)."""
        fields = calls.template_body(name, engine, body, schema, sample_data, options)
        return self._run(calls.update_template(template, fields))

    def get_template(self, template: Template | str, *, version: int | None = None) -> Template:
        return self._run(calls.get_template(template, version))

    def list_templates(
        self, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[Template]:
        return self._run(calls.list_templates(limit, cursor))

    def iter_templates(self, *, page_size: int = 100) -> Iterator[Template]:
        return self._all(lambda cursor: calls.list_templates(page_size, cursor))

    def template_versions(self, template: Template | str) -> list[TemplateVersion]:
        return self._run(calls.template_versions(template)).items

    def delete_template(self, template: Template | str) -> None:
        self._run(calls.delete_template(template))

    def preview_template(
        self,
        template: Template | str,
        data: Any = None,
        *,
        version: int | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> bytes:
        """The PDF of the template filled with `data` (None: its sample data), watermarked."""
        return self._run(calls.preview_template(template, data, version, options))

    def generate_template(
        self, prompt: str, *, engine: str | None = None, idempotency_key: str | None = None
    ) -> Job:
        """A job in which the model writes a template; `wait` for it, then its `template`
        names the new one."""
        return self._run(calls.generate_template(prompt, engine, idempotency_key))

    # Batches

    def create_batch(
        self,
        *,
        template: Template | str | None = None,
        items: Sequence[Any] | None = None,
        jobs: Sequence[Mapping[str, Any]] | None = None,
        file: str | Path | None = None,
        options: Mapping[str, Any] | None = None,
        filename: str | None = None,
        idempotency_key: str | None = None,
    ) -> Batch:
        """A batch: `template` with `items` (rows of data) or a CSV/JSONL `file` of rows, or
        any `jobs`. Every row is checked before any is queued (InvalidInput lists the bad)."""
        return self._run(
            calls.create_batch(
                template=template,
                items=items,
                jobs=jobs,
                file=file,
                options=options,
                filename=filename,
                idempotency_key=idempotency_key,
            )
        )

    def get_batch(self, batch: Batch | str) -> Batch:
        return self._run(calls.get_batch(batch))

    def list_batches(self, *, limit: int | None = None, cursor: str | None = None) -> Page[Batch]:
        return self._run(calls.list_batches(limit, cursor))

    def iter_batches(self, *, page_size: int = 100) -> Iterator[Batch]:
        return self._all(lambda cursor: calls.list_batches(page_size, cursor))

    def batch_jobs(
        self,
        batch: Batch | str,
        *,
        status: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Job]:
        return self._run(calls.batch_jobs(batch, status, limit, cursor))

    def iter_batch_jobs(
        self, batch: Batch | str, *, status: str | None = None, page_size: int = 100
    ) -> Iterator[Job]:
        return self._all(lambda cursor: calls.batch_jobs(batch, status, page_size, cursor))

    def cancel_batch(self, batch: Batch | str) -> Batch:
        return self._run(calls.cancel_batch(batch))

    def wait_batch(
        self,
        batch: Batch | str,
        timeout: float | None = None,
        *,
        on_change: Callable[[Batch], None] | None = None,
    ) -> Batch:
        """The batch once finished (completed or canceled), `on_change` called with each
        state seen on the way; events, else polls, as `wait`."""
        follow = Follow(f"batch {id_of(batch)}", timeout, self._clock)
        return self._wait(
            calls.batch_events(batch),
            calls.get_batch(batch),
            follow,
            Batch.of,
            lambda b: b.finished,
            on_change,
        )

    def download_archive(
        self, batch: Batch | str, dest: Destination, *, merge: bool = False
    ) -> int:
        """Stream the batch's ZIP of PDFs (or, with `merge`, one PDF of all) to `dest`."""
        return self._save(calls.batch_archive(batch, merge), dest)
