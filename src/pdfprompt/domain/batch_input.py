"""A batch's rows from an uploaded file: CSV with a header row, or JSON Lines. Pure
functions over bytes already read within their cap; every refusal names the row (from 0,
the header not counted) and the field as a JSON pointer under `items/<row>`.

CSV cells are text; a column is converted to the type its property has in the template's
JSON schema (`integer`, `number`, `boolean`; `string` and anything unknown stay text), and a
dotted column name (`customer.name`) builds nested objects. An empty cell leaves its field
out (a required field then fails the schema), except for a text-only property, where it is
the empty string.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pdfprompt.domain.batches import BatchRowsError, RowError
from pdfprompt.domain.errors import InvalidInputError, PayloadTooLargeError

_INTEGER = re.compile(r"^[+-]?[0-9]{1,18}$")
_NUMBER = re.compile(r"^[+-]?([0-9]{1,30}(\.[0-9]{0,30})?|\.[0-9]{1,30})([eE][+-]?[0-9]{1,3})?$")
_TRUE = frozenset({"true", "1", "yes", "y", "on"})
_FALSE = frozenset({"false", "0", "no", "n", "off"})
_COLUMN = re.compile(r"^[^.\s][^.]*(\.[^.]+)*$")
MAX_JSON_DEPTH = 32


@dataclass(frozen=True, slots=True)
class InputLimits:
    """Caps on an uploaded batch file, checked before (bytes) and while (the rest) it is
    parsed."""

    max_bytes: int = 32 * 1024 * 1024
    max_rows: int = 10_000
    max_columns: int = 200
    max_cell_chars: int = 32 * 1024
    max_line_bytes: int = 1024 * 1024  # one JSON Lines row


def _text(data: bytes, limits: InputLimits) -> str:
    if len(data) > limits.max_bytes:
        raise PayloadTooLargeError(
            f"file: {len(data)} bytes is over the limit of {limits.max_bytes} bytes",
            field="file",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"file: not UTF-8 text (byte {exc.start})", field="file") from None
    if "\0" in text:
        raise InvalidInputError("file: contains a NUL character", field="file")
    return text


def _types(schema: Mapping[str, Any] | None, path: list[str]) -> set[str]:
    """The JSON types the schema gives the property at `path` (empty: unknown)."""
    node: Any = schema
    for part in path:
        if not isinstance(node, Mapping):
            return set()
        props = node.get("properties")
        if not isinstance(props, Mapping) or not isinstance(props.get(part), Mapping):
            return set()
        node = props[part]
    kind = node.get("type") if isinstance(node, Mapping) else None
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return {k for k in kind if isinstance(k, str)}
    return set()


def _convert(cell: str, types: set[str]) -> Any:
    """`cell` as the schema's type for it; ValueError saying what was expected."""
    value = cell.strip()
    if "integer" in types and _INTEGER.match(value):
        return int(value)
    if "number" in types and _NUMBER.match(value):
        number = float(value)
        if math.isfinite(number):
            return int(number) if _INTEGER.match(value) else number
    if "boolean" in types and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    if not types or types & {"string"} or types <= {"null", "object", "array"}:
        return cell
    wanted = " or ".join(sorted(types & {"integer", "number", "boolean"}))
    raise ValueError(f"{cell[:40]!r} is not {wanted}")


def _header(first: list[str], limits: InputLimits) -> list[list[str]]:
    if len(first) > limits.max_columns:
        raise InvalidInputError(
            f"file: {len(first)} columns; the limit is {limits.max_columns}", field="file"
        )
    paths: list[list[str]] = []
    seen: set[tuple[str, ...]] = set()
    for n, raw in enumerate(first):
        name = raw.strip()
        if not name or len(name) > 200 or not _COLUMN.match(name):
            raise InvalidInputError(
                f"file: column {n + 1} has no usable name ({raw[:40]!r})", field="file"
            )
        path = name.split(".")
        key = tuple(path)
        # `a` and `a.b` cannot both be given: `a` would be text and an object at once.
        clash = key in seen or any(key[: len(o)] == o or o[: len(key)] == key for o in seen)
        if clash:
            raise InvalidInputError(
                f"file: column {name!r} repeats or overlaps another", field="file"
            )
        seen.add(key)
        paths.append(path)
    return paths


