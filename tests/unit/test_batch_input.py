"""A batch's rows from uploaded files (CSV, JSON Lines) and the names of its PDFs in the
archive: pure functions, fed hostile input."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pdfprompt.domain import (
    BatchRowsError,
    InputLimits,
    InvalidInputError,
    PayloadTooLargeError,
    archive_names,
    check_filename_pattern,
    parse_csv,
    parse_jsonl,
)

LIMITS = InputLimits(max_bytes=64 * 1024, max_rows=5, max_columns=4, max_cell_chars=50)
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "number": {"type": "integer"},
        "price": {"type": "number"},
        "paid": {"type": "boolean"},
        "note": {"type": ["string", "null"]},
        "customer": {"type": "object", "properties": {"name": {"type": "string"}}},
    },
}


def _rows_error(call: Any) -> BatchRowsError:
    with pytest.raises(BatchRowsError) as caught:
        call()
    return caught.value


def test_csv_cells_take_the_schemas_types_and_dotted_columns_nest() -> None:
    data = (
        '\ufeffnumber,price,paid,customer.name\r\n7,12.50,yes,"Ann, ""Jr"""\r\n\r\n8,-3,false,Bob\n'
    )
    rows = parse_csv(data.encode(), SCHEMA, LIMITS)
    assert rows == [
        {"number": 7, "price": 12.5, "paid": True, "customer": {"name": 'Ann, "Jr"'}},
        {"number": 8, "price": -3, "paid": False, "customer": {"name": "Bob"}},
    ]


def test_csv_without_a_schema_keeps_text_and_empty_cells() -> None:
    rows = parse_csv(b"a,b\n1,\n", None, LIMITS)
    assert rows == [{"a": "1", "b": ""}]


def test_an_empty_cell_of_a_typed_column_is_left_out() -> None:
    assert parse_csv(b"number,note\n,\n", SCHEMA, LIMITS) == [{"note": ""}]


@pytest.mark.parametrize(
    ("cell", "field"),
    [
        ("seven", "number"),
        ("1.5", "number"),
        ("nan", "price"),
        ("1e999", "price"),
        ("maybe", "paid"),
    ],
)
def test_a_cell_that_is_not_its_type_is_listed_by_row_and_pointer(cell: str, field: str) -> None:
    data = f"number,price,paid\n1,2,true\n{'1' if field != 'number' else cell},"
    data += f"{cell if field == 'price' else '2'},{cell if field == 'paid' else 'true'}\n"
    error = _rows_error(lambda: parse_csv(data.encode(), SCHEMA, LIMITS))
    assert error.errors[0]["row"] == 1
    assert error.errors[0]["field"] == f"items/1/{field}"


def test_every_bad_row_is_listed() -> None:
    data = b"number\nx\n1\ny\n"
    error = _rows_error(lambda: parse_csv(data, SCHEMA, LIMITS))
    assert [e["row"] for e in error.errors] == [0, 2] and error.total == 2


def test_a_row_with_the_wrong_number_of_cells_is_refused() -> None:
    error = _rows_error(lambda: parse_csv(b"a,b\n1\n1,2,3\n", None, LIMITS))
    assert [(e["row"], e["field"]) for e in error.errors] == [(0, "items/0"), (1, "items/1")]


@pytest.mark.parametrize(
    "data",
    [
        b"",  # no header
        b"\n\n",
        b"a,a\n1,2\n",  # a repeated column
        b"a,a.b\n1,2\n",  # text and object at once
        b"a.b,a\n1,2\n",
        b",b\n1,2\n",  # a column without a name
        b"a,.b\n1,2\n",
        b"a,b..c\n1,2\n",
        b"a,b,c,d,e\n1,2,3,4,5\n",  # too many columns
        b'a\n"unclosed\n',  # broken quoting
        b"a\n\xff\xfe\n",  # not UTF-8
        b"a\nx\x00y\n",  # a NUL
    ],
)
def test_a_file_that_is_not_a_usable_csv_is_refused_whole(data: bytes) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_csv(data, None, LIMITS)
    assert not isinstance(caught.value, BatchRowsError)
    assert caught.value.field == "file"


