"""A template's JSON Schema (draft 2020-12) and the data checked against it.

A schema may refer only to its own parts (`$ref` starting with `#`): no reference is ever
fetched, so checking data makes no network request. Sizes and depth are capped before the
schema is looked at; every bad field of the data is listed (up to `MAX_DATA_ERRORS`), each
named by its JSON pointer under `data/`."""

from __future__ import annotations

import functools
import json
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable

from pdfprompt.domain import DataInvalidError, InvalidInputError, PayloadTooLargeError

MAX_SCHEMA_BYTES = 65_536
MAX_SCHEMA_DEPTH = 32
MAX_DATA_BYTES = 262_144
MAX_DATA_ERRORS = 100
_MAX_PATTERN_CHARS = 1000


def json_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _depth(value: Any, limit: int) -> int:
    """How deeply `value` nests (stops counting past `limit`)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > limit:
            return depth
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _refs(schema: Any) -> list[str]:
    found, stack = [], [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key in {"$ref", "$dynamicRef"} and isinstance(value, str):
                    found.append(value)
                elif key in {"pattern"} and isinstance(value, str):
                    if len(value) > _MAX_PATTERN_CHARS:
                        raise InvalidInputError(
                            f"schema: a pattern of more than {_MAX_PATTERN_CHARS} characters",
                            field="schema",
                        )
                else:
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _no_fetching(uri: str) -> Resource[Any]:
    raise Unresolvable(uri)


def check_schema(schema: Any, field: str = "schema") -> dict[str, Any]:
    """`schema` as a usable draft 2020-12 JSON Schema, or `InvalidInputError` on `field`."""
    if not isinstance(schema, dict):
        raise InvalidInputError(f"{field}: a JSON Schema is an object", field=field)
    if json_size(schema) > MAX_SCHEMA_BYTES:
        raise PayloadTooLargeError(
            f"{field}: over the limit of {MAX_SCHEMA_BYTES} bytes", field=field
        )
    if _depth(schema, MAX_SCHEMA_DEPTH) > MAX_SCHEMA_DEPTH:
        raise InvalidInputError(
            f"{field}: nested more than {MAX_SCHEMA_DEPTH} levels deep", field=field
        )
    schema_id = schema.get("$id")
    if schema_id is not None:
        raise InvalidInputError(f"{field}: $id is not allowed (refer with #/…)", field=field)
    for ref in _refs(schema):
        if not ref.startswith("#"):
            raise InvalidInputError(
                f"{field}: $ref {ref[:100]!r} is not allowed: only references within the "
                "schema (#/…) are",
                field=field,
            )
    declared = schema.get("$schema")
    if declared is not None and declared != "https://json-schema.org/draft/2020-12/schema":
        raise InvalidInputError(
            f"{field}: $schema must be draft 2020-12 "
            "(https://json-schema.org/draft/2020-12/schema) or left out",
            field=field,
        )
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        raise InvalidInputError(
            f"{field}: {exc.message[:300]}" + (f" (at {where})" if where else ""), field=field
        ) from None
    return schema


@functools.lru_cache(maxsize=64)
def _validator(schema_text: str) -> Draft202012Validator:
    """One validator per schema (a batch checks thousands of rows against the same one)."""
    registry: Registry[Any] = Registry(retrieve=_no_fetching)  # type: ignore[call-arg]
    return Draft202012Validator(json.loads(schema_text), registry=registry)


# Keywords whose meaning the two validators could read differently (a regular expression's
# dialect): a schema with one of them is checked by `jsonschema` alone.
_SLOW_PATH_KEYWORDS = frozenset({"pattern", "patternProperties"})


def _keywords(schema: Any) -> set[str]:
    found: set[str] = set()
    stack = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.update(k for k in item if isinstance(k, str))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _refuse_fetching(uri: str) -> Any:
    raise ValueError(f"{uri[:100]}: only references within the schema are allowed")


@functools.lru_cache(maxsize=64)
def _quick_validator(schema_text: str) -> Any | None:
    """A compiled (Rust) validator that says only whether data fits: about a hundred times
    faster than `jsonschema` for a batch's rows, which are nearly all valid; `jsonschema`
    then lists the errors of the rest, so every message stays its. None when the schema
    uses a keyword the two could read differently, or the quick one cannot compile it."""
    schema = json.loads(schema_text)
    if _keywords(schema) & _SLOW_PATH_KEYWORDS:
        return None
    try:
        return jsonschema_rs.Draft202012Validator(
            schema, validate_formats=False, retriever=_refuse_fetching
        )
    except Exception:
        return None


def data_errors(
    schema: dict[str, Any] | None, data: Any, prefix: str = "data"
) -> tuple[list[dict[str, str]], int]:
    """Every field of `data` that does not fit `schema`: up to `MAX_DATA_ERRORS` of
    `{"field": "data/items/0/price", "message"}` (the JSON pointer under `prefix`), and
    how many there are in all."""
    if schema is None:
        return [], 0
    text = json.dumps(schema, sort_keys=True)
    quick = _quick_validator(text)
    if quick is not None:
        try:
            if quick.is_valid(data):
                return [], 0
        except Exception:  # data it cannot take (a number too large): the full check decides
            pass
    validator = _validator(text)
    listed: list[dict[str, str]] = []
    total = 0
    try:
        for error in validator.iter_errors(data):
            total += 1
            if len(listed) < MAX_DATA_ERRORS:
                pointer = "/".join(
                    str(p).replace("~", "~0").replace("/", "~1") for p in error.absolute_path
                )
                listed.append(
                    {
                        "field": f"{prefix}/{pointer}" if pointer else prefix,
                        "message": error.message[:300],
                    }
                )
            if total >= 10 * MAX_DATA_ERRORS:
                break
    except (Unresolvable, RecursionError) as exc:
        listed.append({"field": prefix, "message": f"the schema cannot be used: {exc}"[:300]})
        total += 1
    listed.sort(key=lambda e: e["field"])
    return listed, total


def check_data(schema: dict[str, Any] | None, data: Any, field: str = "data") -> None:
    """`InvalidInputError` listing every bad field of `data` (its `errors`), or nothing."""
    if json_size(data) > MAX_DATA_BYTES:
        raise PayloadTooLargeError(
            f"{field}: over the limit of {MAX_DATA_BYTES} bytes", field=field
        )
    errors, total = data_errors(schema, data, field)
    if errors:
        more = f" ({total} in all; the first {len(errors)} listed)" if total > len(errors) else ""
        raise DataInvalidError(
            f"{field}: {total} field(s) do not fit the template's schema{more}; first: "
            f"{errors[0]['field']}: {errors[0]['message']}",
            field=errors[0]["field"],
            errors=errors,
            total=total,
        )
