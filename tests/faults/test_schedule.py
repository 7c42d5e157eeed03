"""The whole schedule of faults, one after another, at a small size; and a worker whose wall
clock runs hours ahead (libfaketime), which changes nothing: leases and retries are timed
by the database's clock."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from tests.faults.conftest import assert_clean
from tests.support.testbed.hosts import Bed, faketime_available
from tests.support.testbed.nemesis import KINDS
from tests.support.testbed.run import run

# A bed takes a while to come up on a busy machine: its setup counts towards the first test.
pytestmark = [pytest.mark.postgres, pytest.mark.chromium, pytest.mark.timeout(600)]


def test_the_whole_schedule_loses_duplicates_and_leaves_nothing(fault_bed: Bed) -> None:
    outcome = run(fault_bed, kinds=KINDS, jobs=40, every_s=1.0, hold_s=2.0)
    for kind in KINDS:
        assert_clean(outcome, kind)


def test_a_worker_with_a_skewed_clock_changes_nothing(fault_bed: Bed) -> None:
    if not faketime_available():
        pytest.skip("libfaketime is not installed (scripts/setup.sh test installs it)")
    skewed = fault_bed.config.skewed_worker
    assert skewed is not None
    log = fault_bed.services[skewed]
    before = log.log().count("succeeded in")
    outcome = run(fault_bed, kinds=(), jobs=30)
    assert_clean(outcome)
    text = log.log()
    # That worker's wall clock is hours ahead (its log lines are stamped by it) ...
    stamps = re.findall(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", text, re.MULTILINE)
    ahead_s = (
        datetime.fromisoformat(stamps[-1]).replace(tzinfo=UTC) - datetime.now(UTC)
    ).total_seconds()
    assert ahead_s > 3600, stamps[-1]
    # ... and it ran jobs of this workload, which all ended as they should.
    assert text.count("succeeded in") > before, outcome.report()
