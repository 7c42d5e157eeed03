"""The JSON HTTP API: routes, schemas, and the mapping of errors to HTTP answers."""

from pdfprompt.api.app import create_app
from pdfprompt.api.logs import redact, redact_access_log
from pdfprompt.api.schemas import OptionsIn, options_with_front_matter

__all__ = [
    "OptionsIn",
    "create_app",
    "options_with_front_matter",
    "redact",
    "redact_access_log",
]
