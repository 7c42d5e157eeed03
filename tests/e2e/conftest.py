"""Fixtures of the end-to-end tests: `pdfprompt` served on each database, and deployments
with a plans file."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from tests.support.accounts import PLANS, Start
from tests.support.processes import (
    Process,
    new_database,
    service_env,
    serving,
    start_server,
    upgrade_database,
)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Process, dict[str, str]]]:
    """`pdfprompt serve` (API and worker in one process), once per database for a module.

    Tests sharing it keep apart by creating their own user.
    """
    tmp = tmp_path_factory.mktemp(f"serve-{request.param}")
    with serving(request, tmp, request.param) as served:
        yield served


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Start, dict[str, str]]]:
    """A database and a plans file; `start(role, **env)` starts `pdfprompt <role>` on them
    (stopped at the end). Yields it and the environment for the CLI."""
    tmp = tmp_path_factory.mktemp(f"accounts-{request.param}")
    plans = tmp / "plans.toml"
    plans.write_text(PLANS)
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(new_database(request, tmp, request.param))
        env = service_env(tmp / "data", url, PDFPROMPT_PLANS_FILE=str(plans))
        if request.param == "postgresql":
            upgrade_database(env)
        started = 0

        def start(role: str, **extra: str) -> Process:
            nonlocal started
            started += 1
            server = start_server(role, {**env, **extra}, tmp / f"{role}-{started}.log")
            stack.callback(server.stop)
            return server

        yield start, env
