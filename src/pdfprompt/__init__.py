"""pdfprompt: prompts, Markdown or HTML in; finished PDFs out."""

from typing import Any

from pdfprompt.settings import Settings

__version__ = "0.1.0"

__all__ = ["Settings", "__version__", "create_app"]


def __getattr__(name: str) -> Any:
    """`create_app` loads the web framework when first asked for, not with the package
    (the `pdfprompt` administration commands do not need it)."""
    if name == "create_app":
        from pdfprompt.api import create_app

        return create_app
    raise AttributeError(f"module 'pdfprompt' has no attribute {name!r}")
