"""How the suite is shared out between test processes (tests/support/scheduling.py)."""

from __future__ import annotations

from tests.support.scheduling import database_of, group_of, rank


def test_a_file_splits_by_database_and_the_fault_tests_share_one_group() -> None:
    assert group_of("tests/e2e/test_flow.py::test_x[sqlite]") == "tests/e2e/test_flow.py[sqlite]"
    assert group_of("tests/e2e/test_flow.py::test_x[postgresql-big]") == (
        "tests/e2e/test_flow.py[postgresql]"
    )
    assert group_of("tests/unit/test_x.py::test_y[a-b]") == "tests/unit/test_x.py"
    faults = {
        group_of("tests/faults/test_crashes.py::test_a[kill_worker]"),
        group_of("tests/faults/test_partitions.py::test_b[packet_loss]"),
        group_of("tests/faults/test_schedule.py::test_c"),
    }
    assert faults == {"tests/faults"}


def test_the_fault_bed_goes_out_first_and_unit_tests_last() -> None:
    groups = [
        "tests/unit/test_x.py",
        "tests/e2e/test_pdf_jobs.py[sqlite]",
        "tests/faults",
        "tests/e2e/test_flow.py[sqlite]",
    ]
    assert sorted(groups, key=rank) == [
        "tests/faults",
        "tests/e2e/test_pdf_jobs.py[sqlite]",
        "tests/e2e/test_flow.py[sqlite]",
        "tests/unit/test_x.py",
    ]


def test_the_database_a_test_runs_on_is_read_from_its_parameters() -> None:
    assert database_of("tests/e2e/test_flow.py::test_x[sqlite]") == "sqlite"
    assert database_of("tests/e2e/test_flow.py::test_x[big-postgresql]") == "postgresql"
    assert database_of("tests/e2e/test_flow.py::test_x[sqlite_file]") is None
    assert database_of("tests/e2e/test_flow.py::test_x") is None
