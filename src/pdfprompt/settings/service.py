"""Settings every process reads: where its data lives and how much it logs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field


def _default_data_dir() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "pdfprompt"


class ServiceSettings(BaseModel):
    """Every process: where the embedded default keeps its data, and its log."""

    data_dir: Path = Field(
        default_factory=_default_data_dir,
        validation_alias=AliasChoices("PDFPROMPT_DATA_DIR"),
        description=(
            "Directory of the embedded default: the SQLite database when `DATABASE_URL` is "
            "unset, and the stored PDFs when `PDFPROMPT_STORAGE_URL` is unset. Made at start "
            "when missing. `scripts/serve.sh` sets it to `./.data`."
        ),
        json_schema_extra={
            "shown_default": "`$XDG_DATA_HOME/pdfprompt` (`~/.local/share/pdfprompt`)"
        },
    )
    log_level: str = Field(
        default="info",
        validation_alias=AliasChoices("PDFPROMPT_LOG_LEVEL"),
        description=(
            "Level of the service's log and of the HTTP server's (`debug`, `info`, `warning`, "
            "`error`; any case)."
        ),
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        validation_alias=AliasChoices("PDFPROMPT_LOG_FORMAT"),
        description=(
            "`text`: one readable line per record. `json`: one JSON object per line (`time` in "
            "UTC ISO-8601, `level`, `logger`, `message`; `job_id`, `user_id`, `worker_id`, "
            "`attempt`, `stage` and `request_id` on the lines about a job; `request_id` on the "
            "API's lines; `exc` with a traceback), the HTTP server's access log included."
        ),
    )
    loop_stall_ms: int = Field(
        default=250,
        ge=0,
        le=60_000,
        validation_alias=AliasChoices("PDFPROMPT_LOOP_STALL_MS"),
        description=(
            "Every process measures how late its event loop runs what is due "
            "(`pdfprompt_event_loop_lag_seconds` in `/metrics`). When the loop has not turned "
            "for this long (a blocking call holds every request and job of the process), a "
            "warning logs where it is held (the loop thread's stack) and, once it turns, for "
            "how long. 0: no such warnings (the histogram stays)."
        ),
    )
