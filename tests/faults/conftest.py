"""One fault test bed for the fault tests (tests/support/testbed): bringing one up is the
heaviest step of the suite, so their scenarios run one after another on the same bed (one
scheduling group, tests/support/scheduling.py), each with users of its own and the bed
healed after it. The bed goes down after the package's last test, before the process runs
other groups."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.databases import IN_CI
from tests.support.testbed.hosts import Bed, BedConfig, bed
from tests.support.testbed.net import can_make_namespaces
from tests.support.testbed.run import Outcome


@pytest.fixture(scope="package")
def fault_bed() -> Iterator[Bed]:
    problem = can_make_namespaces()
    if problem is not None:
        if IN_CI:
            pytest.fail(f"the fault tests must run under CI=true: {problem}")
        pytest.skip(problem)
    with bed(BedConfig()) as made:
        yield made


def assert_clean(outcome: Outcome, kind: str | None = None, times: int = 1) -> None:
    report = outcome.report()
    assert outcome.findings.clean, report
    assert outcome.drain_s >= 0, report
    assert not outcome.nemesis.errors, report
    if kind is not None:
        assert outcome.nemesis.injected[kind] >= times, report
