"""Turning a job's input into HTML: Markdown, and prompts written by an LLM."""

from pdfprompt.generate.assets import MAX_IMAGE_PIXELS, InspectedAsset, inspect_asset
from pdfprompt.generate.document import (
    clean_css,
    clean_document,
    extract_html,
    messages,
    revise_messages,
)
from pdfprompt.generate.llm import KeyRing, LlmClient, streamed_text
from pdfprompt.generate.markdown import (
    MarkdownDocument,
    convert_markdown,
    has_contents,
    markdown_document,
    markdown_to_html,
    print_stylesheet,
    with_contents_pages,
    wrap_document,
)
from pdfprompt.generate.repair import REPAIR_REQUEST_MARK, repair_messages
from pdfprompt.generate.svg import clean_svg
from pdfprompt.generate.template import FILTERS, check_body, fill
from pdfprompt.generate.template_data import (
    MAX_DATA_BYTES,
    MAX_SCHEMA_BYTES,
    check_data,
    check_schema,
    data_errors,
    json_size,
)
from pdfprompt.generate.template_process import TemplateFiller
from pdfprompt.generate.template_prompt import (
    TEMPLATE_REQUEST_MARK,
    TEMPLATE_SYSTEM_PROMPT,
    template_answer,
    template_messages,
)
from pdfprompt.settings import Settings


def llm_client_from_settings(settings: Settings) -> LlmClient | None:
    """The LLM client the settings describe; None when no key is configured (prompts are
    then typeset as Markdown, and the job says so)."""
    if not settings.llm_api_keys:
        return None
    keys = KeyRing(
        [k.get_secret_value() for k in settings.llm_api_keys],
        cooldown_s=settings.llm_cooldown_s,
        quarantine_s=settings.llm_quarantine_s,
    )
    return LlmClient(
        settings.llm_base_url,
        keys,
        settings.llm_model_list,
        timeout_s=settings.llm_timeout_s,
        max_tokens=settings.llm_max_tokens,
    )


def template_filler_from_settings(settings: Settings) -> TemplateFiller:
    """Child processes that fill templates within the configured time and output limits."""
    return TemplateFiller(
        timeout_s=settings.template_timeout_s,
        max_chars=settings.template_max_output_bytes,
        processes=max(1, min(settings.worker_concurrency, 4)),
    )


__all__ = [
    "FILTERS",
    "MAX_DATA_BYTES",
    "MAX_IMAGE_PIXELS",
    "MAX_SCHEMA_BYTES",
    "REPAIR_REQUEST_MARK",
    "TEMPLATE_REQUEST_MARK",
    "TEMPLATE_SYSTEM_PROMPT",
    "InspectedAsset",
    "KeyRing",
    "LlmClient",
    "MarkdownDocument",
    "TemplateFiller",
    "check_body",
    "check_data",
    "check_schema",
    "clean_css",
    "clean_document",
    "clean_svg",
    "convert_markdown",
    "data_errors",
    "extract_html",
    "fill",
    "has_contents",
    "inspect_asset",
    "json_size",
    "llm_client_from_settings",
    "markdown_document",
    "markdown_to_html",
    "messages",
    "print_stylesheet",
    "repair_messages",
    "revise_messages",
    "streamed_text",
    "template_answer",
    "template_filler_from_settings",
    "template_messages",
    "with_contents_pages",
    "wrap_document",
]
