"""What a person or a program does with pdfprompt — submit, revise, delete, follow and
share documents, send a PDF — written once for the HTTP API (`api/`) and the pages
(`web/`), over the services the composition root built."""

from pdfprompt.actions.delivery import pdf_response, sends_document
from pdfprompt.actions.documents import (
    JobDeleted,
    cancel_document,
    check_input_size,
    check_prompt,
    delete_document,
    document_file,
    job_changes,
    prompt_limit,
    revise,
    submit,
)
from pdfprompt.actions.errors import STATUS_BY_CODE, TITLES, status_of
from pdfprompt.actions.shares import MAX_SHARE_EXPIRY_S, longest_share_s, share_file

__all__ = [
    "MAX_SHARE_EXPIRY_S",
    "STATUS_BY_CODE",
    "TITLES",
    "JobDeleted",
    "cancel_document",
    "check_input_size",
    "check_prompt",
    "delete_document",
    "document_file",
    "job_changes",
    "longest_share_s",
    "pdf_response",
    "prompt_limit",
    "revise",
    "sends_document",
    "share_file",
    "status_of",
    "submit",
]
