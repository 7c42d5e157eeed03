"""The bed's hosts and what runs on each: a PostgreSQL cluster of its own, moto's S3 server,
two API hosts, three worker hosts, the fake LLM, a webhook receiver and a client host the
test drives everything from (its threads enter the client namespace)."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx

from tests.support.databases import S3_TEST_ENV
from tests.support.llm import llm_env
from tests.support.processes import PDFPROMPT, service_env, stop_process
from tests.support.receiver import Receiver
from tests.support.testbed.net import Host, Network, clean_stale_beds, enter_namespace

T = TypeVar("T")

API_PORT = 8000
PG_PORT = 5432
S3_PORT = 9000
LLM_PORT = 8790
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
LAYOUT = {  # host: last octet of its address
    "client": 2,
    "pg": 10,
    "s3": 11,
    "llm": 12,
    "hook": 13,
    "api1": 21,
    "api2": 22,
    "w1": 31,
    "w2": 32,
    "w3": 33,
}
WORKERS = ("w1", "w2", "w3")
APIS = ("api1", "api2")


def fetch(url: str, sql: str, *args: Any, timeout_s: float = 10) -> list[Any]:
    """Rows of one statement on a connection of its own (the calling thread's network)."""

    async def run() -> list[Any]:
        conn = await asyncpg.connect(url, timeout=timeout_s)
        try:
            return list(await conn.fetch(sql, *args, timeout=timeout_s))
        finally:
            await conn.close()

    return asyncio.run(run())


@dataclass
class BedConfig:
    lease_s: float = 3.0
    poll_ms: int = 200
    worker_concurrency: int = 2
    per_user_cap: int = 2
    fsync: bool = (
        False  # off in the tests for speed (a process crash loses nothing); on in the bench
    )
    skewed_worker: str | None = "w3"  # runs with its wall clock hours ahead (libfaketime)
    skew: str = "+5h"
    workers: tuple[str, ...] = WORKERS  # the worker hosts whose worker starts with the bed
    # A host's processes run on these CPUs (`taskset -c`), e.g. {"w1": "1"}; others anywhere.
    cpus: dict[str, str] = field(default_factory=dict)
    render_slots: int | None = 2  # MAX_PDF_CONCURRENCY; None: the default (one per CPU)


def faketime_available() -> bool:
    return os.path.exists(FAKETIME_LIB)


def pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"no PostgreSQL {name} under /usr/lib/postgresql")
    return found[-1]


@dataclass
class Service:
    """One long-running process on a host."""

    host: Host
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    cpus: str | None = None  # the CPUs it runs on (taskset), its children too

    def start(self) -> None:
        argv = self.argv if self.cpus is None else ["taskset", "-c", self.cpus, *self.argv]
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child holds it
        try:
            self.proc = subprocess.Popen(
                self.host.wrap(argv), env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        finally:
            log.close()
        self.starts += 1

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 20) -> None:
        if self.proc is not None:
            stop_process(self.proc, sig, timeout_s)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Postgres:
    """A second cluster, the bed's own, listening on the PG host's address."""

    host: Host
    root: Path
    subnet: str
    fsync: bool
    service: Service | None = None
    cpus: str | None = None

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{self.host.address}:{PG_PORT}/postgres"

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.root, "postgres", "postgres")
        made = subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                pg_bin("initdb"),
                "-D",
                str(self.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if made.returncode != 0:
            raise RuntimeError(f"initdb failed: {made.stderr}")
        with open(self.data / "pg_hba.conf", "a") as hba:
            hba.write(f"host all all {self.subnet} trust\n")

    def start(self) -> None:
        argv = [
            "runuser",
            "-u",
            "postgres",
            "--",
            pg_bin("postgres"),
            "-D",
            str(self.data),
            "-c",
            f"listen_addresses={self.host.address}",
            "-c",
            f"port={PG_PORT}",
            "-c",
            f"unix_socket_directories={self.root}",
            "-c",
            "max_connections=300",
            "-c",
            f"fsync={'on' if self.fsync else 'off'}",
            # Always on: off, an immediate shutdown loses the last commits that were
            # already answered, and the checker (rightly) finds accepted jobs gone.
            "-c",
            "synchronous_commit=on",
        ]
        if self.service is None:
            self.service = Service(
                self.host, argv, dict(os.environ), self.root / "pg.log", cpus=self.cpus
            )
        self.service.start()

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self, sig: int = signal.SIGINT) -> None:
        """SIGINT: a fast shutdown; SIGQUIT: an immediate one, as after a crash (no
        checkpoint: the next start recovers from the WAL)."""
        pid = self.postmaster_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        assert self.service is not None
        self.service.stop(signal.SIGINT, timeout_s=30)
        deadline = time.monotonic() + 30
        while self.host_pids() and time.monotonic() < deadline:
            time.sleep(0.05)

    def host_pids(self) -> list[int]:
        from tests.support.testbed.net import namespace_pids

        return namespace_pids(self.host.ns)

    def restart(self, crash: bool = False) -> None:
        self.stop(signal.SIGQUIT if crash else signal.SIGINT)
        self.start()


