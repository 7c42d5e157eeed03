"""Every route of the API as a `Call`: the one description of each request (path, body,
`Idempotency-Key`) and of how its answer is read, used by both clients."""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pdfprompt.client.core import Call, id_of, new_idempotency_key, query
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

JobTypes = ("prompt", "markdown", "html", "url")


def _nothing(_: Any) -> None:
    return None


def _bytes(body: bytes) -> bytes:
    return body


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _created(key: str | None) -> dict[str, str]:
    return {"Idempotency-Key": key or new_idempotency_key()}


def _raw(value: dict[str, Any]) -> dict[str, Any]:
    return value


# Jobs


def submit(
    type: str,
    input: str | None,
    options: Mapping[str, Any] | None,
    idempotency_key: str | None,
    extra: Mapping[str, Any] | None = None,
) -> Call[Job]:
    body: dict[str, Any] = {"type": type}
    if input is not None:
        body["input"] = input
    body.update(extra or {})
    if options:
        body["options"] = dict(options)
    return Call(
        "POST",
        "/v1/jobs",
        lambda v: Job.of(_object(v)),
        json=body,
        headers=_created(idempotency_key),
    )


def pdf_input(value: Any) -> str | dict[str, Any]:
    """A PDF for a merge, split or pdf job as the server takes it: an id or asset name as
    is, a Job or an Asset by its id, a FileInfo as `{"file": id}`, an object as given."""
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, FileInfo):
        return {"file": value.id}
    return id_of(value)


def get_job(job: Job | str) -> Call[Job]:
    return Call("GET", f"/v1/jobs/{id_of(job)}", lambda v: Job.of(_object(v)))


def list_jobs(status: str | None, limit: int | None, cursor: str | None) -> Call[Page[Job]]:
    return Call(
        "GET",
        "/v1/jobs",
        lambda v: Page.of(_object(v), Job.of),
        params=query(status=status, limit=limit, cursor=cursor),
    )


def cancel(job: Job | str) -> Call[Job]:
    return Call("POST", f"/v1/jobs/{id_of(job)}/cancel", lambda v: Job.of(_object(v)))


def delete(job: Job | str) -> Call[None]:
    return Call("DELETE", f"/v1/jobs/{id_of(job)}", _nothing)


def revise(job: Job | str, instructions: str, idempotency_key: str | None) -> Call[Job]:
    # The server does not deduplicate revisions by key: not replayed after a broken connection.
    return Call(
        "POST",
        f"/v1/jobs/{id_of(job)}/revise",
        lambda v: Job.of(_object(v)),
        json={"instructions": instructions},
        headers=_created(idempotency_key),
        replayable=False,
    )


def job_events(job: Job | str) -> Call[bytes]:
    return Call(
        "GET",
        f"/v1/jobs/{id_of(job)}/events",
        _bytes,
        headers={"Accept": "text/event-stream"},
        binary=True,
    )


def job_pdf(job: Job | str) -> Call[bytes]:
    return Call("GET", f"/v1/jobs/{id_of(job)}/pdf", _bytes, binary=True)


def file_content(file: FileInfo | str) -> Call[bytes]:
    return Call("GET", f"/v1/files/{id_of(file)}/content", _bytes, binary=True)


def content_of(target: Job | FileInfo | str) -> Call[bytes]:
    """A job's PDF (a Job, or a job's id as a string), or a file's content (a FileInfo)."""
    if isinstance(target, FileInfo):
        return file_content(target)
    return job_pdf(target)


# Files and shares


def get_file(file: FileInfo | str) -> Call[FileInfo]:
    return Call("GET", f"/v1/files/{id_of(file)}", lambda v: FileInfo.of(_object(v)))


def create_share(
    file: FileInfo | str, expires_in_s: int | None, max_downloads: int | None
) -> Call[Share]:
    body = query(expires_in_s=expires_in_s, max_downloads=max_downloads)
    return Call(
        "POST",
        f"/v1/files/{id_of(file)}/shares",
        lambda v: Share.of(_object(v)),
        json=body,
        headers=_created(None),
        replayable=False,
    )


def list_shares(file: FileInfo | str) -> Call[Page[Share]]:
    return Call("GET", f"/v1/files/{id_of(file)}/shares", lambda v: Page.of(_object(v), Share.of))


def revoke_share(share: Share | str) -> Call[None]:
    return Call("DELETE", f"/v1/shares/{id_of(share)}", _nothing)


# Account


def usage() -> Call[Usage]:
    return Call("GET", "/v1/usage", lambda v: Usage.of(_object(v)))


def usage_history(
    period: str | None, limit: int | None, cursor: str | None
) -> Call[Page[dict[str, Any]]]:
    return Call(
        "GET",
        "/v1/usage/history",
        lambda v: Page.of(_object(v), _raw),
        params=query(period=period, limit=limit, cursor=cursor),
    )


def list_keys() -> Call[Page[ApiKey]]:
    return Call("GET", "/v1/keys", lambda v: Page.of(_object(v), ApiKey.of))


