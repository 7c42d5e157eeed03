"""Templates: how large a template and its output may be, and how long filling one may take."""

from __future__ import annotations

from pydantic import AliasChoices, BaseModel, Field


class TemplateSettings(BaseModel):
    template_max_body_bytes: int = Field(
        default=262_144,
        ge=1024,
        validation_alias=AliasChoices("PDFPROMPT_TEMPLATE_MAX_BODY_BYTES"),
        description=(
            "Largest template body, in UTF-8 bytes (`413 payload_too_large` on `body` above); "
            "checked before the body is compiled."
        ),
    )
    template_max_output_bytes: int = Field(
        default=5_242_880,
        ge=1024,
        validation_alias=AliasChoices("PDFPROMPT_TEMPLATE_MAX_OUTPUT_BYTES"),
        description=(
            "Largest document a template may make from its data, in characters; filling "
            "stops there and the job fails with `template_error`."
        ),
    )
    template_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=300,
        validation_alias=AliasChoices("PDFPROMPT_TEMPLATE_TIMEOUT_S"),
        description=(
            "Longest time filling a template may take (in a separate process, stopped when "
            "the time is up); past it the job fails with `template_timeout`."
        ),
    )
