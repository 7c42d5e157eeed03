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
    markdown_document,
    markdown_to_html,
    print_stylesheet,
    wrap_document,
)
from pdfprompt.generate.svg import clean_svg
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


__all__ = [
    "MAX_IMAGE_PIXELS",
    "InspectedAsset",
    "KeyRing",
    "LlmClient",
    "clean_css",
    "clean_document",
    "clean_svg",
    "extract_html",
    "inspect_asset",
    "llm_client_from_settings",
    "markdown_document",
    "markdown_to_html",
    "messages",
    "print_stylesheet",
    "revise_messages",
    "streamed_text",
    "wrap_document",
]
