"""What a log line is about, kept in a context variable so that every line written while a
job runs (or a request is answered) carries it, whichever library writes the line: the job,
its owner, the attempt, the stage and the worker running it, and the request that asked for
it. Context variables follow a coroutine into the tasks and threads it starts, and a job runs
in a task of its own, so what one job sets never shows on another's lines."""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from types import MappingProxyType

# The fields a log line may carry about its job or request, in the order they are written.
LOG_FIELDS = ("request_id", "job_id", "user_id", "worker_id", "attempt", "stage")
REQUEST_ID_MAX = 128
# Letters, digits and the few marks request ids are made of (UUIDs, ULIDs, trace ids); no
# space, quote or control character, so a log line or a header cannot be broken by one.
_REQUEST_ID = re.compile(rf"[A-Za-z0-9._:@/+=-]{{1,{REQUEST_ID_MAX}}}")

_EMPTY: Mapping[str, object] = MappingProxyType({})
_FIELDS: ContextVar[Mapping[str, object]] = ContextVar("pdfprompt_log_fields", default=_EMPTY)


def log_fields() -> Mapping[str, object]:
    """The fields of the current context (none outside a job or a request)."""
    return _FIELDS.get()


@contextlib.contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Add `fields` (those not None) to the lines written inside the block."""
    token = _FIELDS.set(_merged(fields))
    try:
        yield
    finally:
        _FIELDS.reset(token)


def set_log_stage(stage: str) -> None:
    """The stage the current job has reached, for the rest of its task (a job runs in a task
    of its own, so the change stays within it)."""
    if _FIELDS.get().get("stage") != stage:
        _FIELDS.set(_merged({"stage": stage}))


def current_request_id() -> str | None:
    """The id of the request being answered, if any: kept with the jobs it submits."""
    value = _FIELDS.get().get("request_id")
    return value if isinstance(value, str) else None


def request_id_from(header: str | None) -> str:
    """The request id a client sent when it is a safe one (at most `REQUEST_ID_MAX` of
    letters, digits and `._:@/+=-`), else a new one."""
    if header is not None and _REQUEST_ID.fullmatch(header):
        return header
    return secrets.token_hex(16)


def _merged(fields: Mapping[str, object]) -> Mapping[str, object]:
    current = dict(_FIELDS.get())
    current.update((k, v) for k, v in fields.items() if v is not None)
    return MappingProxyType(current)
