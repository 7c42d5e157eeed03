"""pdfprompt: prompts, Markdown or HTML in; finished PDFs out."""

from pdfprompt.api import create_app
from pdfprompt.settings import Settings

__version__ = "0.1.0"

__all__ = ["Settings", "__version__", "create_app"]
