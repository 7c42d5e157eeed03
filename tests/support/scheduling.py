"""How the suite is shared out between pytest-xdist's processes (`--dist loadgroup`).

A group is a test file's tests on one database: a module's server parametrized over SQLite
and PostgreSQL is started once for each, so the two halves of a file can run in two
processes at the same time and no server starts twice. Tests with no database parameter
keep to their file; the fault tests are one group (they share a test bed). The groups go
out longest first (the fault tests, then the end-to-end files before the integration,
contract and unit ones, the slowest measured ones first within a layer), so that short
ones fill in at the end and no long group starts last, alone.

xdist's own `loadgroup` (an `xdist_group` mark per test) does not group under pytest 9 (it
renames a test's id where pytest no longer reads it), so this scheduler takes its place.
"""

from __future__ import annotations

from typing import Any

import pytest

DATABASES = frozenset({"sqlite", "postgresql"})
# The fault tests share one multi-host test bed: one group, in one process.
FAULTS = "tests/faults"
# The order the layers go out in: the files of the first take longest.
LAYERS = ("faults", "e2e", "integration", "contract", "unit")
# Seconds the longest groups took in one full run (two processes, a file to a process, on
# a heavily loaded machine: their order is what counts); the other groups go out after
# them within their layer, in pytest's order.
SLOW: dict[str, float] = {
    # One test of 151 s in the last CI run (four processes): out early, so that it never
    # starts last and runs alone at the end.
    "tests/e2e/test_rolling_restart.py": 151,
    "tests/e2e/test_pdf_jobs.py[sqlite]": 588,
    "tests/e2e/test_accounts.py[postgresql]": 588,
    "tests/e2e/test_signing.py[sqlite]": 348,
    "tests/e2e/test_client_cli.py[postgresql]": 276,
    "tests/e2e/test_accounts.py[sqlite]": 259,
    "tests/e2e/test_web_settings.py[sqlite]": 252,
    "tests/e2e/test_flow.py[sqlite]": 238,
    "tests/e2e/test_templates.py[postgresql]": 232,
    "tests/e2e/test_assets.py[postgresql]": 225,
    "tests/e2e/test_signing.py": 155,
    "tests/integration/test_render_limits.py": 152,
    "tests/e2e/test_client.py[postgresql]": 150,
    "tests/contract/test_renderer.py": 144,
    "tests/e2e/test_web_pages.py[sqlite]": 132,
    "tests/e2e/test_hostile.py[postgresql]": 129,
    "tests/e2e/test_contract.py[postgresql]": 128,
    "tests/e2e/test_webhooks.py[postgresql]": 124,
    "tests/e2e/test_batches.py[postgresql]": 120,
    "tests/e2e/test_web_documents.py[sqlite]": 92,
    "tests/e2e/test_flow.py[postgresql]": 84,
    "tests/e2e/test_web_templates.py[sqlite]": 80,
    "tests/e2e/test_template_batches.py[postgresql]": 80,
    "tests/integration/test_worker.py[postgresql]": 74,
    "tests/integration/test_url_pages.py": 74,
    "tests/integration/test_webhook_addresses.py[postgresql]": 64,
}


def database_of(nodeid: str) -> str | None:
    """The database one of the test's parameters names (`sqlite`, `postgresql`), if any."""
    _, bracket, ids = nodeid.partition("::")[2].partition("[")
    if not bracket:
        return None
    return next((p for p in ids.rstrip("]").split("-") if p in DATABASES), None)


def group_of(nodeid: str) -> str:
    """`path` of the test's file, with `[sqlite]` or `[postgresql]` when one of the test's
    parameters names that database."""
    path = nodeid.partition("::")[0]
    if path.startswith(FAULTS):
        return FAULTS  # one test bed for them all (tests/faults/conftest.py)
    database = database_of(nodeid)
    return path if database is None else f"{path}[{database}]"


def rank(group: str) -> tuple[int, float]:
    parts = group.split("/")
    layer = LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else len(LAYERS)
    return layer, -SLOW.get(group, 0.0)


def order_items(items: list[pytest.Item]) -> None:
    """Put the tests in the order their groups go out in (each group's tests stay together,
    in pytest's order)."""
    groups: dict[str, list[pytest.Item]] = {}
    for item in items:
        groups.setdefault(group_of(item.nodeid), []).append(item)
    items[:] = [item for group in sorted(groups, key=rank) for item in groups[group]]


def on_other_database(item: pytest.Item) -> bool:
    """Whether `item` runs on a database its module leaves to the other one: a module marked
    `one_database(NAME)` (its subject is not the database: the store and the queue are
    tested on both elsewhere) runs its database-parametrized tests on NAME alone, unless
    `PDFPROMPT_TEST_ALL_DATABASES=1`."""
    mark = item.get_closest_marker("one_database")
    database = database_of(item.nodeid)
    return mark is not None and database is not None and database != mark.args[0]


def make_scheduler(config: pytest.Config, log: Any) -> Any:
    """A scheduler that hands each process whole groups, in the order of the collection
    (which `order_items` set)."""
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    config.option.loadscopereorder = False
    return GroupScheduling(config, log)
