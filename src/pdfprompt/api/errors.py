"""Errors → RFC 9457 problem+json. The only place that maps errors to HTTP."""

from __future__ import annotations

import functools
import logging
import math
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException

from pdfprompt.actions import STATUS_BY_CODE, TITLES
from pdfprompt.api.logs import redact
from pdfprompt.db import DRIVER_ERRORS, is_unavailable
from pdfprompt.domain import (
    DataInvalidError,
    MalformedBodyError,
    PdfPromptError,
    QuotaExceededError,
)

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
TYPE_BASE = "/problems/"


def problem(
    code: str,
    detail: str,
    *,
    status: int | None = None,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    status = status or STATUS_BY_CODE.get(code, 500)
    body: dict[str, Any] = {
        "type": TYPE_BASE + code,
        "title": TITLES.get(code, code.replace("_", " ").capitalize()),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if field:
        body["field"] = field
    body.update(extra)
    all_headers = dict(headers or {})
    if status == 401:
        all_headers.setdefault("WWW-Authenticate", "Bearer")
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=all_headers)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


def validation_problem(errors: list[Any]) -> JSONResponse:
    first = errors[0]
    field = _field(tuple(first.get("loc", ())))
    message = first.get("msg", "invalid value")
    if first.get("type") == "extra_forbidden":
        message = "unknown field"
    elif first.get("type") == "string_pattern_mismatch":
        message = f"must match {first.get('ctx', {}).get('pattern', 'its pattern')}"
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return problem("invalid_input", f"{field}: {message}{more}", field=field)


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods the app's routes answer at `path`."""
    methods: set[str] = set()
    exact: set[str] = set()  # of routes whose path is this path, letter for letter
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        template = context.path_format
        if isinstance(route, APIRoute) and template and _template(template).match(path):
            methods |= route.methods or set()
            if template == path:
                exact |= route.methods or set()
    # `/v1/templates/generate` is its own resource, not a template named "generate".
    return sorted(exact or methods)


@functools.cache
def _template(path_format: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path_format)) + "$")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PdfPromptError)
    async def _domain_error(request: Request, exc: PdfPromptError) -> JSONResponse:
        code = exc.code if exc.code in STATUS_BY_CODE else "internal"
        if code == "internal":
            log.error("unmapped error %s: %s", type(exc).__name__, exc.message)
        headers: dict[str, str] = {}
        extra: dict[str, Any] = {}
        retry_after_s = getattr(exc, "retry_after_s", None)
        if retry_after_s is not None:
            headers["Retry-After"] = str(max(1, math.ceil(retry_after_s)))
        if isinstance(exc, QuotaExceededError):
            extra["reset_at"] = exc.reset_at
        if isinstance(exc, DataInvalidError):  # every bad field: a template's data, a batch's rows
            extra["errors"], extra["errors_total"] = exc.errors, exc.total
        status = 400 if isinstance(exc, MalformedBodyError) else None
        return problem(code, exc.message, status=status, field=exc.field, headers=headers, **extra)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_problem(list(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(
            exc.status_code, "invalid_input"
        )
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method of the path, not of the first route matched
            headers["Allow"] = ", ".join(allowed_methods(app, request.url.path))
        return problem(code, str(exc.detail), status=exc.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if is_unavailable(exc):
            log.warning(
                "database unavailable on %s %s: %s", request.method, redact(request.url.path), exc
            )
            return problem(
                "unavailable",
                "the database is unavailable; retry shortly",
                headers={"Retry-After": "1"},
            )
        log.exception("unhandled error on %s %s", request.method, redact(request.url.path))
        return problem("internal", "an unexpected error occurred", status=500)

    # The database's errors get handlers of their own: a handler of `Exception` answers
    # from the outermost middleware, which raises the error again after the answer (the
    # server then logs a traceback and drops the client's kept-alive connection), while
    # these answer where every other error is answered.
    for error_class in DRIVER_ERRORS:
        app.add_exception_handler(error_class, _unexpected)
