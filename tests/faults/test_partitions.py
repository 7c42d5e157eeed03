"""Network faults: a worker cut from PostgreSQL (one way), a worker cut from S3 (one way), an
API host unplugged, 10 % packet loss on every link. After healing, nothing accepted is lost,
stored twice or left behind (tests/support/testbed/checker.py)."""

from __future__ import annotations

import pytest

from tests.faults.conftest import assert_clean
from tests.support.testbed.hosts import Bed
from tests.support.testbed.run import run

# A bed takes a while to come up on a busy machine: its setup counts towards the first test.
pytestmark = [pytest.mark.postgres, pytest.mark.chromium, pytest.mark.timeout(600)]
JOBS = 24


@pytest.mark.parametrize(
    "kind", ["partition_worker_pg", "partition_worker_s3", "partition_api", "packet_loss"]
)
def test_a_network_fault_loses_duplicates_and_leaves_nothing(fault_bed: Bed, kind: str) -> None:
    outcome = run(fault_bed, kinds=(kind,), jobs=JOBS, every_s=1.5, hold_s=2.0, rounds=1)
    assert_clean(outcome, kind, times=1)
    if kind == "partition_api":
        # Submissions met the unplugged host and were sent again, same key, to the other.
        assert outcome.findings.counts["retried on the other API host"] > 0, outcome.report()
