"""Plans: the built-in ladder, the plans file, quota periods."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pdfprompt.accounts import load_plans
from pdfprompt.domain import BUILTIN_PLANS, InvalidInputError, period_bounds, period_of


def test_the_built_in_ladder() -> None:
    pdfs = {name: plan.pdfs_per_month for name, plan in BUILTIN_PLANS.items()}
    assert pdfs == {
        "starter": 3,
        "classic": 50,
        "professional": 5_000,
        "pro_plus": 10_000,
        "business": 50_000,
        "enterprise": None,
    }
    starter = BUILTIN_PLANS["starter"]
    assert starter.watermark and starter.max_prompt_chars == 2_000
    assert starter.retention_days == 30


def test_a_plans_file_changes_built_ins_and_adds_plans(tmp_path: Path) -> None:
    path = tmp_path / "plans.toml"
    fields = {f: 1 for f in BUILTIN_PLANS["classic"].as_dict() if f != "name"}
    new_plan = "\n".join(f"{k} = {v}" for k, v in fields.items() if k != "watermark")
    path.write_text(
        '[plans.classic]\npdfs_per_month = 100\nstorage_bytes = "unlimited"\n\n'
        f"[plans.team]\n{new_plan}\nwatermark = false\n"
    )
    plans = load_plans(path)
    assert plans["classic"].pdfs_per_month == 100 and plans["classic"].storage_bytes is None
    assert plans["classic"].max_pages == BUILTIN_PLANS["classic"].max_pages  # kept
    assert plans["team"].rate_limit_per_minute == 1 and not plans["team"].watermark
    assert set(BUILTIN_PLANS) < set(plans)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[plans.team]\npdfs_per_month = 5\n", "missing field(s)"),
        ("[plans.classic]\ncolour = 'red'\n", "unknown field(s) colour"),
        ("[plans.classic]\npdfs_per_month = -1\n", "pdfs_per_month must be"),
        ("[plans.classic]\nwatermark = 'yes'\n", "watermark must be true or false"),
        ("[plan.classic]\npdfs_per_month = 1\n", "unknown table(s) plan"),
        ("[plans.classic\n", "not valid TOML"),
    ],
)
def test_a_bad_plans_file_is_refused_naming_the_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "plans.toml"
    path.write_text(text)
    with pytest.raises(InvalidInputError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        load_plans(path)


def test_periods_are_calendar_months_in_utc() -> None:
    assert period_of(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == "2026-12"
    start, end = period_bounds("2026-12")
    assert (start, end) == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
