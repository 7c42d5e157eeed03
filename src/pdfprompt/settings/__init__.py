"""One `Settings`, read from the environment once at start and passed down.

Names operators already know keep their plain form (`DATABASE_URL`,
`MAX_PDF_CONCURRENCY`, ...); everything new carries the `PDFPROMPT_` prefix.
The fields are grouped by the room that reads them, one module per group, and composed
here; `python -m pdfprompt.settings` writes docs/configuration.md from their descriptions.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from pdfprompt.settings.accounts import AccountsSettings
from pdfprompt.settings.database import DatabaseSettings
from pdfprompt.settings.http import HttpSettings
from pdfprompt.settings.llm import LlmSettings
from pdfprompt.settings.pdf_jobs import PdfJobSettings
from pdfprompt.settings.queue import QueueSettings
from pdfprompt.settings.render import RenderSettings
from pdfprompt.settings.service import ServiceSettings
from pdfprompt.settings.signing import SigningSettings
from pdfprompt.settings.storage import StorageSettings
from pdfprompt.settings.templates import TemplateSettings
from pdfprompt.settings.web import WebSettings
from pdfprompt.settings.webhooks import WebhookSettings


class Settings(
    ServiceSettings,
    DatabaseSettings,
    StorageSettings,
    QueueSettings,
    RenderSettings,
    LlmSettings,
    AccountsSettings,
    WebhookSettings,
    TemplateSettings,
    WebSettings,
    SigningSettings,
    PdfJobSettings,
    HttpSettings,
    BaseSettings,
):
    """Every knob of the service. Field aliases are the environment variable names; fields
    may also be given by name (`Settings(database_url=...)`)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    @property
    def effective_database_url(self) -> str:
        """The configured database, or the embedded SQLite file under the data directory."""
        return self.database_url or f"sqlite:///{self.data_dir / 'pdfprompt.sqlite3'}"

    @property
    def effective_storage_url(self) -> str:
        """The configured storage, or the directory `files` under the data directory."""
        return self.storage_url or (self.data_dir / "files").resolve().as_uri()


__all__ = [
    "Settings",
]
