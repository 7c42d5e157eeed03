"""Which tests a run selects: a module marked for one database (tests/conftest.py,
tests/support/scheduling.py `on_other_database`), seen in a real pytest collection."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.scheduling import database_of


def _collected(path: str, **env: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:xdist", path],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    ).stdout
    return [line for line in out.splitlines() if "::" in line]


def test_a_module_marked_for_one_database_runs_there_unless_all_are_asked_for() -> None:
    """tests/e2e/test_signing.py is marked `one_database("sqlite")`: its PostgreSQL half is
    deselected, its tests with no database stay, and PDFPROMPT_TEST_ALL_DATABASES=1 brings
    the other half back."""
    path = "tests/e2e/test_signing.py"
    one = _collected(path, PDFPROMPT_TEST_ALL_DATABASES="")
    every = _collected(path, PDFPROMPT_TEST_ALL_DATABASES="1")
    assert {database_of(t) for t in one} == {"sqlite", None}
    assert {database_of(t) for t in every} == {"sqlite", "postgresql", None}
    assert set(one) == {t for t in every if database_of(t) != "postgresql"}