def _pointer(path: list[str]) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in path)


def parse_csv(
    data: bytes, schema: Mapping[str, Any] | None, limits: InputLimits
) -> list[dict[str, Any]]:
    """The rows of a CSV file with a header row, as objects; `BatchRowsError` listing every
    bad cell, `InvalidInputError` / `PayloadTooLargeError` for the file as a whole."""
    text = _text(data, limits)
    csv.field_size_limit(max(csv.field_size_limit(), limits.max_cell_chars + 1))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    items: list[dict[str, Any]] = []
    errors: list[RowError] = []
    paths: list[list[str]] | None = None
    types: list[set[str]] = []
    try:
        for cells in reader:
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue  # an empty line
            if paths is None:
                paths = _header(cells, limits)
                types = [_types(schema, p) for p in paths]
                continue
            row = len(items)
            if row >= limits.max_rows:
                raise InvalidInputError(f"file: more than {limits.max_rows} rows", field="file")
            item: dict[str, Any] = {}
            items.append(item)
            if len(cells) != len(paths):
                errors.append(
                    RowError(
                        row, f"items/{row}", f"{len(cells)} cells; the header has {len(paths)}"
                    )
                )
                continue
            for path, kinds, cell in zip(paths, types, cells, strict=True):
                where = f"items/{row}/{_pointer(path)}"
                if len(cell) > limits.max_cell_chars:
                    errors.append(
                        RowError(
                            row,
                            where,
                            f"{len(cell)} characters; the limit is {limits.max_cell_chars}",
                        )
                    )
                    continue
                if cell == "" and not (not kinds or kinds & {"string"}):
                    continue
                try:
                    value = _convert(cell, kinds)
                except ValueError as exc:
                    errors.append(RowError(row, where, str(exc)))
                    continue
                node = item
                for part in path[:-1]:
                    node = node.setdefault(part, {})
                node[path[-1]] = value
    except csv.Error as exc:
        raise InvalidInputError(
            f"file: not CSV at line {reader.line_num} ({exc})", field="file"
        ) from None
    if paths is None:
        raise InvalidInputError("file: no header row", field="file")
    if errors:
        raise BatchRowsError(errors)
    return items


def _check_json(value: Any, where: str) -> None:
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(item, str) and "\0" in item:
            raise ValueError("contains a NUL character")
        if isinstance(item, dict):
            for key, child in item.items():
                if "\0" in key:
                    raise ValueError("contains a NUL character")
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_jsonl(data: bytes, limits: InputLimits) -> list[dict[str, Any]]:
    """The rows of a JSON Lines file (one object per non-empty line)."""
    text = _text(data, limits)
    items: list[dict[str, Any]] = []
    errors: list[RowError] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        row = len(items)
        if row >= limits.max_rows:
            raise InvalidInputError(f"file: more than {limits.max_rows} rows", field="file")
        items.append({})
        if len(line.encode("utf-8")) > limits.max_line_bytes:
            errors.append(
                RowError(row, f"items/{row}", f"a line over {limits.max_line_bytes} bytes")
            )
            continue
        try:
            value = json.loads(line, parse_constant=_no_constant)
            _check_json(value, f"items/{row}")
        except RecursionError:
            errors.append(RowError(row, f"items/{row}", "nested too deep"))
            continue
        except ValueError as exc:
            errors.append(RowError(row, f"items/{row}", f"not JSON ({exc})"[:200]))
            continue
        if not isinstance(value, dict):
            errors.append(RowError(row, f"items/{row}", "must be a JSON object"))
            continue
        items[row] = value
    if not items and not errors:
        raise InvalidInputError("file: no rows", field="file")
    if errors:
        raise BatchRowsError(errors)
    return items
