"""The shapes of the batch routes' requests and answers (pydantic at the edge)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, model_validator

from pdfprompt.api.schemas import BatchRefOut, JobOut, OptionsIn, Strict
from pdfprompt.domain import Batch


class BatchIn(Strict):
    """Either `jobs` (job bodies as `POST /v1/jobs` takes them) or `template` and `items`
    (the template's data, one object per row), with a file name pattern for the archive."""

    jobs: list[Any] | None = Field(
        default=None,
        description="Job bodies as POST /v1/jobs takes them; each is checked on its own.",
    )
    template: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    items: list[Any] | None = None
    options: OptionsIn | None = None
    filename: Annotated[str, Field(min_length=1, max_length=200)] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> BatchIn:
        if self.jobs is not None and (self.template is not None or self.items is not None):
            raise ValueError("give either jobs, or template and items, not both")
        if self.jobs is None and (self.template is None or self.items is None):
            raise ValueError("give jobs, or template and items")
        if self.jobs is not None and self.options is not None:
            raise ValueError("options go in each job of jobs")
        return self


class TemplateRefOut(BaseModel):
    id: str
    version: int | None


class BatchCountsOut(BaseModel):
    queued: int
    running: int
    succeeded: int
    failed: int
    canceled: int


class BatchOut(BaseModel):
    id: str
    status: str
    total: int
    counts: BatchCountsOut
    progress: float
    template: TemplateRefOut | None
    filename: str
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, batch: Batch) -> BatchOut:
        template = None
        if batch.template_id is not None:
            template = TemplateRefOut(id=batch.template_id, version=batch.template_version)
        return cls(
            id=batch.id,
            status=batch.status.value,
            total=batch.total,
            counts=BatchCountsOut(**batch.counts.as_dict()),
            progress=batch.progress,
            template=template,
            filename=batch.filename,
            created_at=batch.created_at,
            finished_at=batch.ended_at,
        )


class BatchList(BaseModel):
    items: list[BatchOut]
    next_cursor: str | None


class BatchJobOut(JobOut):
    batch: BatchRefOut


class BatchJobList(BaseModel):
    items: list[BatchJobOut]
    next_cursor: str | None
