"""Process faults: a worker host killed (SIGKILL) and brought back, a worker stopped
(SIGSTOP) past its lease and resumed, PostgreSQL restarted (fast or immediate), S3 stopped
and unplugged. After healing, nothing accepted is lost, stored twice or left behind."""

from __future__ import annotations

import pytest

from tests.faults.conftest import assert_clean
from tests.support.testbed.hosts import Bed
from tests.support.testbed.run import run

# A bed takes a while to come up on a busy machine: its setup counts towards the first test.
pytestmark = [pytest.mark.postgres, pytest.mark.chromium, pytest.mark.timeout(600)]
JOBS = 24


@pytest.mark.parametrize(
    "kind", ["kill_worker", "pause_worker_past_lease", "restart_pg", "restart_s3"]
)
def test_a_process_fault_loses_duplicates_and_leaves_nothing(fault_bed: Bed, kind: str) -> None:
    outcome = run(fault_bed, kinds=(kind,), jobs=JOBS, every_s=1.5, hold_s=2.0, rounds=1)
    assert_clean(outcome, kind, times=1)
