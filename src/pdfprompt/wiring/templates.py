"""The checks of what a template holds, for the rooms that may not import `generate`."""

from __future__ import annotations

from pdfprompt.generate import check_body, check_data, check_schema

__all__ = ["check_body", "check_data", "check_schema"]
