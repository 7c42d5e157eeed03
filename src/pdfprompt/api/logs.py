"""What the service writes to its logs about requests names no secret: share-link and
sign-in-link tokens in paths and secret-looking query parameters are replaced before a
line is written."""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
_SHARE_PATH = re.compile(r"(/s/|/signin/link/)[^/?#\s]+")
_SECRET_QUERY = re.compile(
    r"([?&](?:token|key|api_key|secret|password|signature|sig|code)=)[^&#\s]*", re.I
)


def redact(target: str) -> str:
    """A request path (with its query) fit for a log line."""
    return _SECRET_QUERY.sub(r"\1" + REDACTED, _SHARE_PATH.sub(r"\1" + REDACTED, target))


class RedactingFilter(logging.Filter):
    """For uvicorn's access log, whose records carry (client, method, path, version,
    status) as arguments: the path is redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact(args[2]), *args[3:])
        return True


def redact_access_log() -> None:
    """Install the filter on uvicorn's access logger (after uvicorn configured logging)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactingFilter) for f in access.filters):
        access.addFilter(RedactingFilter())
