"""Each room's public surface: what other rooms, the tests and the benchmarks may import
from its package (`__all__`), pinned so that a change to it is a deliberate one; every name
is defined inside the room; and the worker side starts without the web framework."""

from __future__ import annotations

import importlib
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXPORTS: dict[str, list[str]] = {
    "domain": [
        "BUILTIN_PLANS",
        "BrowserUnavailableError",
        "ConflictError",
        "DOCUMENT_KINDS",
        "DuplicateJobError",
        "FINAL_STATUSES",
        "FileInfo",
        "FileTooLargeError",
        "ForbiddenError",
        "Generator",
        "GoneError",
        "ID_PATTERN",
        "InvalidInputError",
        "Job",
        "JobError",
        "JobStage",
        "JobStatus",
        "JobType",
        "JobWarning",
        "LeaseLostError",
        "LlmError",
        "LlmKeysCoolingError",
        "MAX_HEADER_FOOTER_CHARS",
        "MAX_SEARCH_CHARS",
        "MAX_TEXT_FIELD_CHARS",
        "MalformedBodyError",
        "Margin",
        "NotFoundError",
        "PAGE_RANGES",
        "PAPER_FORMATS",
        "PERMANENT_WHEN_REPEATED",
        "PageLimitExceededError",
        "PayloadTooLargeError",
        "PdfPromptError",
        "Plan",
        "QuotaExceededError",
        "RateLimitedError",
        "RenderError",
        "RenderMemoryExceededError",
        "RenderOptions",
        "RenderRefusedError",
        "RenderTimeoutError",
        "RetryPolicy",
        "StorageError",
        "StorageQuotaExceededError",
        "TONES",
        "UNTITLED",
        "UnauthorizedError",
        "UnavailableError",
        "WARN_AT",
        "as_repeated",
        "check_css_length",
        "check_header_footer",
        "check_page_geometry",
        "check_page_ranges",
        "document_title",
        "first_id_at",
        "inches",
        "new_id",
        "page_numbers",
        "page_spans",
        "period_bounds",
        "period_of",
        "plan_from_mapping",
        "refused_warnings",
        "retry_decision",
        "safe_filename",
        "search_key",
        "search_text",
        "tightest",
    ],
    "settings": [
        "Settings",
    ],
    "db": [
        "DriverStatement",
        "IMMEDIATE",
        "Timestamp",
        "announce",
        "api_keys",
        "async_url",
        "conflict_on_duplicate",
        "create_engine",
        "current_revision",
        "db_now",
        "db_now_plus",
        "delete_in_batches",
        "driver_connection",
        "driver_transaction",
        "files",
        "head_revision",
        "is_sqlite",
        "is_sqlite_url",
        "is_unavailable",
        "jobs",
        "listen_dsn",
        "metadata",
        "now_plus",
        "open_database",
        "prune_older_than",
        "read_all",
        "read_one",
        "seconds_between",
        "seconds_since",
        "sessions",
        "shares",
        "shown_url",
        "sqlite_driver",
        "stored_bytes",
        "upgrade",
        "usage_counters",
        "usage_events",
        "users",
        "webhook_attempts",
        "webhook_deliveries",
        "webhooks",
        "write_transaction",
    ],
    "queue": [
        "CachedRender",
        "DocumentPage",
        "DocumentSummary",
        "Finished",
        "JobContext",
        "JobEvents",
        "JobHandler",
        "JobPage",
        "JobStore",
        "NewJob",
        "ORPHAN_GRACE_S",
        "ORPHAN_SWEEP_EVERY_S",
        "PostgresJobStore",
        "PostgresWakeup",
        "QueueMetrics",
        "SqliteJobStore",
        "StoredFile",
        "Wakeup",
        "WindowStats",
        "Worker",
        "WorkerConfig",
        "finish_trailing_notifies",
        "job_store_for",
        "new_worker_id",
        "sweep_orphans",
        "wakeup_for",
    ],
    "queue.store": [
        "CachedRender",
        "DocumentPage",
        "DocumentSummary",
        "EVENTS_CHANNEL",
        "Finished",
        "JOBS_CHANNEL",
        "JobPage",
        "JobStore",
        "NewJob",
        "PostgresJobStore",
        "SqliteJobStore",
        "StoredFile",
        "WindowStats",
        "finish_trailing_notifies",
        "job_store_for",
    ],
    "accounts": [
        "ACCOUNTS_CHANNEL",
        "ALL_SCOPES",
        "AccountStore",
        "IssuedKey",
        "LocalRateLimiter",
        "MAX_EMAIL_CHARS",
        "MAX_PASSWORD_CHARS",
        "MIN_PASSWORD_CHARS",
        "Principal",
        "RateLimiter",
        "RedisRateLimiter",
        "SessionStore",
        "Share",
        "ShareStore",
        "User",
        "WRONG_PASSWORD",
        "WebSession",
        "check_default_plan",
        "check_password_rules",
        "hash_key",
        "load_plans",
        "prune_sessions",
        "rate_limiter_for",
    ],
    "webhooks": [
        "AddressRule",
        "Attempt",
        "AttemptOutcome",
        "ClaimedDelivery",
        "Compose",
        "Delivery",
        "DeliveryConfig",
        "EVENTS",
        "EventName",
        "IpAddress",
        "JobLookup",
        "Resolve",
        "SIGNATURE_HEADER",
        "UsageLookup",
        "Webhook",
        "WebhookDispatcher",
        "WebhookOutbox",
        "WebhookSender",
        "WebhookStore",
        "address_rule",
        "any_address",
        "check_url",
        "event_body",
        "event_composer",
        "job_data",
        "prune_deliveries",
        "public_only",
        "sign",
        "special_purpose",
        "verify",
    ],
    "generate": [
        "KeyRing",
        "LlmClient",
        "clean_css",
        "clean_document",
        "extract_html",
        "llm_client_from_settings",
        "markdown_document",
        "markdown_to_html",
        "messages",
        "print_stylesheet",
        "revise_messages",
        "streamed_text",
        "wrap_document",
    ],
    "render": [
        "ChromiumRenderer",
        "HEADLESS_ARGS",
        "MEMORY_CHECK_EVERY",
        "RenderedPdf",
        "Renderer",
        "RendererPool",
        "WeasyPrintRenderer",
        "capped_ranges",
        "chromium_renderer",
        "find_browser",
        "find_chromium",
        "find_headless_shell",
        "print_parameters",
        "render_pdf",
        "renderer_from_settings",
        "weasyprint_renderer",
    ],
    "render.chromium": [
        "BrowserClosedError",
        "CHROMIUM_ARGS",
        "CdpBrowser",
        "CdpError",
        "ChromiumRenderer",
        "HEADLESS_ARGS",
        "MAX_MESSAGE_BYTES",
        "MEMORY_CHECK_EVERY",
        "MessagePipe",
        "capped_ranges",
        "count_pages",
        "find_browser",
        "find_chromium",
        "find_headless_shell",
        "is_headless_shell",
        "print_parameters",
        "refused_print",
    ],
    "pdf": [
        "FINISH_VERSION",
        "PdfUpdate",
        "SAFE_SCHEMES",
        "THUMBNAIL_WIDTH_PX",
        "WATERMARK_TEXT",
        "disarm",
        "finish",
        "first_page_png",
        "heading_texts",
        "may_have_unsafe_actions",
        "mended_title",
        "needs_rewrite",
        "safe_uri",
        "stamp",
    ],
    "storage": [
        "LocalStorage",
        "S3Storage",
        "Storage",
        "storage_from_settings",
    ],
    "pipeline": [
        "JobPipeline",
        "build_document",
        "render_input",
        "render_key",
    ],
    "wiring": [
        "Services",
        "account_store",
        "build_worker",
        "delivering_webhooks",
        "open_accounts",
        "plans_in_force",
        "prepare_database",
        "process_wakeup",
        "render_once",
        "run_worker",
        "running_services",
        "upgrade_database",
        "worker_config",
    ],
    "api": [
        "OptionsIn",
        "create_app",
        "redact",
        "redact_access_log",
    ],
    "cli": [
        "main",
        "parser",
    ],
    "devtools": [
        "FakeLlm",
        "create_fake_llm_app",
        "document_for",
    ],
    "web": [
        "install_web",
    ],
}


