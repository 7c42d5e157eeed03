"""Request bodies, read as a hostile client may send them.

A body is read only after the caller is authenticated (an unauthenticated request costs a
key lookup, never its body), as a stream that stops at the route's limit (`413
payload_too_large` as soon as it is passed), then parsed with limits of its own: nesting
depth, digits in a number, no `NaN`/`Infinity`, no NUL character in any string or key (a
database cannot keep one). Every refusal is a 4xx problem naming the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from pdfprompt.accounts import Principal
from pdfprompt.actions import NUMERIC_CURSOR
from pdfprompt.api.auth import authenticated
from pdfprompt.api.services import services
from pdfprompt.domain import InvalidInputError, MalformedBodyError, PayloadTooLargeError
from pdfprompt.wiring import Services

M = TypeVar("M", bound=BaseModel)

# A JSON body of a route that takes no document: a key, a webhook, a share.
SMALL_BODY_BYTES = 64 * 1024
MAX_DEPTH = 32
MAX_NUMBER_CHARS = 40
_INTEGER = re.compile(NUMERIC_CURSOR)
_SURROGATE = re.compile("[\ud800-\udfff]")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing anything over `limit` bytes before reading it all: a
    declared length at once, a streamed one as soon as it passes."""
    declared = request.headers.get("content-length")
    if declared is not None and (not _INTEGER.match(declared) or int(declared) > limit):
        raise PayloadTooLargeError(f"body: over the limit of {limit} bytes", field="body")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise PayloadTooLargeError(f"body: over the limit of {limit} bytes", field="body")
    return bytes(body)


def _number(text: str) -> Any:
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError(f"a number of {len(text)} characters (at most {MAX_NUMBER_CHARS})")
    return float(text) if any(c in text for c in ".eE") else int(text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes) -> Any:
    """The JSON value of a body; `MalformedBodyError` (400) for anything that is not plain
    JSON within the limits, `InvalidInputError` (422) naming the field that holds a NUL."""
    try:
        value = json.loads(
            raw.decode("utf-8"),
            parse_int=_number,
            parse_float=_number,
            parse_constant=_no_constant,
        )
    except UnicodeDecodeError as exc:
        raise MalformedBodyError(f"body: not UTF-8 ({exc.reason})", field="body") from None
    except RecursionError:
        raise MalformedBodyError(
            f"body: nested deeper than {MAX_DEPTH} levels", field="body"
        ) from None
    except ValueError as exc:  # JSONDecodeError included
        raise MalformedBodyError(f"body: malformed JSON ({exc})", field="body") from None
    _check_values(value)
    return value


def _check_values(value: Any) -> None:
    """Walk the parsed value (iteratively: depth is what is being checked) for nesting past
    `MAX_DEPTH` and NUL characters."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if len(path) > MAX_DEPTH:
            raise MalformedBodyError(f"body: nested deeper than {MAX_DEPTH} levels", field="body")
        if isinstance(item, str):
            _check_text(item, path)
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_text(key, path)
                stack.append((child, (*path, key)))
        elif isinstance(item, list):
            stack.extend((child, (*path, str(n))) for n, child in enumerate(item))


def _check_text(text: str, path: tuple[str, ...]) -> None:
    problem = (
        "a NUL character"
        if "\0" in text
        else "a lone surrogate (not Unicode text)"
        if _SURROGATE.search(text)
        else None
    )
    if problem is not None:
        where = ".".join(path) or "body"
        raise InvalidInputError(f"{where}: contains {problem}", field=where)


def validated(model: type[M], data: Any) -> M:
    """`data` as `model`; a `RequestValidationError` (422 naming the field) otherwise."""
    if not isinstance(data, dict):
        raise InvalidInputError("body: must be a JSON object", field="body")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


Limit = int | Callable[[Services, Principal], int]


def json_body(model: type[M], limit: Limit = SMALL_BODY_BYTES) -> Any:
    """A route parameter: the body as `model`, read after the caller is authenticated, within
    `limit` bytes (a number, or one computed from the services and the caller). The OpenAPI
    document describes it as the route's request body (`api/openapi.py`)."""

    async def read(
        request: Request,
        caller: Annotated[Principal, Depends(authenticated)],
        svc: Annotated[Services, Depends(services)],
    ) -> M:
        most = limit(svc, caller) if callable(limit) else limit
        return validated(model, parse_json(await read_body(request, most)))

    read.__pdfprompt_body__ = model  # type: ignore[attr-defined]
    return Depends(read)
