"""Queries more than one room asks."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select

from pdfprompt.db.tables import files


def stored_bytes(user_id: str) -> Select[Any]:
    """The bytes of the user's stored PDFs (0 when none): what counts against the plan's
    storage, kept exact because it is summed from the file rows themselves."""
    return select(func.coalesce(func.sum(files.c.size_bytes), 0)).where(files.c.user_id == user_id)