def create_key(name: str, scopes: Sequence[str] | None, expires_in_s: int | None) -> Call[ApiKey]:
    body: dict[str, Any] = {"name": name}
    if scopes is not None:
        body["scopes"] = list(scopes)
    if expires_in_s is not None:
        body["expires_in_s"] = expires_in_s
    return Call(
        "POST",
        "/v1/keys",
        lambda v: ApiKey.of(_object(v)),
        json=body,
        headers=_created(None),
        replayable=False,
    )


def revoke_key(key: ApiKey | str) -> Call[None]:
    return Call("DELETE", f"/v1/keys/{id_of(key)}", _nothing)


# Webhooks


def create_webhook(url: str, events: Sequence[str] | None, description: str) -> Call[Webhook]:
    body: dict[str, Any] = {"url": url, "description": description}
    if events is not None:
        body["events"] = list(events)
    return Call(
        "POST",
        "/v1/webhooks",
        lambda v: Webhook.of(_object(v)),
        json=body,
        headers=_created(None),
        replayable=False,
    )


def list_webhooks() -> Call[Page[Webhook]]:
    return Call("GET", "/v1/webhooks", lambda v: Page.of(_object(v), Webhook.of))


def get_webhook(hook: Webhook | str) -> Call[Webhook]:
    return Call("GET", f"/v1/webhooks/{id_of(hook)}", lambda v: Webhook.of(_object(v)))


def update_webhook(hook: Webhook | str, changes: Mapping[str, Any]) -> Call[Webhook]:
    return Call(
        "PATCH",
        f"/v1/webhooks/{id_of(hook)}",
        lambda v: Webhook.of(_object(v)),
        json={k: v for k, v in changes.items() if v is not None},
    )


def delete_webhook(hook: Webhook | str) -> Call[None]:
    return Call("DELETE", f"/v1/webhooks/{id_of(hook)}", _nothing)


def webhook_deliveries(
    hook: Webhook | str, status: str | None, limit: int | None, cursor: str | None
) -> Call[Page[dict[str, Any]]]:
    return Call(
        "GET",
        f"/v1/webhooks/{id_of(hook)}/deliveries",
        lambda v: Page.of(_object(v), _raw),
        params=query(status=status, limit=limit, cursor=cursor),
    )


def retry_delivery(hook: Webhook | str, delivery_id: str) -> Call[dict[str, Any]]:
    return Call("POST", f"/v1/webhooks/{id_of(hook)}/deliveries/{delivery_id}/retry", _object)


# Assets


def upload_asset(
    source: str | Path | bytes, name: str | None, replace: bool, idempotency_key: str | None
) -> Call[Asset]:
    """Multipart with a `file` part; the part's name is the file's unless `name` is given
    (bytes need a name). The server sniffs the type from the bytes."""
    if isinstance(source, bytes):
        if not name:
            raise ValueError("an asset given as bytes needs a name")
        content, filename = source, name
    else:
        path = Path(source)
        content, filename = path.read_bytes(), path.name
    kind = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    return Call(
        "POST",
        "/v1/assets",
        lambda v: Asset.of(_object(v)),
        params=query(replace="true" if replace else None),
        files={"file": (filename, content, kind)},
        data={"name": name} if name else None,
        headers=_created(idempotency_key),
    )


def list_assets(limit: int | None, cursor: str | None) -> Call[Page[Asset]]:
    return Call(
        "GET",
        "/v1/assets",
        lambda v: Page.of(_object(v), Asset.of),
        params=query(limit=limit, cursor=cursor),
    )


def get_asset(asset: Asset | str) -> Call[Asset]:
    return Call("GET", f"/v1/assets/{id_of(asset)}", lambda v: Asset.of(_object(v)))


def asset_content(asset: Asset | str) -> Call[bytes]:
    return Call("GET", f"/v1/assets/{id_of(asset)}/content", _bytes, binary=True)


def delete_asset(asset: Asset | str) -> Call[None]:
    return Call("DELETE", f"/v1/assets/{id_of(asset)}", _nothing)


# Templates


def template_body(
    name: str,
    engine: str,
    body: str,
    schema: Mapping[str, Any] | None,
    sample_data: Any,
    options: Mapping[str, Any] | None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "engine": engine, "body": body}
    if schema is not None:
        out["schema"] = dict(schema)
    if sample_data is not None:
        out["sample_data"] = sample_data
    if options is not None:
        out["options"] = dict(options)
    return out


def create_template(fields: dict[str, Any], idempotency_key: str | None) -> Call[Template]:
    return Call(
        "POST",
        "/v1/templates",
        lambda v: Template.of(_object(v)),
        json=fields,
        headers=_created(idempotency_key),
    )


def update_template(template: Template | str, fields: dict[str, Any]) -> Call[Template]:
    # Each PUT makes a version: not replayed after a broken connection.
    return Call(
        "PUT",
        f"/v1/templates/{id_of(template)}",
        lambda v: Template.of(_object(v)),
        json=fields,
        replayable=False,
    )


