"""The job store under test: one per test's clean database, SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.queue import JobStore, job_store_for


@pytest.fixture
def store(engine: AsyncEngine) -> JobStore:
    return job_store_for(engine)
