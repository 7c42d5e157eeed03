"""PDF jobs (`merge`, `split`, `pdf`): how many PDFs a merge takes, and the limits a PDF a
user brings is read within (in a child process, at upload and in every job)."""

from __future__ import annotations

from pydantic import AliasChoices, BaseModel, Field

from pdfprompt.domain import PdfLimits


class PdfJobSettings(BaseModel):
    pdf_max_inputs: int = Field(
        default=20,
        ge=2,
        le=500,
        validation_alias=AliasChoices("PDFPROMPT_PDF_MAX_INPUTS"),
        description=("Most PDFs one `merge` job takes (`422 invalid_input` on `inputs` above)."),
    )
    pdf_max_pages: int = Field(
        default=2000,
        ge=1,
        le=100_000,
        validation_alias=AliasChoices("PDFPROMPT_PDF_MAX_PAGES"),
        description=(
            "Most pages of a PDF a user brings, and of what a PDF job makes from them; an "
            "upload with more is refused (`422` on `file`), a job fails with "
            "`page_limit_exceeded`."
        ),
    )
    pdf_memory_mb: int = Field(
        default=1024,
        ge=256,
        le=65536,
        validation_alias=AliasChoices("PDFPROMPT_PDF_MEMORY_MB"),
        description=(
            "Address space of the process a PDF a user brings is read in (one per upload "
            "check and per job); past it the job fails with `pdf_too_complex`."
        ),
    )
    pdf_timeout_s: float = Field(
        default=120.0,
        gt=0,
        le=3600,
        validation_alias=AliasChoices("PDFPROMPT_PDF_TIMEOUT_S"),
        description=(
            "Longest time one operation on PDFs a user brings may take (its process is then "
            "stopped): a job fails with `pdf_timeout` (retried once), an upload is refused. Its "
            "CPU time is capped at half of it (`pdf_too_complex`)."
        ),
    )
    pdf_processes: int = Field(
        default=2,
        ge=1,
        le=64,
        validation_alias=AliasChoices("PDFPROMPT_PDF_PROCESSES"),
        description=(
            "Most processes working on PDFs users bring at once, in each worker (and as many "
            "checking uploads in each API process)."
        ),
    )

    def pdf_limits(self) -> PdfLimits:
        """The limits a PDF a user brings is read within."""
        return PdfLimits(
            max_pages=self.pdf_max_pages,
            memory_bytes=self.pdf_memory_mb * 1024 * 1024,
            cpu_s=max(1, int(self.pdf_timeout_s / 2)),
            timeout_s=self.pdf_timeout_s,
        )
