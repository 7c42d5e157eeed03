"""One `Settings`, read from the environment once at start and passed down.

Names operators already know keep their plain form (`DATABASE_URL`,
`MAX_PDF_CONCURRENCY`, ...); everything new carries the `PDFPROMPT_` prefix.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Where to look for Chromium: a command name is looked up on PATH, a path is taken as it is.
# The headless shell comes first: the same engine without the browser around it. It prints to
# PDF in its page's renderer process where the full browser starts a print-compositor process
# per document, and uses 40-74 % of the full browser's CPU per render (docs/render.md).
# Debian's binary is named by path ahead of PATH, where /usr/bin/chromium-headless-shell is
# a shell script that does not exec it.
HEADLESS_SHELLS = (
    "/usr/lib/chromium/chromium-headless-shell",
    "chrome-headless-shell",
    "chromium-headless-shell",
    "/opt/google/chrome-headless-shell/chrome-headless-shell",
)
BROWSERS = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
    "/usr/bin/google-chrome-stable",
    "/snap/bin/chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
)


def _default_data_dir() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "pdfprompt"


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def _env(name: str) -> AliasChoices:
    return AliasChoices(name)


LLM_KEY_VARIABLES = ("OPENROUTER_API_KEY", *(f"OPENROUTER_API_KEY{i}" for i in range(1, 11)))


def _llm_keys_from_env() -> tuple[SecretStr, ...]:
    """OPENROUTER_API_KEY and OPENROUTER_API_KEY1 … OPENROUTER_API_KEY10, those set, in order."""
    values = (os.environ.get(name, "").strip() for name in LLM_KEY_VARIABLES)
    return tuple(SecretStr(v) for v in values if v)


class Settings(BaseSettings):
    """Every knob of the service. Field aliases are the environment variable names."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    data_dir: Path = Field(
        default_factory=_default_data_dir, validation_alias=_env("PDFPROMPT_DATA_DIR")
    )
    database_url: str | None = Field(default=None, validation_alias=_env("DATABASE_URL"))
    database_max_connections: int = Field(
        default=10, ge=1, validation_alias=_env("DATABASE_MAX_CONNECTIONS")
    )
    database_idle_timeout_s: float = Field(
        default=300.0, gt=0, validation_alias=_env("DATABASE_IDLE_TIMEOUT")
    )
    database_connect_timeout_s: float = Field(
        default=10.0, gt=0, validation_alias=_env("DATABASE_CONNECT_TIMEOUT")
    )
    storage_url: str | None = Field(default=None, validation_alias=_env("PDFPROMPT_STORAGE_URL"))
    s3_endpoint_url: str | None = Field(
        default=None, validation_alias=_env("PDFPROMPT_S3_ENDPOINT_URL")
    )
    s3_region: str | None = Field(default=None, validation_alias=_env("PDFPROMPT_S3_REGION"))
    # Downloads with an API key answer 302 to a presigned URL valid this long (0: the API
    # streams them). Share links always stream: each of their downloads is counted.
    # Public share-link requests per client address and minute (0: unlimited).
    share_rate_limit_per_minute: int = Field(
        default=120, ge=0, validation_alias=_env("PDFPROMPT_SHARE_RATE_LIMIT_PER_MINUTE")
    )
    s3_presign_s: int = Field(
        default=0, ge=0, le=7 * 86400, validation_alias=_env("PDFPROMPT_S3_PRESIGN_S")
    )

    host: str = Field(default="127.0.0.1", validation_alias=_env("PDFPROMPT_HOST"))
    port: int = Field(default=8000, ge=0, le=65535, validation_alias=_env("PDFPROMPT_PORT"))

    worker_concurrency: int = Field(
        default=8, ge=1, validation_alias=_env("PDFPROMPT_WORKER_CONCURRENCY")
    )
    max_pdf_concurrency: int = Field(
        default_factory=lambda: max(1, _cpu_count()),
        ge=1,
        validation_alias=_env("MAX_PDF_CONCURRENCY"),
    )
    browser_pool_size: int = Field(default=1, ge=1, validation_alias=_env("BROWSER_POOL_SIZE"))
    batch_size: int = Field(default=8, ge=1, validation_alias=_env("PDFPROMPT_BATCH_SIZE"))
    poll_ms: int = Field(default=1000, ge=10, validation_alias=_env("PDFPROMPT_POLL_MS"))
    lease_s: float = Field(default=30.0, ge=1, validation_alias=_env("PDFPROMPT_LEASE_S"))
    max_attempts: int = Field(default=3, ge=1, validation_alias=_env("PDFPROMPT_MAX_ATTEMPTS"))
    retry_base_s: float = Field(default=2.0, gt=0, validation_alias=_env("PDFPROMPT_RETRY_BASE_S"))
    retry_cap_s: float = Field(default=300.0, gt=0, validation_alias=_env("PDFPROMPT_RETRY_CAP_S"))
    max_concurrent_jobs: int = Field(
        default=10, ge=1, validation_alias=_env("PDFPROMPT_MAX_CONCURRENT_JOBS")
    )
    plans_file: str | None = Field(default=None, validation_alias=_env("PDFPROMPT_PLANS_FILE"))
    default_plan: str = Field(default="enterprise", validation_alias=_env("PDFPROMPT_DEFAULT_PLAN"))
    redis_url: str | None = Field(default=None, validation_alias=_env("PDFPROMPT_REDIS_URL"))
    job_retention_days: float = Field(
        default=90, ge=0, validation_alias=_env("PDFPROMPT_JOB_RETENTION_DAYS")
    )
    subscription_cache_ttl_s: float = Field(
        default=300.0, ge=0, validation_alias=_env("PDFPROMPT_SUBSCRIPTION_CACHE_TTL_S")
    )
    worker_metrics_port: int | None = Field(
        default=None, ge=0, le=65535, validation_alias=_env("PDFPROMPT_WORKER_METRICS_PORT")
    )
    shutdown_grace_s: float = Field(
        default=30.0, ge=0, validation_alias=_env("PDFPROMPT_SHUTDOWN_GRACE_S")
    )
    worker_secret: str | None = Field(
        default=None, validation_alias=_env("PDFPROMPT_WORKER_SECRET")
    )
    # Where clients reach the API; links in webhook payloads start with it (default: the
    # host and port this process serves on).
    public_url: str | None = Field(default=None, validation_alias=_env("PDFPROMPT_PUBLIC_URL"))

    # Webhooks: delivered by workers; failed attempts are retried with exponential backoff
    # (base doubling up to the cap) until the retry window since the event has passed.
    webhook_allow_private: bool = Field(
        default=False, validation_alias=_env("PDFPROMPT_WEBHOOK_ALLOW_PRIVATE")
    )
    webhook_timeout_s: float = Field(
        default=10.0, gt=0, le=300, validation_alias=_env("PDFPROMPT_WEBHOOK_TIMEOUT_S")
    )
    webhook_retry_base_s: float = Field(
        default=10.0, gt=0, validation_alias=_env("PDFPROMPT_WEBHOOK_RETRY_BASE_S")
    )
    webhook_retry_cap_s: float = Field(
        default=3600.0, gt=0, validation_alias=_env("PDFPROMPT_WEBHOOK_RETRY_CAP_S")
    )
    webhook_retry_window_s: float = Field(
        default=86400.0, ge=0, validation_alias=_env("PDFPROMPT_WEBHOOK_RETRY_WINDOW_S")
    )
    webhook_disable_after: int = Field(
        default=5, ge=1, validation_alias=_env("PDFPROMPT_WEBHOOK_DISABLE_AFTER")
    )
    webhook_concurrency: int = Field(
        default=16, ge=1, validation_alias=_env("PDFPROMPT_WEBHOOK_CONCURRENCY")
    )
    webhook_poll_ms: int = Field(
        default=250, ge=10, validation_alias=_env("PDFPROMPT_WEBHOOK_POLL_MS")
    )
    webhook_retention_days: float = Field(
        default=30, ge=0, validation_alias=_env("PDFPROMPT_WEBHOOK_RETENTION_DAYS")
    )

    chromium_path: str | None = Field(
        default=None, validation_alias=_env("PDFPROMPT_CHROMIUM_PATH")
    )
    render_engine: Literal["auto", "chromium", "weasyprint"] = Field(
        default="auto", validation_alias=_env("PDFPROMPT_RENDER_ENGINE")
    )
    render_timeout_s: float = Field(
        default=30.0, gt=0, validation_alias=_env("PDFPROMPT_RENDER_TIMEOUT_S")
    )
    allow_javascript: bool = Field(
        default=False, validation_alias=_env("PDFPROMPT_ALLOW_JAVASCRIPT")
    )
    browser_recycle_after: int = Field(
        default=1000, ge=1, validation_alias=_env("PDFPROMPT_BROWSER_RECYCLE_AFTER")
    )
    browser_max_memory_mb: float = Field(
        default=1024.0, gt=0, validation_alias=_env("PDFPROMPT_BROWSER_MAX_MEMORY_MB")
    )
    max_pages: int = Field(default=500, ge=1, validation_alias=_env("PDFPROMPT_MAX_PAGES"))
    # The largest PDF a render may produce, whatever the plan (a plan's own limit applies
    # under it): the render stops reading the PDF as soon as it passes this.
    max_pdf_mb: int = Field(default=200, ge=1, validation_alias=_env("PDFPROMPT_MAX_PDF_MB"))
    # While it renders, a browser whose processes hold more than this (resident anonymous and
    # shared memory, summed) is killed and its render fails with render_memory_exceeded; a
    # WeasyPrint process gets this much address space.
    render_memory_limit_mb: int = Field(
        default=2048, ge=256, validation_alias=_env("PDFPROMPT_RENDER_MEMORY_LIMIT_MB")
    )

    max_input_bytes: int = Field(
        default=1_048_576, ge=1, validation_alias=_env("PDFPROMPT_MAX_INPUT_BYTES")
    )
    # Keys a user may have that are neither revoked nor expired (the API refuses more;
    # the operator's `pdfprompt keys create` does not count against it).
    max_keys_per_user: int = Field(
        default=50, ge=1, validation_alias=_env("PDFPROMPT_MAX_KEYS_PER_USER")
    )
    # Addresses (or networks) of the reverse proxies whose X-Forwarded-For and
    # X-Forwarded-Proto are believed, comma-separated; none by default, so a client cannot
    # choose the address its share-link downloads are counted under (`*`: any peer).
    trusted_proxies: str = Field(default="", validation_alias=_env("PDFPROMPT_TRUSTED_PROXIES"))
    # `GET /metrics` asks for `Authorization: Bearer <this>` when set; open when unset.
    metrics_token: SecretStr | None = Field(
        default=None, validation_alias=_env("PDFPROMPT_METRICS_TOKEN")
    )

    llm_base_url: str = Field(
        default="https://openrouter.ai/api/v1", validation_alias=_env("OPENROUTER_BASE_URL")
    )
    # Secrets: shown as '**********' in any repr or log of the settings.
    llm_api_keys: tuple[SecretStr, ...] = Field(default_factory=_llm_keys_from_env)
    llm_models: str = Field(
        default="openai/gpt-4o-mini,google/gemini-2.0-flash-001",
        validation_alias=_env("PDFPROMPT_LLM_MODELS"),
    )
    llm_timeout_s: float = Field(
        default=120.0, gt=0, validation_alias=_env("PDFPROMPT_LLM_TIMEOUT_S")
    )
    llm_max_tokens: int = Field(
        default=8000, ge=256, validation_alias=_env("PDFPROMPT_LLM_MAX_TOKENS")
    )
    llm_cooldown_s: float = Field(
        default=30.0, gt=0, validation_alias=_env("PDFPROMPT_LLM_COOLDOWN_S")
    )
    llm_quarantine_s: float = Field(
        default=3600.0, gt=0, validation_alias=_env("PDFPROMPT_LLM_QUARANTINE_S")
    )
    max_prompt_chars: int = Field(
        default=20_000, ge=1, validation_alias=_env("PDFPROMPT_MAX_PROMPT_CHARS")
    )

    log_level: str = Field(default="info", validation_alias=_env("PDFPROMPT_LOG_LEVEL"))

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("sqlite", "postgresql", "postgres://")):
            raise ValueError("DATABASE_URL must start with sqlite:// or postgresql://")
        if value.startswith("sqlite") and (":memory:" in value or value.rstrip("/") == "sqlite:"):
            # Every connection to an in-memory database gets a database of its own.
            raise ValueError("DATABASE_URL: SQLite needs a file (sqlite:///path), not :memory:")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        for item in (v.strip() for v in value.split(",")):
            if item and item != "*":
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError:
                    raise ValueError(
                        f"PDFPROMPT_TRUSTED_PROXIES: {item!r} is not an address or network"
                    ) from None
        return value

    @property
    def trusted_proxy_list(self) -> list[str]:
        return [v.strip() for v in self.trusted_proxies.split(",") if v.strip()]

    @property
    def max_pdf_bytes(self) -> int:
        """`PDFPROMPT_MAX_PDF_MB` in bytes."""
        return self.max_pdf_mb * 1024 * 1024

    @property
    def llm_model_list(self) -> list[str]:
        """`PDFPROMPT_LLM_MODELS`, comma-separated, in fallback order."""
        return [m.strip() for m in self.llm_models.split(",") if m.strip()]

    @property
    def effective_database_url(self) -> str:
        """The configured database, or the embedded SQLite file under the data directory."""
        return self.database_url or f"sqlite:///{self.data_dir / 'pdfprompt.sqlite3'}"

    @property
    def effective_public_url(self) -> str:
        """The API's address for clients, ending in a slash."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/") + "/"

    @property
    def effective_storage_url(self) -> str:
        return self.storage_url or (self.data_dir / "files").resolve().as_uri()

    def find_chromium(self) -> str | None:
        """The configured Chromium, else the first one found on this machine: a headless
        shell before a full browser."""
        if self.chromium_path:
            return self.chromium_path if Path(self.chromium_path).exists() else None
        return find_headless_shell() or find_browser()


def _first(candidates: tuple[str, ...]) -> str | None:
    for candidate in candidates:
        if os.path.isabs(candidate):
            if Path(candidate).exists():
                return candidate
        elif found := shutil.which(candidate):
            return found
    return None


def find_headless_shell() -> str | None:
    """Chromium's headless shell, where this machine has one."""
    return _first(HEADLESS_SHELLS)


def is_headless_shell(path: str) -> bool:
    """Whether the Chromium at `path` is a headless shell, by its name (as every build of it
    is named: chrome-headless-shell, chromium-headless-shell, headless_shell)."""
    name = Path(path).name.replace("_", "-")
    return "headless-shell" in name


def find_browser() -> str | None:
    """A full Chromium or Chrome browser, where this machine has one."""
    return _first(BROWSERS)
