"""What a person or a program does with pdfprompt — submit, revise, delete, follow and
share documents, send a PDF, delete an account — and the queue's figures an operator reads,
written once for the HTTP API (`api/`), the pages (`web/`) and the command (`cli/`), over
the services the composition root built."""

from pdfprompt.actions.account import delete_account
from pdfprompt.actions.delivery import pdf_response, sends_document
from pdfprompt.actions.documents import (
    JobDeleted,
    check_prompt,
    delete_document,
    job_changes,
    prompt_limit,
    revise,
    submit,
)
from pdfprompt.actions.errors import STATUS_BY_CODE, TITLES, status_of
from pdfprompt.actions.queue import WINDOWS, QueueFigures, percent, queue_figures, seconds
from pdfprompt.actions.shares import MAX_SHARE_EXPIRY_S, longest_share_s, share_file

__all__ = [
    "MAX_SHARE_EXPIRY_S",
    "STATUS_BY_CODE",
    "TITLES",
    "WINDOWS",
    "JobDeleted",
    "QueueFigures",
    "check_prompt",
    "delete_account",
    "delete_document",
    "job_changes",
    "longest_share_s",
    "pdf_response",
    "percent",
    "prompt_limit",
    "queue_figures",
    "revise",
    "seconds",
    "sends_document",
    "share_file",
    "status_of",
    "submit",
]
