"""The JSON log lines: each one object with its time, level, logger and message, the job's or
request's fields from the context (kept apart between concurrent jobs), and exceptions; the
request ids a client may choose."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime

import pytest

from pdfprompt.cli.logs import TEXT_FORMAT, JsonFormatter, formatter
from pdfprompt.domain import (
    REQUEST_ID_MAX,
    current_request_id,
    log_context,
    log_fields,
    request_id_from,
    set_log_stage,
)


@pytest.fixture
def lines() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("pdfprompt.test.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, out
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


def parsed(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_line_is_one_json_object_with_utc_time(lines: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = lines
    logger.warning("quota of %s at %d%%\nsecond line \u00e9", "u1", 80)
    (line,) = parsed(out)
    assert line["level"] == "warning"
    assert line["logger"] == "pdfprompt.test.logs"
    assert line["message"] == "quota of u1 at 80%\nsecond line \u00e9"
    time = datetime.fromisoformat(str(line["time"]))
    assert time.utcoffset() is not None and time.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert not any(k in line for k in ("job_id", "request_id", "exc"))


def test_the_context_fields_and_the_stage(lines: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = lines
    with log_context(job_id="j1", user_id="u1", worker_id="w1", attempt=2, stage="generate"):
        logger.info("start")
        set_log_stage("render")
        logger.info("rendering")
    logger.info("outside")
    first, second, outside = parsed(out)
    same = {"stage": "render", "message": "start", "time": ""}
    assert first | same == second | same  # two lines, maybe a millisecond apart
    assert (first["job_id"], first["user_id"], first["worker_id"], first["attempt"]) == (
        "j1",
        "u1",
        "w1",
        2,
    )
    assert (first["stage"], second["stage"]) == ("generate", "render")
    assert "job_id" not in outside and log_fields() == {}


def test_an_exception_is_the_exc_field(lines: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = lines
    try:
        raise ValueError('broken "input"')
    except ValueError:
        logger.exception("job failed")
    (line,) = parsed(out)
    assert line["message"] == "job failed"
    assert str(line["exc"]).startswith("Traceback")
    assert 'ValueError: broken "input"' in str(line["exc"])


def test_uvicorn_access_lines_name_their_parts(lines: tuple[logging.Logger, io.StringIO]) -> None:
    _, out = lines
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/healthz", "1.1", 200),
        None,
    )
    out.write(JsonFormatter().format(record) + "\n")
    (line,) = parsed(out)
    assert line["message"] == '127.0.0.1:5000 - "GET /healthz HTTP/1.1" 200'
    assert (line["method"], line["path"], line["status"]) == ("GET", "/healthz", 200)


async def test_concurrent_jobs_keep_their_own_fields(
    lines: tuple[logging.Logger, io.StringIO],
) -> None:
    """Two jobs in tasks of their own, interleaved: each line names its own job and stage,
    also from a thread one of them starts."""
    logger, out = lines
    step = asyncio.Event()

    async def job(job_id: str, stage: str) -> None:
        with log_context(job_id=job_id, stage="generate"):
            set_log_stage(stage)
            await step.wait()
            logger.info("in the task")
            await asyncio.to_thread(logger.info, "in a thread")

    tasks = [asyncio.create_task(job("a", "render")), asyncio.create_task(job("b", "store"))]
    await asyncio.sleep(0)
    step.set()
    await asyncio.gather(*tasks)
    seen = {(line["job_id"], line["stage"], line["message"]) for line in parsed(out)}
    assert seen == {
        ("a", "render", "in the task"),
        ("a", "render", "in a thread"),
        ("b", "store", "in the task"),
        ("b", "store", "in a thread"),
    }
    assert log_fields() == {}


def test_text_stays_the_readable_line() -> None:
    text = formatter("text")
    assert type(text) is logging.Formatter and text._fmt == TEXT_FORMAT
    assert isinstance(formatter("json"), JsonFormatter)


@pytest.mark.parametrize(
    "given",
    [
        "0f8e2c1a-9b7d-4e3f-8a6b-5c4d3e2f1a0b",
        "01HZX3K5Q8N7M2P4R6T8V0W2Y4",
        "trace:abc/def+ghi=jkl@node_1.2",
        "x" * REQUEST_ID_MAX,
    ],
)
def test_a_safe_request_id_is_kept(given: str) -> None:
    assert request_id_from(given) == given


@pytest.mark.parametrize(
    "given",
    [None, "", "x" * (REQUEST_ID_MAX + 1), "a b", 'a"b', "a\nb", "a\x00b", "caf\u00e9", "<script>"],
)
def test_another_request_id_is_replaced(given: str | None) -> None:
    made = request_id_from(given)
    assert made != given and len(made) == 32 and int(made, 16) >= 0
    assert request_id_from(given) != made  # a new one each time


def test_the_request_id_of_the_context() -> None:
    assert current_request_id() is None
    with log_context(request_id="r-1"):
        assert current_request_id() == "r-1"
        with log_context(job_id="j", request_id=None):  # None keeps what is there
            assert current_request_id() == "r-1"
    assert current_request_id() is None