@dataclass
class Bed:
    """Everything of one test bed; `Bed.up()` makes it, `down()` undoes all of it."""

    config: BedConfig = field(default_factory=BedConfig)
    net: Network = field(default_factory=Network)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="pdfprompt-bed-")))
    services: dict[str, Service] = field(default_factory=dict)
    pg: Postgres | None = None
    receiver: Receiver | None = None
    bucket: str = field(default_factory=lambda: f"bed-{uuid.uuid4().hex[:10]}")
    client_pool: ThreadPoolExecutor | None = None

    # --- where things are
    def host(self, name: str) -> Host:
        return self.net.hosts[name]

    def api_url(self, name: str) -> str:
        return f"http://{self.host(name).address}:{API_PORT}"

    storage_prefix = "pdfs/"

    @property
    def s3_url(self) -> str:
        return f"http://{self.host('s3').address}:{S3_PORT}"

    @property
    def llm_url(self) -> str:
        return f"http://{self.host('llm').address}:{LLM_PORT}"

    @property
    def database_url(self) -> str:
        assert self.pg is not None
        return self.pg.url

    def on_client(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on the client host (a thread inside its namespace)."""
        assert self.client_pool is not None
        return self.client_pool.submit(fn, *args).result()

    # --- making it
    def up(self) -> Bed:
        clean_stale_beds()
        try:
            self._up()
        except BaseException:
            self.down()
            raise
        return self

    def _up(self) -> None:
        self.root.chmod(0o755)  # the postgres user reaches its directory through it
        self.net.create_switch()
        for name, octet in LAYOUT.items():
            self.net.add_host(name, octet)
        self.client_pool = ThreadPoolExecutor(
            max_workers=48, initializer=enter_namespace, initargs=(self.host("client").ns,)
        )
        self.pg = Postgres(
            self.host("pg"),
            self.root / "pg",
            self.net.subnet,
            self.config.fsync,
            cpus=self.config.cpus.get("pg"),
        )
        self.pg.init()
        self.pg.start()
        s3 = self.add_service(
            "s3",
            [
                str(Path(sys.executable).with_name("moto_server")),
                "-H",
                self.host("s3").address,
                "-p",
                str(S3_PORT),
            ],
            dict(os.environ),
        )
        s3.start()
        llm = self.add_service(
            "llm",
            [
                PDFPROMPT,
                "dev",
                "fake-llm",
                "--host",
                self.host("llm").address,
                "--port",
                str(LLM_PORT),
                "--stream",
            ],
            dict(os.environ),
        )
        llm.start()
        self.receiver = self.on_hook_host(lambda: Receiver(host=self.host("hook").address))
        self.receiver.__enter__()
        self.wait(lambda: self._answers(self.s3_url), "the S3 server")
        self.wait(lambda: self._answers(f"{self.llm_url}/_calls"), "the fake LLM")
        self.wait(self._pg_ready, "PostgreSQL")
        self.on_client(self._make_bucket)
        self.cli("db", "upgrade")
        for name in APIS:
            self.add_service(
                name,
                [PDFPROMPT, "api", "--host", self.host(name).address, "--port", str(API_PORT)],
                self.env_for(name),
            ).start()
        for name in self.config.workers:
            self.start_worker(name)
        for name in APIS:
            self.wait(lambda n=name: self._answers(f"{self.api_url(n)}/readyz"), name, 90)

    def on_hook_host(self, fn: Callable[[], T]) -> T:
        with ThreadPoolExecutor(
            1, initializer=enter_namespace, initargs=(self.host("hook").ns,)
        ) as p:
            return p.submit(fn).result()

    def add_service(self, name: str, argv: list[str], env: dict[str, str]) -> Service:
        log = self.root / f"{name}.log"
        service = Service(self.host(name), argv, env, log, cpus=self.config.cpus.get(name))
        self.services[name] = service
        return service

    def start_worker(self, name: str) -> Service:
        """`pdfprompt worker` on worker host `name`, started (again, after `stop`, with a
        log that goes on)."""
        service = self.services.get(name) or self.add_service(
            name, [PDFPROMPT, "worker"], self.env_for(name)
        )
        service.start()
        return service

    def env_for(self, name: str) -> dict[str, str]:
        c = self.config
        data = self.root / name
        (data / "tmp").mkdir(parents=True, exist_ok=True)
        env = service_env(
            data,
            self.database_url,
            TMPDIR=str(data / "tmp"),
            PDFPROMPT_POLL_MS=str(c.poll_ms),
            PDFPROMPT_LEASE_S=str(c.lease_s),
            PDFPROMPT_WORKER_CONCURRENCY=str(c.worker_concurrency),
            PDFPROMPT_BATCH_SIZE=str(c.worker_concurrency),
            PDFPROMPT_MAX_CONCURRENT_JOBS=str(c.per_user_cap),
            PDFPROMPT_MAX_ATTEMPTS="25",
            PDFPROMPT_RETRY_BASE_S="0.2",
            PDFPROMPT_RETRY_CAP_S="2",
            PDFPROMPT_SHUTDOWN_GRACE_S="2",
            BROWSER_POOL_SIZE="1",
            PDFPROMPT_STORAGE_URL=f"s3://{self.bucket}/{self.storage_prefix.rstrip('/')}",
            PDFPROMPT_S3_ENDPOINT_URL=self.s3_url,
            PDFPROMPT_WEBHOOK_ALLOW_PRIVATE="true",
            PDFPROMPT_WEBHOOK_RETRY_BASE_S="0.2",
            PDFPROMPT_WEBHOOK_RETRY_CAP_S="2",
            PDFPROMPT_WEBHOOK_POLL_MS="200",
            PDFPROMPT_WEBHOOK_DISABLE_AFTER="100000",
            **S3_TEST_ENV,
            **llm_env(self.llm_url),
        )
        if c.render_slots is not None:
            env["MAX_PDF_CONCURRENCY"] = str(c.render_slots)
        if name == c.skewed_worker and faketime_available():
            env.update(
                LD_PRELOAD=FAKETIME_LIB,
                FAKETIME=c.skew,
                FAKETIME_DONT_FAKE_MONOTONIC="1",
            )
        return env

    def cli(self, *args: str) -> str:
        """`pdfprompt ARGS` on the client host; its output."""
        env = service_env(self.root / "client", self.database_url, **S3_TEST_ENV)
        result = subprocess.run(
            self.host("client").wrap([PDFPROMPT, *args]),
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        if result.returncode != 0:
            raise RuntimeError(f"pdfprompt {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout

    def _make_bucket(self) -> None:
        import boto3

        boto3.client(
            "s3",
            endpoint_url=self.s3_url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        ).create_bucket(Bucket=self.bucket)

    def _answers(self, url: str) -> bool:
        def probe() -> bool:
            try:
                return httpx.get(url, timeout=2).status_code < 500
            except httpx.TransportError:
                return False

        return self.on_client(probe)

    def _pg_ready(self) -> bool:
        return self.on_client(self._pg_probe)

    def _pg_probe(self) -> bool:
        try:
            fetch(self.database_url, "select 1", timeout_s=2)
            return True
        except (TimeoutError, OSError, asyncpg.PostgresError):
            return False

    def query(self, sql: str, *args: Any) -> list[Any]:
        """Rows of `sql` in the bed's database, asked from the client host."""
        return self.on_client(lambda: fetch(self.database_url, sql, *args))

    def wait(self, ready: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while not ready():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} not ready after {timeout_s}s; logs in {self.root}")
            time.sleep(0.1)

    def wait_pg(self, timeout_s: float = 60) -> None:
        self.wait(self._pg_ready, "PostgreSQL", timeout_s)

    def down(self) -> None:
        for name, service in reversed(list(self.services.items())):
            with contextlib.suppress(Exception):
                service.stop(signal.SIGKILL if name in WORKERS else signal.SIGTERM, 10)
        if self.pg is not None and self.pg.service is not None:
            with contextlib.suppress(Exception):
                self.pg.stop(signal.SIGINT)
        if self.receiver is not None:
            self.receiver.__exit__(None, None, None)
            self.receiver = None
        if self.client_pool is not None:
            self.client_pool.shutdown(wait=False, cancel_futures=True)
            self.client_pool = None
        self.net.destroy()
        if not os.environ.get("PDFPROMPT_TEST_BED_KEEP"):  # keep the logs for a look, if asked
            shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def bed(config: BedConfig | None = None) -> Iterator[Bed]:
    made = Bed(config or BedConfig()).up()
    try:
        yield made
    finally:
        made.down()