def test_rows_and_bytes_are_capped() -> None:
    assert len(parse_csv(b"a\n" + b"1\n" * 5, None, LIMITS)) == 5  # the cap itself
    with pytest.raises(InvalidInputError, match="more than 5 rows"):
        parse_csv(b"a\n" + b"1\n" * 6, None, LIMITS)
    with pytest.raises(PayloadTooLargeError):
        parse_csv(b"a\n" + b"x" * LIMITS.max_bytes, None, LIMITS)


def test_a_long_cell_is_refused_by_row() -> None:
    assert parse_csv(b"a\n" + b"x" * 50 + b"\n", None, LIMITS) == [{"a": "x" * 50}]
    error = _rows_error(lambda: parse_csv(b"a\n" + b"x" * 51 + b"\n", None, LIMITS))
    assert error.errors[0]["field"] == "items/0/a"


def test_hostile_cells_stay_text() -> None:
    cells = ["{{7*7}}", "=cmd|' /C calc'!A0", "</style><script>", "{% include 'x' %}"]
    data = "note\n" + "\n".join(json.dumps(c) for c in cells) + "\n"
    rows = parse_csv(data.encode(), SCHEMA, InputLimits(max_rows=10))
    assert [r["note"] for r in rows] == cells


def test_json_lines_give_one_object_per_line() -> None:
    data = b'\xef\xbb\xbf{"a": 1}\r\n\r\n{"b": {"c": [1, 2]}}\n'
    assert parse_jsonl(data, LIMITS) == [{"a": 1}, {"b": {"c": [1, 2]}}]


def test_json_lines_list_every_bad_line() -> None:
    data = b'{"a": 1}\n[1]\nnot json\n{"a": NaN}\n{"a": "x\\u0000"}\n'
    error = _rows_error(lambda: parse_jsonl(data, LIMITS))
    assert [e["row"] for e in error.errors] == [1, 2, 3, 4]
    deep = b'{"a": ' * 40 + b"1" + b"}" * 40 + b"\n"
    assert _rows_error(lambda: parse_jsonl(deep, LIMITS)).errors[0]["row"] == 0
    with pytest.raises(InvalidInputError, match="more than 5 rows"):
        parse_jsonl(b"{}\n" * 6, LIMITS)
    with pytest.raises(InvalidInputError, match="no rows"):
        parse_jsonl(b"\n \n", LIMITS)


def test_archive_names_are_plain_safe_and_unique() -> None:
    rows = [
        (0, {"n": "../../etc/passwd"}),
        (1, {"n": "same"}),
        (2, {"n": "SAME"}),
        (3, {"n": ".."}),
        (4, {"n": "a\x00b\x1fc\\d:e"}),
        (5, {"n": "x" * 500}),
        (6, {"n": {"nested": "dict"}}),
        (7, {}),
    ]
    names = archive_names("{n}.pdf", rows)
    assert names[0] == "etc_passwd.pdf"
    assert names[1:3] == ["same.pdf", "SAME-2.pdf"]
    assert names[3] == "3.pdf"
    assert names[4] == "a_b_c_d_e.pdf"
    assert len(names[5]) == 124
    assert names[6:] == ["6.pdf", "7.pdf"]
    for name in names:
        assert "/" not in name and "\\" not in name and ".." not in name


def test_a_pattern_reads_keys_never_attributes() -> None:
    fields = {"customer": {"name": "Ann"}, "n": 3, "ok": True}
    names = archive_names(
        "{__class__}{row}-{customer.name}-{n}-{ok}-{customer.__dict__}{0}{n!r}{n:>9}.pdf",
        [(4, fields)],
    )
    assert names == ["4-Ann-3-true-{n!r}{n_9}.pdf"]


@pytest.mark.parametrize("pattern", ["", "  ", "a\nb", "x" * 201])
def test_a_bad_pattern_is_refused(pattern: str) -> None:
    with pytest.raises(InvalidInputError):
        check_filename_pattern(pattern)
