"""The process's log: readable text lines (the default) or, with `PDFPROMPT_LOG_FORMAT=json`,
one JSON object per line that a log collector reads without parsing text, the lines about a
job or a request carrying its fields (`pdfprompt.domain.log_context`)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from pdfprompt.domain import LOG_FIELDS, log_fields

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# What uvicorn's access log records carry as arguments, named in a JSON line.
_ACCESS_ARGS = ("client", "method", "path", "http_version", "status")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line: `time` (UTC, ISO-8601 with milliseconds),
    `level`, `logger`, `message`, the context's fields (`request_id`, `job_id`, `user_id`,
    `worker_id`, `attempt`, `stage`), for uvicorn's access log the request's parts, and
    `exc` with the traceback of an exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = log_fields()
        line.update((name, context[name]) for name in LOG_FIELDS if name in context)
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            line.update(zip(_ACCESS_ARGS, args, strict=True))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def setup_logging(level: str, log_format: str) -> None:
    """One handler on the root logger, to stderr, in the chosen format (as
    `logging.basicConfig`: nothing changes where the root logger has a handler already)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(log_format))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    # Python's warnings become log lines, so that JSON output holds nothing but JSON.
    logging.captureWarnings(log_format == "json")
    # Alembic announces each of its autogenerate plugins at INFO on every schema check.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def uvicorn_log_config(level: str, log_format: str) -> dict[str, Any]:
    """The `log_config` uvicorn is given (it replaces the logging configuration with it):
    with JSON, one JSON handler on the root logger that uvicorn's error and access logs
    reach too; with text, uvicorn's own."""
    if log_format != "json":
        from uvicorn.config import LOGGING_CONFIG

        return LOGGING_CONFIG
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "json": {"class": "logging.StreamHandler", "formatter": "json", "stream": sys.stderr}
        },
        "root": {"handlers": ["json"], "level": level.upper()},
        "loggers": {
            name: {"handlers": [], "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }
