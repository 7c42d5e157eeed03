"""The `pdfprompt` processes started as a user starts them, driven over real HTTP."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.databases import free_port, pg_database
from tests.support.waiting import wait_until

PDFPROMPT = str(Path(sys.executable).with_name("pdfprompt"))


def stop_process(
    proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout_s: float = 30
) -> None:
    """Send `sig` to a running process and wait `timeout_s` for it to exit; kill it if it
    has not by then."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)


def service_env(data_dir: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PDFPROMPT_", "DATABASE_"))}
    env.update(
        PDFPROMPT_DATA_DIR=str(data_dir),
        DATABASE_URL=database_url,
        PDFPROMPT_POLL_MS="200",
        PDFPROMPT_LOG_LEVEL="info",
    )
    env.update(extra)
    return env


def cli(
    env: dict[str, str], *args: str, check: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`pdfprompt ARGS`; `stdin`: text piped to it."""
    result = subprocess.run(
        [PDFPROMPT, *args], env=env, capture_output=True, text=True, timeout=120, input=stdin
    )
    if check and result.returncode != 0:
        raise AssertionError(f"pdfprompt {' '.join(args)} failed:\n{result.stderr}")
    return result


def upgrade_database(env: dict[str, str]) -> None:
    """The migrations applied to the database of the settings in `env`, as `pdfprompt db
    upgrade` applies them (that command is tested in tests/e2e/test_db_upgrade_lock.py and
    tests/e2e/test_deploy.py), in this process: see `new_account`."""
    from pdfprompt.settings import Settings
    from pdfprompt.wiring.admin import upgrade_database as upgrade

    settings = Settings.model_validate(env)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, upgrade(settings)).result(timeout=300)


def create_key(env: dict[str, str], email: str) -> str:
    """A new user on the default plan and their API key (`new_account`)."""
    return new_account(env, email)[1]


def new_account(
    env: dict[str, str], email: str, *, plan: str | None = None, password: str | None = None
) -> tuple[str, str]:
    """A new user (on `plan`, else the default plan of the settings in `env`; with
    `password` for the web pages) and an API key: their id and the key. Made through the
    account store as `pdfprompt users create` makes them, in this process: a command's start
    costs a second of CPU and the suite makes hundreds of users. The command itself is
    tested where it is the subject (tests/e2e/test_accounts.py, tests/support/people.py
    `make_person`)."""
    from pdfprompt.settings import Settings
    from pdfprompt.wiring.admin import account_store

    settings = Settings.model_validate(env)

    async def make() -> tuple[str, str]:
        async with account_store(settings) as accounts:
            user = await accounts.create_user(
                email, plan or accounts.default_plan, password=password
            )
            return user.id, (await accounts.create_key(user.id, name="default")).secret

    # A thread of its own: the caller may be a test running in an event loop.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, make()).result(timeout=120)


@dataclass
class Process:
    args: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    base_url: str = ""
    _log: object = field(default=None, repr=False)

    def start(self) -> Process:
        log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self._log = log
        self.proc = subprocess.Popen(
            [PDFPROMPT, *self.args], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        return self

    def wait_ready(self, timeout_s: float = 180) -> None:
        """Until the process answers /readyz. A generous bound: on a machine busy with the
        whole suite, a start (imports, migrations, Chromium) has taken over a minute."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"pdfprompt exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"pdfprompt not ready after {timeout_s}s:\n{self.log()}")

    def wait_worker_running(self, timeout_s: float = 180) -> None:
        """Until a `pdfprompt worker` says it runs (its browsers up, its loop claiming). A
        generous bound, as for `wait_ready`."""

        def running() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"pdfprompt worker exited early:\n{self.log()}")
            return " running: " in self.log()  # "worker ID running: N job slots, …"

        wait_until(running, timeout_s, "pdfprompt worker running")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30) -> int:
        assert self.proc is not None
        stop_process(self.proc, sig, timeout_s)
        if self._log is not None:
            self._log.close()  # type: ignore[attr-defined]
        return self.proc.returncode


def alive(pid: int) -> bool:
    """Whether the process `pid` runs (a zombie, ended but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def start_server(role: str, env: dict[str, str], log_path: Path) -> Process:
    port = free_port()
    server = Process([role, "--port", str(port)], env, log_path)
    server.base_url = f"http://127.0.0.1:{port}"
    server.start()
    try:
        server.wait_ready()
    except BaseException:
        server.stop(signal.SIGKILL)  # and close its log, whatever made it fail
        raise
    return server


@contextlib.contextmanager
def new_database(request: pytest.FixtureRequest, tmp: Path, database: str) -> Iterator[str]:
    """The URL of a new database of the kind named (`sqlite`: a file in `tmp`;
    `postgresql`: a copy of the test template, dropped at the end), not yet migrated."""
    if database == "sqlite":
        yield f"sqlite:///{tmp / 'pdfprompt.sqlite3'}"
    else:
        with pg_database(request.getfixturevalue("pg_template")) as url:
            yield url


@contextlib.contextmanager
def serving(
    request: pytest.FixtureRequest, tmp: Path, database: str, **extra: str
) -> Iterator[tuple[Process, dict[str, str]]]:
    """`pdfprompt serve` on a new database of the kind named, with `extra` settings."""
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(new_database(request, tmp, database))
        env = service_env(tmp / "data", url, **extra)
        if database == "postgresql":
            upgrade_database(env)
        server = start_server("serve", env, tmp / "serve.log")
        stack.callback(server.stop)
        yield server, env
