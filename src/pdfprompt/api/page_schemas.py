"""Render options of the page itself: the media type it is laid out for, its background,
whose page size wins, and what a page that runs scripts (a URL job's) waits for."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pdfprompt.domain import MAX_SELECTOR_CHARS, MAX_WAIT_MS


class WaitForIn(BaseModel):
    """One of: `{"network_idle": true}`, `{"selector": "#ready"}`, `{"delay_ms": 500}`; each
    waits at most MAX_WAIT_MS."""

    model_config = ConfigDict(extra="forbid", strict=True)

    network_idle: Literal[True] | None = None
    selector: Annotated[str, Field(min_length=1, max_length=MAX_SELECTOR_CHARS)] | None = None
    delay_ms: Annotated[int, Field(ge=0, le=MAX_WAIT_MS)] | None = None

    @model_validator(mode="after")
    def _one(self) -> WaitForIn:
        given = [v for v in (self.network_idle, self.selector, self.delay_ms) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of network_idle, selector or delay_ms")
        return self


Media = Literal["print", "screen"]
