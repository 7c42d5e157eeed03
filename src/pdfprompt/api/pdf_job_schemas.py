"""The request shapes of the PDF job types (`merge`, `split`, `pdf`) in `POST /v1/jobs`: an
input given as an object, and a split's ranges."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from pdfprompt.domain import SPLIT_RANGES, InvalidInputError, split_spans

MAX_INPUTS_LISTED = 500  # the schema's bound; the server's own limit is checked after


class PdfInputIn(BaseModel):
    """One PDF of a merge, named by what it is: an uploaded PDF (`asset`: id or name), a job
    that made a PDF (`job`) or its file (`file`); `title`: its outline entry (default: the
    PDF's own title, else its name)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    asset: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    job: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    file: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    title: Annotated[str, Field(min_length=1, max_length=200)] | None = None

    @model_validator(mode="after")
    def _one(self) -> PdfInputIn:
        if sum(x is not None for x in (self.asset, self.job, self.file)) != 1:
            raise ValueError("name one of asset, job or file")
        if self.title is not None and not self.title.strip():
            raise ValueError("title is empty")
        return self


def _ranges(value: str) -> str:
    try:
        split_spans(value, "ranges")
    except InvalidInputError as exc:
        raise ValueError(exc.message.removeprefix("ranges: ")) from None
    return value.replace(" ", "")


def _ref(value: Any) -> Any:
    """An input checked before the union of its forms is: an error names the input
    (`inputs.1`) and says what is wrong, not which form it failed to be."""
    if isinstance(value, str):
        if not 1 <= len(value) <= 200:
            raise ValueError("must be 1 to 200 characters")
        return value
    if isinstance(value, dict):
        try:
            PdfInputIn.model_validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            said = "unknown field" if first["type"] == "extra_forbidden" else first["msg"]
            said = said.removeprefix("Value error, ")
            raise ValueError(f"{where}: {said}" if where else said) from None
        return value
    raise ValueError(
        "must be an asset's id or name, a job's or file's id, or an object naming one of "
        "asset, job or file"
    )


PdfRefIn = Annotated[
    Annotated[str, Field(min_length=1, max_length=200)] | PdfInputIn, BeforeValidator(_ref)
]
PdfInputs = Annotated[list[PdfRefIn], Field(max_length=MAX_INPUTS_LISTED)]
SplitRanges = Annotated[
    str,
    Field(min_length=1, max_length=2000, json_schema_extra={"pattern": SPLIT_RANGES}),
    AfterValidator(_ranges),
]