@pytest.mark.parametrize("room", sorted(EXPORTS))
def test_each_room_exports_what_is_pinned_and_defines_it(room: str) -> None:
    package = importlib.import_module(f"pdfprompt.{room}")
    assert sorted(package.__all__) == EXPORTS[room]
    for name in package.__all__:
        value = getattr(package, name)  # every exported name exists
        if inspect.isclass(value) or inspect.isfunction(value):
            where = value.__module__
            assert where == package.__name__ or where.startswith(package.__name__ + "."), (
                f"{room} exports {name} from {where}: another room's name"
            )


def test_a_worker_process_starts_without_the_web_framework() -> None:
    """What `pdfprompt worker` imports (the command, the composition root and every worker-side
    room) loads neither FastAPI, Starlette nor uvicorn (import-linter checks the same
    statically; this checks what really loads)."""
    code = (
        "import sys\n"
        "import pdfprompt.cli.worker, pdfprompt.wiring, pdfprompt.pipeline, pdfprompt.webhooks\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('fastapi', 'starlette', 'uvicorn')))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"


@pytest.mark.parametrize("command", [["plans", "list"], ["users", "list"]])
def test_administration_commands_load_no_worker_side(command: list[str], tmp_path: Path) -> None:
    """`pdfprompt users`, `keys`, `plans` and `db` open the account store or the database
    alone: none of the renderers, the LLM client, the pipeline or the PDF tools loads."""
    code = (
        "import sys\n"
        "from pdfprompt.cli import main\n"
        f"assert main({command!r}) == 0\n"
        "heavy = ('pdfprompt.render', 'pdfprompt.generate', 'pdfprompt.pipeline', "
        "'pdfprompt.pdf', 'fastapi', 'aiohttp', 'pypdf')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    env = {**os.environ, "PDFPROMPT_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"
