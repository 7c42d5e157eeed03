"""The OpenAPI document describes the API as it answers: every request body (read by
`api/body.py`, which FastAPI does not see), every problem status a route can give with the
problem+json schema, the PDF and event-stream content types, and links between operations
(a job's id from its submission to its reads) for clients and stateful testers."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel

from pdfprompt.actions import STATUS_BY_CODE

PROBLEM = "application/problem+json"
_REF = "#/components/schemas/{model}"
_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details; `code` is stable, `field` names a bad field.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "enum": [*STATUS_BY_CODE, "method_not_allowed"]},
        "field": {"type": "string"},
        "reset_at": {"type": "string"},
        "checks": {"type": "object"},
    },
}
_DESCRIPTIONS = {
    400: "Malformed body: not JSON, not UTF-8, nested too deeply or a number too long",
    401: "Missing, unknown, revoked or expired API key",
    403: "The key lacks the route's scope",
    404: "No such resource (or another user's)",
    405: "Method not allowed",
    409: "The resource is in a state that does not allow this",
    410: "Gone: expired, revoked or used up",
    413: "The body (or the document input) is over its limit",
    422: "A field is invalid; `field` names it",
    429: "Rate limited or quota exceeded; see `Retry-After`",
    503: "The database is unavailable; retry shortly",
}
_RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route's problem answers beyond those every route has."""
    return {status: _problem_response(status) for status in statuses}


def _problem_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _DESCRIPTIONS.get(status, "Problem"),
        "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if status in (429, 503):
        response["headers"] = _RETRY_AFTER
    return response


def binary(media_type: str, description: str) -> dict[str, Any]:
    """A response whose content is not JSON (the PDF, an event stream, metrics text)."""
    return {
        "description": description,
        "content": {media_type: {"schema": {"type": "string", "format": "binary"}}},
    }


def _body_model(route: APIRoute) -> type[BaseModel] | None:
    """The model a route reads with `json_body`, found among its dependencies."""
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        model = getattr(dependency.call, "__pdfprompt_body__", None)
        if model is not None:
            return model  # type: ignore[no-any-return]
        pending.extend(dependency.dependencies)
    return None


def _statuses(path: str, has_body: bool) -> set[int]:
    """The problem statuses every route of its kind can answer."""
    found = {405}
    if path.startswith("/v1/"):
        found |= {401, 403, 422, 429, 503}
    if path.startswith("/s/"):
        found |= {429, 503}
    if "{" in path:
        found.add(404)
    if has_body:
        found |= {400, 413, 422}
    return found


# Where an operation's answer leads: (operation, status) -> {link name: (operation, params)}.
_JOB = {"job_id": "$response.body#/id"}
_LINKS: dict[tuple[str, str], dict[str, tuple[str, dict[str, str]]]] = {
    ("create_job", "202"): {
        "GetJob": ("get_job", _JOB),
        "JobEvents": ("job_events", _JOB),
        "CancelJob": ("cancel_job", _JOB),
        "ReviseJob": ("revise_job", _JOB),
        "DeleteJob": ("delete_job", _JOB),
        "JobPdf": ("get_job_pdf", _JOB),
    },
    ("create_webhook", "201"): {
        "GetWebhook": ("get_webhook", {"webhook_id": "$response.body#/id"}),
        "UpdateWebhook": ("update_webhook", {"webhook_id": "$response.body#/id"}),
        "WebhookDeliveries": ("list_deliveries", {"webhook_id": "$response.body#/id"}),
        "DeleteWebhook": ("delete_webhook", {"webhook_id": "$response.body#/id"}),
    },
    ("get_job", "200"): {
        link: (target, {"file_id": "$response.body#/file/id"})
        for link, target in (
            ("GetFile", "get_file"),
            ("FileContent", "get_file_content"),
            ("CreateShare", "create_share"),
            ("FileShares", "list_shares"),
        )
    },
    ("list_deliveries", "200"): {
        "RetryDelivery": (
            "retry_delivery",
            {"webhook_id": "$request.path.webhook_id", "delivery_id": "$response.body#/items/0/id"},
        ),
    },
    ("create_key", "201"): {
        "RevokeKey": ("revoke_key", {"key_id": "$response.body#/id"}),
    },
    ("create_share", "201"): {
        "RevokeShare": ("revoke_share", {"share_id": "$response.body#/id"}),
    },
}


def _routes(app: FastAPI) -> list[tuple[str, APIRoute]]:
    """Every API route with the path it is served at (routers included in the app)."""
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.include_in_schema and context.path_format:
            found.append((context.path_format, route))
    return found


def install_openapi(app: FastAPI) -> None:
    """Replace the app's OpenAPI document builder with one that adds what FastAPI cannot
    see (above)."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = _PROBLEM_SCHEMA
        routes = _routes(app)
        operation_ids = {
            route.name: document["paths"][path][method.lower()]["operationId"]
            for path, route in routes
            for method in route.methods or ()
        }
        for path, route in routes:
            model = _body_model(route)
            for method in route.methods or ():
                operation = document["paths"][path][method.lower()]
                if model is not None:
                    schema = model.model_json_schema(ref_template=_REF)
                    schemas.update(schema.pop("$defs", {}))
                    schemas[model.__name__] = schema
                    reference = {"$ref": _REF.format(model=model.__name__)}
                    operation["requestBody"] = {
                        "required": True,
                        "content": {"application/json": {"schema": reference}},
                    }
                responses = operation.setdefault("responses", {})
                # FastAPI's own 422 (HTTPValidationError) is not what this API answers.
                responses.pop("422", None)
                for status in sorted(_statuses(path, model is not None)):
                    responses.setdefault(str(status), _problem_response(status))
                for (name, answer), links in _LINKS.items():
                    if route.name == name and answer in responses:
                        responses[answer]["links"] = {
                            link: {"operationId": operation_ids[target], "parameters": params}
                            for link, (target, params) in links.items()
                        }
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = document
        return document

    app.openapi = build  # type: ignore[method-assign]
