"""pdfprompt: prompts, Markdown or HTML in; finished PDFs out."""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pdfprompt.api import create_app
    from pdfprompt.settings import Settings

__version__ = "0.1.0"

__all__ = ["Settings", "__version__", "create_app"]


def __getattr__(name: str) -> Any:
    """`Settings` and `create_app` load their rooms when first asked for, not with the
    package: `pdfprompt.client` needs neither pydantic-settings nor the web framework, and
    the administration commands do not need the web framework."""
    if name == "Settings":
        from pdfprompt.settings import Settings

        return Settings
    if name == "create_app":
        from pdfprompt.api import create_app

        return create_app
    raise AttributeError(f"module 'pdfprompt' has no attribute {name!r}")