def get_template(template: Template | str, version: int | None) -> Call[Template]:
    return Call(
        "GET",
        f"/v1/templates/{id_of(template)}",
        lambda v: Template.of(_object(v)),
        params=query(version=version),
    )


def list_templates(limit: int | None, cursor: str | None) -> Call[Page[Template]]:
    return Call(
        "GET",
        "/v1/templates",
        lambda v: Page.of(_object(v), Template.of),
        params=query(limit=limit, cursor=cursor),
    )


def template_versions(template: Template | str) -> Call[Page[TemplateVersion]]:
    return Call(
        "GET",
        f"/v1/templates/{id_of(template)}/versions",
        lambda v: Page.of(_object(v), TemplateVersion.of),
    )


def delete_template(template: Template | str) -> Call[None]:
    return Call("DELETE", f"/v1/templates/{id_of(template)}", _nothing)


def preview_template(
    template: Template | str,
    data: Any,
    version: int | None,
    options: Mapping[str, Any] | None,
) -> Call[bytes]:
    body: dict[str, Any] = {}
    if data is not None:
        body["data"] = data
    if version is not None:
        body["version"] = version
    if options is not None:
        body["options"] = dict(options)
    return Call("POST", f"/v1/templates/{id_of(template)}/preview", _bytes, json=body, binary=True)


def generate_template(prompt: str, engine: str | None, idempotency_key: str | None) -> Call[Job]:
    body: dict[str, Any] = {"prompt": prompt}
    if engine is not None:
        body["engine"] = engine
    return Call(
        "POST",
        "/v1/templates/generate",
        lambda v: Job.of(_object(v)),
        json=body,
        headers=_created(idempotency_key),
    )


def template_ref(template: Template | str, version: int | None = None) -> str:
    """`ID`, `NAME`, `ID@VERSION` or `NAME@VERSION` as a job or batch names a template."""
    ref = id_of(template)
    return ref if version is None else f"{ref}@{version}"


# Batches


def create_batch(
    *,
    template: Template | str | None,
    items: Sequence[Any] | None,
    jobs: Sequence[Mapping[str, Any]] | None,
    file: str | Path | None,
    options: Mapping[str, Any] | None,
    filename: str | None,
    idempotency_key: str | None,
) -> Call[Batch]:
    """A batch from rows of data for a template (`items`), from a CSV or JSONL file of rows
    (`file`, uploaded as is), or of any jobs (`jobs`): exactly one of the three."""
    if sum(x is not None for x in (items, jobs, file)) != 1:
        raise ValueError("give exactly one of items, jobs or file")
    headers = _created(idempotency_key)
    read = lambda v: Batch.of(_object(v))  # noqa: E731
    if file is not None:
        if template is None:
            raise ValueError("a batch from a file needs its template")
        path = Path(file)
        kind = "text/csv" if path.suffix.lower() == ".csv" else "application/x-ndjson"
        form = {"template": template_ref(template)}
        if options is not None:
            form["options"] = json.dumps(dict(options))
        if filename is not None:
            form["filename"] = filename
        return Call(
            "POST",
            "/v1/batches",
            read,
            files={"file": (path.name, path.read_bytes(), kind)},
            data=form,
            headers=headers,
        )
    body: dict[str, Any] = {}
    if jobs is not None:
        body["jobs"] = [dict(j) for j in jobs]
    else:
        if template is None:
            raise ValueError("a batch of items needs its template")
        body["template"] = template_ref(template)
        body["items"] = list(items or [])
        if options is not None:
            body["options"] = dict(options)
    if filename is not None:
        body["filename"] = filename
    return Call("POST", "/v1/batches", read, json=body, headers=headers)


def get_batch(batch: Batch | str) -> Call[Batch]:
    return Call("GET", f"/v1/batches/{id_of(batch)}", lambda v: Batch.of(_object(v)))


def list_batches(limit: int | None, cursor: str | None) -> Call[Page[Batch]]:
    return Call(
        "GET",
        "/v1/batches",
        lambda v: Page.of(_object(v), Batch.of),
        params=query(limit=limit, cursor=cursor),
    )


def batch_jobs(
    batch: Batch | str, status: str | None, limit: int | None, cursor: str | None
) -> Call[Page[Job]]:
    return Call(
        "GET",
        f"/v1/batches/{id_of(batch)}/jobs",
        lambda v: Page.of(_object(v), Job.of),
        params=query(status=status, limit=limit, cursor=cursor),
    )


def cancel_batch(batch: Batch | str) -> Call[Batch]:
    return Call("POST", f"/v1/batches/{id_of(batch)}/cancel", lambda v: Batch.of(_object(v)))


def batch_events(batch: Batch | str) -> Call[bytes]:
    return Call(
        "GET",
        f"/v1/batches/{id_of(batch)}/events",
        _bytes,
        headers={"Accept": "text/event-stream"},
        binary=True,
    )


def batch_archive(batch: Batch | str, merge: bool) -> Call[bytes]:
    return Call(
        "GET",
        f"/v1/batches/{id_of(batch)}/archive",
        _bytes,
        params=query(merge="true" if merge else None),
        binary=True,
    )
