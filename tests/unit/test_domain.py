"""Domain rules with no I/O: ids, retry policy, option checks, filenames."""

from __future__ import annotations

import random
import uuid

import pytest

from pdfprompt.domain import (
    InvalidInputError,
    JobStatus,
    RenderOptions,
    RetryPolicy,
    check_css_length,
    check_page_ranges,
    new_id,
    page_numbers,
    retry_decision,
    safe_filename,
)


def test_ids_are_uuid7_and_made_in_one_process_only_increase() -> None:
    ids = [new_id() for _ in range(20_000)]  # many fall within one millisecond
    assert all(uuid.UUID(i).version == 7 and uuid.UUID(i).variant == uuid.RFC_4122 for i in ids)
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(base_s=2, cap_s=60)
    rng = random.Random(7)
    for attempts, (low, high) in {1: (1, 2), 2: (2, 4), 3: (4, 8), 10: (30, 60)}.items():
        delays = [policy.delay_s(attempts, rng) for _ in range(200)]
        assert low <= min(delays) and max(delays) <= high
        assert max(delays) - min(delays) > (high - low) / 4  # jitter spreads retries out


@pytest.mark.parametrize(
    ("transient", "attempts", "max_attempts", "retry"),
    [(True, 1, 3, True), (True, 3, 3, False), (False, 1, 3, False)],
)
def test_retry_only_transient_errors_while_attempts_remain(
    transient: bool, attempts: int, max_attempts: int, retry: bool
) -> None:
    assert (
        retry_decision(transient=transient, attempts=attempts, max_attempts=max_attempts) is retry
    )


def test_final_statuses() -> None:
    assert {s for s in JobStatus if s.is_final} == {"succeeded", "failed", "canceled"}


@pytest.mark.parametrize("value", ["12mm", "1in", "0.5cm", "40px", "10pt", "3pc", "0", " 2mm "])
def test_css_lengths_accepted(value: str) -> None:
    assert check_css_length(value, "x") == value.strip()


@pytest.mark.parametrize("value", ["", "lots", "12 apples", "-3mm", "1e3px", "calc(1px)", "10%"])
def test_css_lengths_refused(value: str) -> None:
    with pytest.raises(InvalidInputError, match="not a length"):
        check_css_length(value, "options.margin.top")


@pytest.mark.parametrize(("value", "normal"), [("1-3, 5", "1-3,5"), ("2", "2"), ("1-1", "1-1")])
def test_page_ranges_accepted(value: str, normal: str) -> None:
    assert check_page_ranges(value) == normal


@pytest.mark.parametrize("value", ["", "a", "1-", "0", "5-2", "1,,2"])
def test_page_ranges_refused(value: str) -> None:
    with pytest.raises(InvalidInputError):
        check_page_ranges(value)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("report", "report.pdf"),
        ("../../etc/passwd", "passwd.pdf"),
        ('a"b;c\r\n.pdf', "abc.pdf"),
        ("  ", "default.pdf"),
        (None, "default.pdf"),
        ("Bericht über Q3", "Bericht über Q3.pdf"),
    ],
)
def test_safe_filename(name: str | None, expected: str) -> None:
    assert safe_filename(name, "default.pdf") == expected


def test_render_options_from_stored_dict() -> None:
    options = RenderOptions.from_dict(
        {
            "format": "Letter",
            "margin": {"top": "1in", "right": "1in", "bottom": "1in", "left": "2in"},
        }
    )
    assert options.format == "Letter" and options.margin.left == "2in"
    # What the request leaves out stays unset: the document's @page rules decide it.
    unset = RenderOptions.from_dict({})
    assert (unset.format, unset.landscape, unset.margin, unset.size_named) == (
        None,
        None,
        None,
        False,
    )
    assert unset.css_size == "A4 portrait" and unset.page_margin.top == "16mm"
    assert RenderOptions.from_dict({"landscape": False}).size_named


def test_errors_survive_pickling_with_their_attributes() -> None:
    """Errors raised in a render process reach the worker whole (code, field, transient)."""
    import pickle

    from pdfprompt.domain import DuplicateJobError, InvalidInputError, LlmKeysCoolingError

    field = pickle.loads(pickle.dumps(InvalidInputError("bad", field="input", transient=True)))
    assert (field.message, field.field, field.transient, field.code) == (
        "bad",
        "input",
        True,
        "invalid_input",
    )
    duplicate = pickle.loads(pickle.dumps(DuplicateJobError("dup", existing_job_id="j1")))
    assert duplicate.existing_job_id == "j1" and str(duplicate) == "dup"
    cooling = pickle.loads(pickle.dumps(LlmKeysCoolingError("wait", retry_after_s=3.5)))
    assert cooling.retry_after_s == 3.5 and cooling.transient


def test_page_numbers_skip_pages_past_the_end_and_refuse_none() -> None:
    assert page_numbers("5,1-2,2-3", 10) == [1, 2, 3, 5]
    assert page_numbers("3-9", 4) == [3, 4]
    with pytest.raises(InvalidInputError, match="picks no page of the document \\(it has 4\\)"):
        page_numbers("7-9", 4)
