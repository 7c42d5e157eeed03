"""The `sign` option as the API takes it and as a worker reads it back from the stored job:
what is given is what the signer gets, defaults filled in, and nothing else is taken."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from pdfprompt.api.schemas import OptionsIn
from pdfprompt.domain import FinishOptions, SignatureBox, Signing

CERTIFICATE = "crt_01a242f6-4644-71fe-9494-fed217f31aab"


def _stored(sign: dict[str, Any]) -> Signing | None:
    options = OptionsIn.model_validate({"sign": sign}).stored()
    return FinishOptions.from_dict(options).sign


def test_what_is_given_is_what_the_signer_gets() -> None:
    assert _stored({}) == Signing()
    assert FinishOptions.from_dict(OptionsIn.model_validate({}).stored()).sign is None
    assert _stored({"box": {}}) == Signing(box=SignatureBox())
    assert _stored(
        {
            "certificate": CERTIFICATE,
            "box": {"page": -1, "x": 10, "y": 20.5, "width": 100, "height": 40},
            "reason": "Approved",
            "location": "Ghent",
            "contact": "a@example.com",
            "timestamp": True,
        }
    ) == Signing(
        certificate=CERTIFICATE,
        box=SignatureBox(page=-1, x=10, y=20.5, width=100, height=40),
        reason="Approved",
        location="Ghent",
        contact="a@example.com",
        timestamp=True,
    )


@pytest.mark.parametrize(
    ("sign", "where"),
    [
        ({"certificate": "ast_01a242f6-4644-71fe-9494-fed217f31aab"}, "certificate"),
        ({"box": {"page": 0}}, "box"),
        ({"box": {"x": -1}}, "x"),
        ({"box": {"width": 0}}, "width"),
        ({"box": {"height": 20000}}, "height"),
        ({"box": {"page": "1"}}, "page"),
        ({"reason": ""}, "reason"),
        ({"reason": "x" * 201}, "reason"),
        ({"location": "a\tb"}, "location"),
        ({"timestamp": 1}, "timestamp"),
        ({"level": "B-LT"}, "level"),
    ],
)
def test_what_the_signer_cannot_use_is_refused(sign: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as refused:
        OptionsIn.model_validate({"sign": sign})
    assert where in str(refused.value.errors()[0]["loc"]) or where in str(refused.value)


def test_signing_settings_refuse_what_could_not_work() -> None:
    from pdfprompt.settings import Settings

    with pytest.raises(ValidationError, match="http"):
        Settings(tsa_url="ftp://tsa.example.com/")
    with pytest.raises(ValidationError, match="32 characters"):
        Settings(secret_key="short")
    taken = Settings(tsa_url="https://tsa.example.com/tsr", secret_key="k" * 32)
    assert taken.tsa_url == "https://tsa.example.com/tsr"
    assert "k" * 32 not in repr(taken)  # a secret is not shown
