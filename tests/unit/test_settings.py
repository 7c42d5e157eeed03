"""Settings read the environment names operators know."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from pdfprompt.db import async_url
from pdfprompt.settings import Settings


def test_environment_names(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = {
        "PDFPROMPT_DATA_DIR": str(tmp_path),
        "DATABASE_URL": "postgresql://u:p@db:5432/pp",
        "DATABASE_MAX_CONNECTIONS": "17",
        "DATABASE_IDLE_TIMEOUT": "42",
        "DATABASE_CONNECT_TIMEOUT": "3",
        "PDFPROMPT_WORKER_CONCURRENCY": "5",
        "MAX_PDF_CONCURRENCY": "3",
        "BROWSER_POOL_SIZE": "2",
        "PDFPROMPT_BATCH_SIZE": "4",
        "PDFPROMPT_POLL_MS": "250",
        "PDFPROMPT_CHROMIUM_PATH": "/opt/chrome",
        "OPENROUTER_API_KEY": "k0",
        "OPENROUTER_API_KEY3": "k3",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    s = Settings()
    assert s.data_dir == tmp_path
    assert s.database_max_connections == 17
    assert s.database_idle_timeout_s == 42
    assert s.database_connect_timeout_s == 3
    assert (s.worker_concurrency, s.max_pdf_concurrency, s.browser_pool_size) == (5, 3, 2)
    assert (s.batch_size, s.poll_ms) == (4, 250)
    assert s.chromium_path == "/opt/chrome"
    assert [k.get_secret_value() for k in s.llm_api_keys] == ["k0", "k3"]
    assert "k0" not in repr(s) and "k3" not in repr(s)


def test_embedded_default_lives_in_the_data_dir(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path)
    assert s.effective_database_url == f"sqlite:///{tmp_path / 'pdfprompt.sqlite3'}"
    assert s.effective_storage_url == (tmp_path / "files").as_uri()


def test_bad_database_url_is_named() -> None:
    with pytest.raises(ValidationError, match="DATABASE_URL"):
        Settings(database_url="mysql://x")
    # Each connection to an in-memory SQLite database would see a database of its own.
    with pytest.raises(ValidationError, match="not :memory:"):
        Settings(database_url="sqlite:///:memory:")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///a/b.db", "sqlite+aiosqlite:///a/b.db"),
        ("postgresql://u:p@h/db", "postgresql+asyncpg://u:p@h/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_async_driver_urls(url: str, expected: str) -> None:
    assert async_url(url) == expected


def test_render_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings()
    assert defaults.max_pdf_bytes == 200 * 1024 * 1024
    assert defaults.render_memory_limit_mb == 2048
    monkeypatch.setenv("PDFPROMPT_MAX_PDF_MB", "5")
    monkeypatch.setenv("PDFPROMPT_RENDER_MEMORY_LIMIT_MB", "512")
    s = Settings()
    assert (s.max_pdf_mb, s.max_pdf_bytes, s.render_memory_limit_mb) == (5, 5 * 1024 * 1024, 512)
    monkeypatch.setenv("PDFPROMPT_RENDER_MEMORY_LIMIT_MB", "100")  # under the floor
    with pytest.raises(ValidationError, match="greater than or equal to 256"):
        Settings()
