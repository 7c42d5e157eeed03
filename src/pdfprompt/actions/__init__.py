"""What a person or a program does with pdfprompt — submit, revise, delete, follow and
share documents, send a PDF, issue and revoke API keys, register webhooks, delete an
account — and the queue's figures an operator reads, written once for the HTTP API
(`api/`), the pages (`web/`) and the command (`cli/`), over the services the composition
root built."""

from pdfprompt.actions.account import delete_account
from pdfprompt.actions.assets import asset_limit, delete_asset, upload_asset
from pdfprompt.actions.batches import (
    batch_archive,
    batch_changes,
    check_row_count,
    merged_pdf,
    submit_batch,
    template_rows,
    template_schema,
)
from pdfprompt.actions.certificates import (
    check_signing,
    delete_certificate,
    upload_certificate,
)
from pdfprompt.actions.cursors import NUMERIC_CURSOR, integer_cursor
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
from pdfprompt.actions.keys import issue_key, revoke_key
from pdfprompt.actions.pdf_jobs import resolve_pdf, submit_pdf_job
from pdfprompt.actions.previews import MARKDOWN_PREVIEWS_PER_MINUTE, markdown_preview
from pdfprompt.actions.queue import WINDOWS, QueueFigures, percent, queue_figures, seconds
from pdfprompt.actions.shares import (
    MAX_SHARE_EXPIRY_S,
    longest_share_s,
    send_shared,
    share_file,
    shared_file,
)
from pdfprompt.actions.templates import (
    PREVIEW_MAX_PAGES,
    PREVIEW_TIMEOUT_S,
    PREVIEWS_PER_MINUTE,
    TemplateJob,
    create_template,
    generate_template,
    merged_options,
    preview_draft,
    preview_template,
    resolve_template,
    submit_template_job,
    template_content,
    template_job,
    update_template,
)
from pdfprompt.actions.thumbnails import (
    THUMBNAIL_MAX_PDF_BYTES,
    THUMBNAIL_WAIT_S,
    thumbnail_png,
)
from pdfprompt.actions.webhooks import add_webhook, change_webhook, redeliver

__all__ = [
    "MARKDOWN_PREVIEWS_PER_MINUTE",
    "MAX_SHARE_EXPIRY_S",
    "NUMERIC_CURSOR",
    "PREVIEWS_PER_MINUTE",
    "PREVIEW_MAX_PAGES",
    "PREVIEW_TIMEOUT_S",
    "STATUS_BY_CODE",
    "THUMBNAIL_MAX_PDF_BYTES",
    "THUMBNAIL_WAIT_S",
    "TITLES",
    "WINDOWS",
    "JobDeleted",
    "QueueFigures",
    "TemplateJob",
    "add_webhook",
    "asset_limit",
    "batch_archive",
    "batch_changes",
    "cancel_document",
    "change_webhook",
    "check_input_size",
    "check_prompt",
    "check_row_count",
    "check_signing",
    "create_template",
    "delete_account",
    "delete_asset",
    "delete_certificate",
    "delete_document",
    "document_file",
    "generate_template",
    "integer_cursor",
    "issue_key",
    "job_changes",
    "longest_share_s",
    "markdown_preview",
    "merged_options",
    "merged_pdf",
    "pdf_response",
    "percent",
    "preview_draft",
    "preview_template",
    "prompt_limit",
    "queue_figures",
    "redeliver",
    "resolve_pdf",
    "resolve_template",
    "revise",
    "revoke_key",
    "seconds",
    "send_shared",
    "sends_document",
    "share_file",
    "shared_file",
    "status_of",
    "submit",
    "submit_batch",
    "submit_pdf_job",
    "submit_template_job",
    "template_content",
    "template_job",
    "template_rows",
    "template_schema",
    "thumbnail_png",
    "update_template",
    "upload_asset",
    "upload_certificate",
]
